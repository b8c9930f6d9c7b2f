"""Tables. Every change goes through an Alembic migration (``migrations/``).

Times are aware UTC datetimes; SQLModel's UTCDateTime stores them on SQLite (which keeps no zone)
and PostgreSQL alike and returns them aware.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Candidate(SQLModel, table=True):
    """A person taking interviews. Holds no name or contact data."""

    id: int | None = Field(default=None, primary_key=True)
    language: str = "en"
    read_aloud: bool | None = None
    """The candidate's ``/voice on|off``: questions read aloud or not; None follows the flow."""
    created_at: datetime = Field(default_factory=utcnow)


class ChannelIdentity(SQLModel, table=True):
    """A candidate's address on one channel, and the state of that conversation.

    This row is the conversation's lock: one message at a time is processed per identity
    (``SELECT ... FOR UPDATE`` on PostgreSQL). ``external_id`` stays readable because the bot
    must be able to write back; it is erased with the candidate.
    """

    __tablename__ = "channel_identity"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=255)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    active_interview_id: int | None = Field(default=None, foreign_key="interview.id")
    pending: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """A question the bot asked and awaits a yes/no for, e.g. ``{"confirm": "answer", "message_id": 7}``."""
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)


class FlowVersion(SQLModel, table=True):
    """An exact copy of a flow file as it was published; interviews point at one version."""

    __tablename__ = "flow_version"
    __table_args__ = (UniqueConstraint("role", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(max_length=64, index=True)
    version: int
    digest: str = Field(max_length=64)
    source: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Invitation(SQLModel, table=True):
    """A link HR send to a candidate; only the token's hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=64)
    mode: str = Field(default="interview", max_length=16)
    candidate_id: int | None = Field(default=None, foreign_key="candidate.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    used_at: datetime | None = None


class Interview(SQLModel, table=True):
    """One run of a flow for one candidate: a real interview or a practice session."""

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    flow_version_id: int = Field(foreign_key="flow_version.id")
    role: str = Field(max_length=64, index=True)
    mode: str = Field(default="interview", max_length=16)
    """``interview`` or ``practice``; practice never reaches HR's views of real applications."""
    state: str = Field(default="consent", max_length=16, index=True)
    language: str = Field(default="en", max_length=8)
    question_index: int = 0
    follow_up_index: int | None = None
    """Which follow-up probe of the current question is pending; None means the question itself."""
    question_asked_at: datetime | None = None
    paused_from: str | None = Field(default=None, max_length=16)
    attempt: int = 1
    """Which attempt at the current question is under way: 1, then one more for each practice retry."""
    invitation_id: int | None = Field(default=None, foreign_key="invitation.id")
    results: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """Competency scores and the overall weighted match, once scored."""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None


class Message(SQLModel, table=True):
    """Every message in and out. An inbound message is committed before its reply is produced.

    An inbound message is known by its channel, its sender and the platform's id for it: a message
    id is only unique within its sender's conversation (two WeChat users may send the same MsgId, and
    REST and web clients pick their own ids), so a redelivery is recognised without ever answering
    one sender from another's message.
    """

    __table_args__ = (
        UniqueConstraint("channel", "sender_key", "platform_message_id", name="uq_message_sender_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    identity_id: int | None = Field(default=None, foreign_key="channel_identity.id", index=True)
    interview_id: int | None = Field(default=None, foreign_key="interview.id", index=True)
    channel: str = Field(max_length=32)
    direction: str = Field(max_length=3)
    """``in`` (from the candidate) or ``out`` (from the bot)."""
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    platform_message_id: str | None = Field(default=None, max_length=128)
    sender_key: str | None = Field(default=None, max_length=64)
    """The sender of an inbound message as a keyed hash of their platform id (`repo.sender_key`),
    never the id itself: it survives the sender's erasure on the row kept to recognise a redelivery."""
    reply_to_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    buttons: list[dict[str, str]] | None = Field(default=None, sa_column=Column(JSON))
    processed: bool = Field(default=False, index=True)
    truncated: bool = False
    delivered: bool = True
    """False for a message the bot sends unprompted (HR's answer to a handed-off question) or could
    not send at once, until its channel has delivered it: by the outbox on channels that push
    (Telegram, WeChat; an `OutboxRow` points at the message), with the next reply on the others."""
    read_aloud_version: int | None = None
    """An outbound question to be read aloud: the flow version whose text it is (the audio cache's key)."""
    attempts: int = 0
    """Times processing this inbound message was started (counted before each try, so a process that
    dies on it counts too); after `bot.conversations.MAX_ATTEMPTS` it is set aside."""
    error: str | None = Field(default=None, max_length=300, index=True)
    """The last failure processing it: the error's class and a short reason, never the text. Set on
    a processed message, it was set aside (the candidate got an apology)."""
    created_at: datetime = Field(default_factory=utcnow)


class VoiceClip(SQLModel, table=True):
    """A voice message: the recording (stored before it is transcribed, deleted as configured by
    ``voice.keep_audio_days``) and what the recogniser made of it. The transcript itself is the
    message's text (and the answer's); this row keeps how sure the recogniser was."""

    __tablename__ = "voice_clip"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", unique=True)
    identity_id: int | None = Field(default=None, foreign_key="channel_identity.id", index=True)
    source: str = Field(max_length=32)
    """What the channel received: ``telegram_voice``, ``telegram_audio``, ``wechat_voice``, ``web`` ..."""
    audio: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    audio_bytes: int = 0
    status: str = Field(default="received", max_length=16, index=True)
    """``received`` (not transcribed yet), ``transcribed``, ``merged`` (into the voice message
    before it: one answer) or ``refused`` (``problem`` says why)."""
    problem: str | None = Field(default=None, max_length=16)
    language: str | None = Field(default=None, max_length=8)
    duration: float | None = None
    model: str | None = Field(default=None, max_length=128)
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    uncertain: bool = False
    facts: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """Per-segment times and confidence, language probability, speech span and long pauses."""
    second_opinion: str | None = Field(default=None, sa_column=Column(Text))
    """The platform's own transcript (WeChat's Recognition), kept for comparison, never used."""
    merged_into_id: int | None = Field(default=None, foreign_key="message.id")
    created_at: datetime = Field(default_factory=utcnow)
    transcribed_at: datetime | None = None
    audio_deleted_at: datetime | None = None


class Answer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id", index=True)
    question_id: str = Field(max_length=64)
    follow_up_id: str | None = Field(default=None, max_length=64)
    competency: str = Field(max_length=64)
    attempt: int = 1
    """1 for the first answer to a question; a practice retry answers it again as attempt 2, 3 ...
    Scores and results use each question's latest attempt."""
    message_id: int | None = Field(default=None, foreign_key="message.id")
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default="answered", max_length=16)
    """``answered`` or ``skipped``."""
    late: bool = False
    elapsed_seconds: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Score(SQLModel, table=True):
    """A score with the evidence to explain and recompute it."""

    id: int | None = Field(default=None, primary_key=True)
    answer_id: int = Field(foreign_key="answer.id", index=True)
    level: float | None = None
    confidence: float | None = None
    insufficient: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """What the scorer used; a practice answer's also holds ``feedback``, the feedback shown to the
    candidate (`scoring.feedback.AnswerFeedback.to_dict`), which a retry is compared with."""
    model_id: str = Field(max_length=128)
    flow_version_id: int = Field(foreign_key="flow_version.id")
    created_at: datetime = Field(default_factory=utcnow)


class Handoff(SQLModel, table=True):
    """Something for a person at HR: a candidate asking for a human, or a question the bot can't answer."""

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int | None = Field(default=None, foreign_key="candidate.id", index=True)
    interview_id: int | None = Field(default=None, foreign_key="interview.id")
    kind: str = Field(max_length=16)
    """``human`` or ``question``."""
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default="open", max_length=16)
    """``open`` until HR answer it (``answered``)."""
    language: str = Field(default="en", max_length=8)
    answer: str | None = Field(default=None, sa_column=Column(Text))
    answered_at: datetime | None = None
    faq_entry_id: str | None = Field(default=None, max_length=64)
    """The FAQ entry HR's answer became, when HR approved adding it to the FAQ."""
    created_at: datetime = Field(default_factory=utcnow)


class FaqAddition(SQLModel, table=True):
    """A question a candidate asked and HR answered, added to the FAQ on HR's approval."""

    __tablename__ = "faq_addition"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: str = Field(max_length=64, unique=True)
    scope: str = Field(max_length=64)
    language: str = Field(max_length=8)
    question: str = Field(sa_column=Column(Text, nullable=False))
    answer: str = Field(sa_column=Column(Text, nullable=False))
    handoff_id: int | None = Field(default=None, foreign_key="handoff.id")
    created_at: datetime = Field(default_factory=utcnow)


class Application(SQLModel, table=True):
    """A candidate applying for a role the bot recommended; HR see it beside the interviews."""

    __table_args__ = (UniqueConstraint("candidate_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    role: str = Field(max_length=64)
    source_interview_id: int | None = Field(default=None, foreign_key="interview.id")
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """What happened, without personal data; survives a candidate's erasure."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64, index=True)
    candidate_id: int | None = None
    interview_id: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Exemplar(SQLModel, table=True):
    """A past answer with a human rating, from an EHR export; the scorer's scored examples.

    ``key`` is the export's record id, pseudonymised, or a digest of the content: importing the
    same file again adds nothing.
    """

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=64, index=True)
    question_id: str | None = Field(default=None, max_length=64)
    competency: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    rating: float
    """On the rubric's 1..5 scale."""
    source: str = Field(max_length=32)
    performance: float | None = None
    language: str = Field(default="en", max_length=8)
    rated_at: date | None = None
    import_id: int | None = Field(default=None, foreign_key="ehr_import.id")
    answer_id: int | None = Field(default=None, foreign_key="answer.id", index=True)
    """For an exemplar HR made from a candidate's answer (source ``hr_rating``): that answer, so
    that erasing the candidate erases the exemplar too. None for EHR imports."""
    created_at: datetime = Field(default_factory=utcnow)


class AnswerRating(SQLModel, table=True):
    """HR's level (1..5) for one candidate's answer to a question, the seed of the question's
    exemplars (`bot.hr.seeding`). The newest row per answer is its rating, earlier rows are its
    history. ``answer_id`` is the answer's last part (the row its score belongs to). Erased with the
    candidate."""

    __tablename__ = "answer_rating"

    id: int | None = Field(default=None, primary_key=True)
    answer_id: int = Field(foreign_key="answer.id", index=True)
    interview_id: int = Field(foreign_key="interview.id", index=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    role: str = Field(max_length=64)
    question_id: str = Field(max_length=64)
    level: int
    user_id: int | None = Field(default=None, foreign_key="hr_user.id")
    created_at: datetime = Field(default_factory=utcnow)


class EmployeeRecord(SQLModel, table=True):
    """An employee's competency ratings and performance, pseudonymised; feeds the competency model."""

    __tablename__ = "employee_record"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=64, index=True)
    ratings: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    performance: float
    promoted: bool | None = None
    import_id: int | None = Field(default=None, foreign_key="ehr_import.id")
    created_at: datetime = Field(default_factory=utcnow)


class EhrImport(SQLModel, table=True):
    """One import of an EHR export: what was read, added, already known and rejected."""

    __tablename__ = "ehr_import"

    id: int | None = Field(default=None, primary_key=True)
    file_name: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    rows_read: int
    added: int
    known: int
    problems: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class OutboxRow(SQLModel, table=True):
    """One outbound message that is not a direct reply, until it is sent or given up (`bot.outbox`).

    Holds the text it carries (``payload``) and the platform address (``recipient``): both are
    personal data, erased with the candidate and deleted ``outbox.keep_days`` after the row ends.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_not_before", "state", "not_before"),
        Index("ix_outbox_ordering_key_id", "ordering_key", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    recipient: str = Field(max_length=255)
    """The platform address: a chat id or openid, or a reference its sender resolves (``contact:7``)."""
    identity_id: int | None = Field(default=None, foreign_key="channel_identity.id", index=True)
    candidate_id: int | None = Field(default=None, foreign_key="candidate.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    """The transcript row this row delivers (conversation messages); marked delivered when sent."""
    kind: str = Field(max_length=32)
    """``reply``, ``handoff_answer``, ``invitation``, ``reminder``, ``confirmation`` ..."""
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """``text`` and ``buttons`` (``[{title, payload}]``), and whatever the kind's sender needs."""
    idempotency_key: str = Field(max_length=200, unique=True)
    ordering_key: str | None = Field(default=None, max_length=200)
    """Rows with the same key are sent strictly in id order (``conversation:<identity id>``)."""
    state: str = Field(default="scheduled", max_length=16)
    """``scheduled``, ``sending`` (claimed), ``sent``, ``failed`` (given up) or ``cancelled``."""
    attempts: int = 0
    not_before: datetime = Field(default_factory=utcnow)
    """When the next attempt may start."""
    expires_at: datetime | None = None
    """Given up (``failed``) once past; None means ``created_at`` + ``outbox.expire_after_hours``."""
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = None
    """The claim's lease: past it, the claiming process is presumed dead and the row is claimed again."""
    last_error: str | None = Field(default=None, max_length=500)
    """Why the last attempt failed: the exception's class and its text with secrets and the
    recipient removed."""
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


# --- HR's workspace: accounts, sessions, tokens, the audit log and decisions ----------------------------


class HrUser(SQLModel, table=True):
    """A person at HR who signs in to the workspace (`bot.hr.accounts`). Never deleted: a user who
    leaves is deactivated, so the audit log keeps saying who did what."""

    __tablename__ = "hr_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    """Lower-cased."""
    role: str = Field(max_length=16)
    """``admin``, ``recruiter``, ``scheduler`` or ``viewer`` (`bot.hr.accounts.ROLES`)."""
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    """Argon2id (argon2-cffi's encoded form, with its parameters and salt)."""
    must_change_password: bool = True
    """Set for a one-time password: the user can do nothing but change it."""
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    password_changed_at: datetime | None = None
    language: str | None = Field(default=None, max_length=8)
    """The workspace's language for this user (``en``, ``zh``); None follows the browser."""
    time_zone: str | None = Field(default=None, max_length=64)
    """An IANA zone (``Asia/Shanghai``) for the dates this user reads; None is UTC."""


class HrSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random token, this row only its SHA-256."""

    __tablename__ = "hr_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="hr_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class HrApiToken(SQLModel, table=True):
    """A user's token for integrations (``Authorization: Bearer``); stored as its SHA-256."""

    __tablename__ = "hr_api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="hr_user.id", index=True)
    name: str = Field(max_length=64)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    """The token's first characters, to tell tokens apart in a list."""
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class HrLoginAttempt(SQLModel, table=True):
    """One sign-in attempt, counted by the rate limit (in the database, so it holds across
    processes). The address and the e-mail are kept as keyed hashes only."""

    __tablename__ = "hr_login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    email_key: str = Field(max_length=64, index=True)
    address_key: str = Field(max_length=64, index=True)
    succeeded: bool = False
    created_at: datetime = Field(default_factory=utcnow, index=True)


class HrLoginCounter(SQLModel, table=True):
    """Failed sign-ins of one e-mail or one address in the current window: the rate limit's count.

    One row per key, changed only by one atomic ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``
    (`bot.hr.accounts.count_attempt`), so two attempts at once, in one process or two, each get
    their own number and never both slip under the limit."""

    __tablename__ = "hr_login_counter"

    key: str = Field(primary_key=True, max_length=80)
    """``email:<keyed hash>`` or ``address:<keyed hash>``."""
    failures: int = 0
    """Attempts in the window not (yet) known to have succeeded."""
    window_start: datetime = Field(default_factory=utcnow)


class HrAudit(SQLModel, table=True):
    """HR's audit log, append-only: who did what, when, and what changed.

    A candidate is named by their pseudonymous reference (``candidate_ref``, a keyed hash);
    ``candidate_id`` links the entry only so that erasure can find it: erasure clears it and
    redacts the candidate content in ``changes`` (a decision's note), keeping the rest.
    """

    __tablename__ = "hr_audit"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, index=True)
    """The `HrUser` (no foreign key: the log outlives everything it names); None for the
    deprecated shared token or a command-line action."""
    actor: str = Field(max_length=254)
    action: str = Field(max_length=64, index=True)
    target: str | None = Field(default=None, max_length=128)
    """What was acted on: ``interview:12``, ``user:3``, ``token:5`` ..."""
    candidate_ref: str | None = Field(default=None, max_length=32, index=True)
    candidate_id: int | None = Field(default=None, index=True)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """``{field: {"from": old, "to": new}}`` for a change, or the facts of an event."""
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Decision(SQLModel, table=True):
    """HR's decision on a real interview: advance, hold or reject, with a note. The newest row is
    the interview's current decision; earlier ones stay as its history."""

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id", index=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    role: str = Field(max_length=64, index=True)
    outcome: str = Field(max_length=16)
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
    user_id: int | None = Field(default=None, foreign_key="hr_user.id")
    created_at: datetime = Field(default_factory=utcnow)


class Campaign(SQLModel, table=True):
    """A scheduler's campaign: invitations to one role's interview, sent on each candidate's
    channel inside a send window of their local time, with reminders (`bot.campaigns`)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    role: str = Field(max_length=64, index=True)
    mode: str = Field(default="interview", max_length=16)
    state: str = Field(default="active", max_length=16, index=True)
    """``active`` (the scheduler sends), ``paused`` (nothing goes out) or ``ended``."""
    window_start: int = 9 * 60
    window_end: int = 20 * 60
    """The send window, minutes after local midnight in each candidate's time zone."""
    expires_hours: int = 14 * 24
    """An invitation expires this long after it is sent."""
    reminders: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """The reminder plan: ``[{"kind": "not_started"|"before_expiry"|"paused", "hours": 24}]``."""
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Channels in order of preference (telegram, wechat, email, sms)."""
    templates: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """The scheduler's edited templates: ``{kind: {language: {subject, text, html}}}``."""
    next_campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    """When HR advance a candidate of this campaign, they are invited to this one."""
    auto_next_round: bool = False
    keep_contacts_days: int = 30
    """Contact data is purged this many days after the campaign ends."""
    ends_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class CampaignCandidate(SQLModel, table=True):
    """A candidate in a campaign. The external id is stored only as a keyed hash; the contact
    data (email, phone, WeChat openid) and the invitation token are one Fernet token (``contact``),
    erased with the candidate and purged after the campaign ends."""

    __tablename__ = "campaign_candidate"
    __table_args__ = (UniqueConstraint("campaign_id", "external_key"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    external_key: str = Field(max_length=64)
    contact: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    reachable: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Which contact kinds the sealed data holds (``email``, ``sms``, ``wechat``), not the values."""
    language: str = Field(default="en", max_length=8)
    time_zone: str = Field(default="UTC", max_length=64)
    invitation_id: int | None = Field(default=None, foreign_key="invitation.id", index=True)
    candidate_id: int | None = Field(default=None, foreign_key="candidate.id", index=True)
    """The candidate once they opened the invitation (their conversation)."""
    source_interview_id: int | None = Field(default=None, foreign_key="interview.id")
    """For a next-round invitation: the interview HR advanced from."""
    invited_at: datetime | None = None
    expires_at: datetime | None = None
    reminded: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Reminders queued so far (their kinds), and ``confirmation``."""
    opted_out_at: datetime | None = None
    contact_purged_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class OptOut(SQLModel, table=True):
    """An address that asked for no more messages, as a keyed hash only (`bot.campaigns.optout`)."""

    __tablename__ = "opt_out"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    source: str = Field(max_length=16)
    """``reply`` (STOP / 退订), ``link`` (the unsubscribe page) or ``hr``."""
    created_at: datetime = Field(default_factory=utcnow)


# --- HR's workspace: score overrides, notes and the webhook delivery log (`bot.hr.overrides`) ---------


class ScoreOverride(SQLModel, table=True):
    """HR's level for a competency (or ``overall``) of a real interview, with the reason. Kept
    beside the machine's score, which stays unchanged in the results; the newest row per
    (interview, competency) is the current override, earlier rows its history. Erased with the
    candidate."""

    __tablename__ = "score_override"

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id", index=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    competency: str = Field(max_length=64)
    """A competency id of the interview's flow, or ``overall``."""
    machine_level: float | None = None
    """The machine's level when HR overrode it (1..5)."""
    level: float | None = None
    """HR's level (1..5); None withdraws the override (the machine's level counts again)."""
    reason: str = Field(sa_column=Column(Text, nullable=False))
    user_id: int | None = Field(default=None, foreign_key="hr_user.id")
    created_at: datetime = Field(default_factory=utcnow)


class CandidateNote(SQLModel, table=True):
    """A note HR keep on a candidate's interview. Erased with the candidate."""

    __tablename__ = "candidate_note"

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id", index=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    user_id: int | None = Field(default=None, foreign_key="hr_user.id")
    created_at: datetime = Field(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    """One attempt to deliver an event to the HR system (`bot.hr.webhooks`): no payload, no
    candidate data; the event's outbox row holds the body until it is purged."""

    __tablename__ = "webhook_delivery"

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int | None = Field(default=None, index=True)
    """The outbox row (no foreign key: the log outlives the purged row)."""
    event: str = Field(max_length=64, index=True)
    delivery: str = Field(max_length=200)
    """The ``X-Interviewer-Delivery`` id the receiver deduplicates by."""
    url: str = Field(max_length=500)
    """Where it went, without any query string or credentials."""
    attempt: int
    status_code: int | None = None
    outcome: str = Field(max_length=16)
    """``delivered``, ``retry`` (tried again later) or ``refused`` (given up)."""
    error: str | None = Field(default=None, max_length=300)
    duration_ms: float | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)


class InterviewSlot(SQLModel, table=True):
    """A time a next-round interview can take place, for one role, with room for ``capacity``
    candidates (`bot.campaigns.slots`). ``booked`` changes only by a conditional update
    (``booked < capacity``), so concurrent picks never overbook."""

    __tablename__ = "interview_slot"

    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(max_length=64, index=True)
    starts_at: datetime = Field(index=True)
    minutes: int = 60
    capacity: int = 1
    booked: int = 0
    location: str = Field(default="", max_length=500)
    """Where: an address, or a video call's link (shown to the candidate and in the calendar)."""
    time_zone: str = Field(default="UTC", max_length=64)
    """The scheduler's time zone, for showing the slot on HR's pages."""
    created_at: datetime = Field(default_factory=utcnow)


class SlotInvitation(SQLModel, table=True):
    """An invitation to pick a next-round slot, made when HR advance a candidate's interview."""

    __tablename__ = "slot_invitation"

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id", unique=True)
    """The interview HR advanced (one invitation each, however often the event comes)."""
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    role: str = Field(max_length=64, index=True)
    member_id: int | None = Field(default=None, foreign_key="campaign_candidate.id")
    """The campaign candidate whose sealed contact data reaches them (email for the calendar)."""
    language: str = Field(default="en", max_length=8)
    time_zone: str = Field(default="UTC", max_length=64)
    state: str = Field(default="invited", max_length=16, index=True)
    """``invited`` (no slot yet), ``booked`` or ``cancelled`` (by the candidate)."""
    slot_id: int | None = Field(default=None, foreign_key="interview_slot.id", index=True)
    changes: int = 0
    """How often the booking changed (book, reschedule, cancel): names each confirmation and reminder."""
    booked_at: datetime | None = None
    invited_at: datetime | None = None
    reminded: int | None = None
    """The booking (``changes``) whose reminder was queued."""
    created_at: datetime = Field(default_factory=utcnow)


class Hire(SQLModel, table=True):
    """HR hired the candidate of a real interview: the employee id they got in the HR system, kept
    only as the keyed hash EHR imports use (`knowledge.ehr.pseudonymise`), so that the performance
    ratings imported later (`EmployeeRecord.key`) join the interview (`bot.hr.validity`). Erased
    with the candidate."""

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id", unique=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    role: str = Field(max_length=64, index=True)
    employee_key: str = Field(max_length=64, index=True)
    user_id: int | None = Field(default=None, foreign_key="hr_user.id")
    created_at: datetime = Field(default_factory=utcnow)
