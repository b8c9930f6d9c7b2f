"""Invitation campaigns: candidates invited on their own channel, reminded politely, never twice.

- `contacts`: contact data sealed with Fernet, keyed hashes of ids and opt-out addresses.
- `schedule`: what is due when (plain functions of the time).
- `templates`: the messages (Jinja2, en and zh, editable per campaign).
- `delivery`: the outbox's senders for email (SMTP), SMS (a gateway) and WeChat by openid.
- `service`: campaigns, candidates, the scheduler's round, opt-out, erasure, purge, next round.
- `slots`: the next round: interview slots per role, slot invitations, bookings, ``.ics`` files.
- `overview`: a campaign's funnel, failures and unreachable candidates, as schedulers see them.
- `api`: ``/hr/api/campaigns``, ``/hr/api/slots`` and the public unsubscribe page.
- `pages`: the scheduler's pages in HR's workspace (``/hr/campaigns``, ``/hr/slots``; templates in
  ``html/``) and the candidate's page to pick a slot (``/slots/<token>``).
"""
