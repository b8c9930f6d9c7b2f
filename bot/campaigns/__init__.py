"""Invitation campaigns: candidates invited on their own channel, reminded politely, never twice.

- `contacts`: contact data sealed with Fernet, keyed hashes of ids and opt-out addresses.
- `schedule`: what is due when (plain functions of the time).
- `templates`: the messages (Jinja2, en and zh, editable per campaign).
- `delivery`: the outbox's senders for email (SMTP), SMS (a gateway) and WeChat by openid.
- `service`: campaigns, candidates, the scheduler's round, opt-out, erasure, purge, next round.
- `api`: ``/hr/api/campaigns`` and the public unsubscribe page.
"""
