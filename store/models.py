"""Database models.

Nothing here may hold a child's identifying details: free text reaches these
tables only after the no-names guard has passed it (DESIGN.md principle 1).
Cards carry a reference (``FD-2026-000123``) that staff match to their case
system. Times are aware UTC (``UTCDateTime``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from store.types import DEFAULT_PLATFORM, UTCDateTime, utcnow

# Ids of people, conversations and messages are the chat platform's own, qualified by
# ``platform`` ("slack", "teams"): an Entra object id is 36 characters and a Teams
# conversation id often over 100, so they are stored wide.
ID = 255


def _platform() -> Any:
    return Field(default=DEFAULT_PLATFORM, max_length=16,
                 sa_column_kwargs={"server_default": DEFAULT_PLATFORM})


def _dt(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime(), nullable=nullable, index=index)


def _now() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)


def _json(default: Any = dict) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class Professional(SQLModel, table=True):
    """A professional who uses the bot: their own details are recorded for the log."""

    __table_args__ = (UniqueConstraint("platform", "user_id", name="uq_professional_user"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = _platform()
    user_id: str = Field(max_length=ID)
    name: str = Field(default="", max_length=200)
    role: str = Field(default="", max_length=200)
    agency: str = Field(default="", max_length=200)
    contact: str = Field(default="", max_length=200)
    created_at: datetime = _now()
    updated_at: datetime = _now()


class ReferenceCounter(SQLModel, table=True):
    """The last reference number issued in a year (``FD-2026-000123``)."""

    __tablename__ = "reference_counter"
    year: int = Field(primary_key=True)
    last: int = 0


class FlowSession(SQLModel, table=True):
    """A guided conversation's saved state: resumes exactly after a restart."""

    __tablename__ = "flow_session"
    __table_args__ = (
        # One active flow per professional, enforced by the database itself.
        Index(
            "uq_flow_active_user",
            "platform",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_flow_status_expires", "status", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = _platform()
    user_id: str = Field(max_length=ID, index=True)
    kind: str = Field(max_length=32)  # consult | refer
    state: str = Field(max_length=64)
    status: str = Field(default="active", max_length=16)  # active|completed|cancelled|expired
    answers: dict[str, Any] = _json()
    history: list[str] = _json(list)
    version: int = 0
    reference: str | None = Field(default=None, max_length=32)
    started_at: datetime = _now()
    updated_at: datetime = _now()
    expires_at: datetime | None = _dt()
    ended_at: datetime | None = _dt()


class Consultation(SQLModel, table=True):
    """A no-names consultation: one row of the CAF consultation log."""

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True, max_length=32)
    professional_id: int = Field(foreign_key="professional.id", index=True)
    flow_id: int | None = Field(default=None, foreign_key="flow_session.id")
    age_band: str = Field(default="", max_length=32)
    categories: list[str] = _json(list)
    summary: dict[str, Any] = _json()
    suggested_outcome: str = Field(max_length=32)
    suggested_reasons: list[dict[str, str]] = _json(list)
    linked_reference: str | None = Field(default=None, max_length=32, index=True)
    repeat_count: int = 1
    status: str = Field(default="open", max_length=16, index=True)  # open|advised|closed
    advisor_user_id: str | None = Field(default=None, max_length=ID)
    advice_outcome: str | None = Field(default=None, max_length=32)
    advice_text: str | None = Field(default=None, sa_type=Text)
    advised_at: datetime | None = _dt()
    followed_advice: bool | None = None
    not_followed_reason: str | None = Field(default=None, sa_type=Text)
    platform: str = _platform()
    created_at: datetime = _now()
    last_contact_at: datetime = _now()
    # 0007: who asked and who advised, from the chat platform's profile at the time
    # (professionals, not children). None: not looked up (yet); "not available" when
    # the lookup failed. The log falls back to the professional's row for None.
    asker_name: str | None = Field(default=None, max_length=200)
    asker_role: str | None = Field(default=None, max_length=200)
    asker_agency: str | None = Field(default=None, max_length=200)
    asker_contact: str | None = Field(default=None, max_length=200)
    advisor_name: str | None = Field(default=None, max_length=200)
    advisor_role: str | None = Field(default=None, max_length=200)


class Referral(SQLModel, table=True):
    """A structured referral summary from the checklist (or an urgent safety-gate item)."""

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True, max_length=32)
    kind: str = Field(default="checklist", max_length=16)  # checklist | urgent
    professional_id: int = Field(foreign_key="professional.id", index=True)
    flow_id: int | None = Field(default=None, foreign_key="flow_session.id")
    age_band: str = Field(default="", max_length=32)
    categories: list[str] = _json(list)
    summary: dict[str, Any] = _json()
    consent_status: str = Field(default="", max_length=32)
    consent_reason: str | None = Field(default=None, sa_type=Text)
    completeness: int = 0  # percent
    gaps: list[str] = _json(list)
    suspended_type: str | None = Field(default=None, max_length=64)
    phone_referral: bool = False
    phoned_at: datetime | None = _dt()
    written_confirmed_at: datetime | None = _dt()
    created_at: datetime = _now()
    last_contact_at: datetime = _now()


class TriageCard(SQLModel, table=True):
    """A card in a manager channel: the suggestion, the decision and the clocks."""

    __tablename__ = "triage_card"
    __table_args__ = (Index("ix_card_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    referral_id: int = Field(foreign_key="referral.id", unique=True)
    reference: str = Field(unique=True, max_length=32)
    platform: str = _platform()
    referrer_user_id: str = Field(max_length=ID, index=True)
    suggested_rating: str = Field(max_length=16)
    suggested_reasons: list[dict[str, str]] = _json(list)
    rating: str | None = Field(default=None, max_length=16)
    status: str = Field(default="new", max_length=16)  # new|decided|closed
    assignee_user_id: str | None = Field(default=None, max_length=ID)
    decided_by: str | None = Field(default=None, max_length=ID)
    decided_at: datetime | None = _dt()
    received_at: datetime = _now()
    due_at: datetime | None = _dt()  # the running clock's deadline
    clock: str | None = Field(default=None, max_length=32)  # which clock due_at belongs to
    breached: bool = False
    closed_at: datetime | None = _dt()
    close_reason: str | None = Field(default=None, sa_type=Text)
    info_requested: bool = False
    version: int = 0
    caf_episode_id: int | None = Field(default=None, foreign_key="caf_episode.id")


class Decision(SQLModel, table=True):
    """A manager's decision on a card: one row per decision, never edited."""

    id: int | None = Field(default=None, primary_key=True)
    card_id: int = Field(foreign_key="triage_card.id", index=True)
    actor: str = Field(max_length=ID)
    at: datetime = _now()
    action: str = Field(max_length=16)  # approve | change
    old_rating: str | None = Field(default=None, max_length=16)
    new_rating: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_type=Text)


class Reminder(SQLModel, table=True):
    """A durable nudge: a row with a due time and a counter survives a restart."""

    __table_args__ = (
        Index("ix_reminder_status_due", "status", "due_at"),
        Index("ix_reminder_subject", "subject_type", "subject_id"),
        UniqueConstraint("key", name="uq_reminder_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)  # dedupe: one reminder per clock/fraction/subject
    kind: str = Field(max_length=32)  # sla_warning|sla_breach|tac_overdue|reassess|...
    subject_type: str = Field(max_length=32)
    subject_id: int
    due_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    status: str = Field(default="pending", max_length=16)  # pending|claimed|done|cancelled
    payload: dict[str, Any] = _json()
    sent_count: int = 0
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = _dt()
    created_at: datetime = _now()
    done_at: datetime | None = _dt()


class OutboxMessage(SQLModel, table=True):
    """An outgoing message (a platform-neutral intent), written in the same transaction
    as its cause and rendered for its platform when it is sent."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_channel_status_id", "channel", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=200)
    platform: str = _platform()
    intent: str = Field(max_length=64)
    channel: str = Field(default="", max_length=ID)  # the conversation (or person) addressed
    payload: dict[str, Any] = _json()
    status: str = Field(default="pending", max_length=16)  # pending|sending|sent|dead
    attempts: int = 0
    next_attempt_at: datetime = _now()
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = _dt()
    last_error: str | None = Field(default=None, max_length=500)
    message_id: str | None = Field(default=None, max_length=ID)  # where it was delivered
    subject_type: str | None = Field(default=None, max_length=32)
    subject_id: int | None = None
    created_at: datetime = _now()
    sent_at: datetime | None = _dt()


class CafEpisode(SQLModel, table=True):
    """An open CAF / early help episode, by its EHM reference (never a name)."""

    __tablename__ = "caf_episode"
    __table_args__ = (Index("ix_caf_status_next", "status", "next_meeting_due"),)

    id: int | None = Field(default=None, primary_key=True)
    ehm_reference: str = Field(unique=True, max_length=64)
    platform: str = _platform()
    lead_user_id: str | None = Field(default=None, max_length=ID)
    coordinator_user_id: str | None = Field(default=None, max_length=ID)
    completed_on: date
    consent: bool = True
    status: str = Field(default="open", max_length=16)  # open|closed
    source: str = Field(default="slash", max_length=16)  # slash|card|import
    next_meeting_due: date | None = None
    close_reason: str | None = Field(default=None, max_length=64)
    created_at: datetime = _now()
    closed_at: datetime | None = _dt()
    # 0002: the last family planning meeting held, where the stuck-CAF route has got
    # to (None | coordinator | caf_social_worker | panel), and a counter bumped by
    # every change (message idempotency keys use it).
    last_meeting_on: date | None = None
    stuck_stage: str | None = Field(default=None, max_length=32)
    version: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    # 0008: a CAF manager's quality assurance of the assessment (Barnet 1P-1Q): None
    # (registered before QA, or imported with its history) | awaiting | returned | agreed;
    # the first TAC clock runs from the day the plan was agreed.
    qa_status: str | None = Field(default=None, max_length=16)
    plan_agreed_on: date | None = None


class CafQa(SQLModel, table=True):
    """One request for a CAF manager's quality assurance, and its answer.

    ``kind``: ``plan`` (the assessment marked complete; Barnet 1P-1Q) or ``closure``
    (closing with no further action; 1R). ``round`` counts the requests of that kind for
    the episode (a returned assessment marked complete again is the next round).
    ``reasons`` passed the no-names guard.
    """

    __tablename__ = "caf_qa"

    id: int | None = Field(default=None, primary_key=True)
    episode_id: int = Field(foreign_key="caf_episode.id", index=True)
    kind: str = Field(max_length=16)  # plan | closure
    status: str = Field(default="awaiting", max_length=16)  # awaiting | agreed | returned
    round: int = 1
    requested_by: str = Field(max_length=ID)
    requested_at: datetime = _now()
    decided_by: str | None = Field(default=None, max_length=ID)
    decided_at: datetime | None = _dt()
    reasons: str | None = Field(default=None, sa_type=Text)


class CafMeeting(SQLModel, table=True):
    """A Team Around the Child / family planning meeting held or rearranged."""

    __tablename__ = "caf_meeting"

    id: int | None = Field(default=None, primary_key=True)
    episode_id: int = Field(foreign_key="caf_episode.id", index=True)
    held_on: date | None = None
    rearranged_to: date | None = None
    recorded_by: str = Field(max_length=ID)
    recorded_at: datetime = _now()


class MessageRef(SQLModel, table=True):
    """Where a subject's message is on a platform (a card's post, a flow's question on
    screen, the consultation card): updates and thread replies find it here. The
    conversation is known when the message is queued, the message id once delivered."""

    __tablename__ = "message_ref"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", "purpose", "platform",
                         name="uq_message_ref_subject"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject_type: str = Field(max_length=32)  # card | consultation | flow
    subject_id: int
    purpose: str = Field(max_length=32)  # post | question
    platform: str = _platform()
    conversation: str = Field(max_length=ID)
    message_id: str | None = Field(default=None, max_length=ID)
    created_at: datetime = _now()
    updated_at: datetime = _now()


class TeamsConversation(SQLModel, table=True):
    """What the bot keeps to message someone first in Teams (a proactive message needs the
    tenant's Bot Connector address, the tenant, the bot's id and the 1:1 chat): saved from
    every activity Teams sends. Ids and addresses only: no name, no text."""

    __tablename__ = "teams_conversation"

    user_id: str = Field(primary_key=True, max_length=ID)  # Entra object id, or a channel id
    kind: str = Field(default="personal", max_length=16)  # personal | channel | groupChat
    tenant_id: str = Field(max_length=64)
    service_url: str = Field(sa_type=Text)
    bot_id: str = Field(max_length=ID)
    conversation_id: str | None = Field(default=None, max_length=ID)
    updated_at: datetime = _now()


class ProcessedEvent(SQLModel, table=True):
    """Event ids (a platform's, or a key of ours) already handled, so a retried delivery
    does nothing twice."""

    __tablename__ = "processed_event"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = _now()


class RequestReplay(SQLModel, table=True):
    """A once-key of each state-changing request taken (its signature, or a Socket Mode
    envelope ID), so the same request replayed does nothing: Slack's signature has no
    nonce. Kept past the signature's five minutes, then purged by the sweep."""

    __tablename__ = "request_replay"

    once_key: str = Field(primary_key=True, max_length=128)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False,
                                  index=True)


class AuditEntry(SQLModel, table=True):
    """Append-only: who did what, when, to what, from what value to what value."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False, index=True)
    actor: str = Field(max_length=ID)
    action: str = Field(max_length=64)
    subject_type: str = Field(max_length=32)
    subject_id: str = Field(max_length=64)
    old_value: str | None = Field(default=None, sa_type=Text)
    new_value: str | None = Field(default=None, sa_type=Text)
    reason: str | None = Field(default=None, sa_type=Text)
