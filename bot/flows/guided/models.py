"""The contract between the guided flows and whoever drives them (Slack, Teams, tests).

Pure data: no Slack, no database. ``bot.flows.guided.service.FlowService`` returns a
``Step`` after every action; a handler renders it. A flow's row is the ``flow_session``
table (``store/models.py``: the schema is one module, for alembic); what a finished flow
writes is the consultation domain's or the triage domain's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from store.types import DEFAULT_PLATFORM


class Kind(StrEnum):
    """How a question is answered."""

    CHOICE = "choice"
    MULTI = "multi"
    TEXT = "text"
    YESNO = "yesno"
    DATE = "date"


@dataclass(frozen=True)
class Option:
    """One choice: a stable value and the label shown."""

    value: str
    label: str


@dataclass(frozen=True)
class Prompt:
    """A question as shown to the professional."""

    id: str
    text: str
    kind: Kind
    options: tuple[Option, ...] = ()
    help: str = ""
    optional: bool = False
    placeholder: str = ""


@dataclass(frozen=True)
class Reason:
    """Why a suggestion was made: the rule, in words, and its source document."""

    rule: str  # stable id, e.g. "R-safety-gate"
    text: str
    source: str  # e.g. "Camden contact service: Red"


@dataclass(frozen=True)
class Suggestion:
    """A suggested outcome (consultation) or rating (referral): never a decision."""

    outcome: str  # an OUTCOME_LABELS key (bot/blocks/cards.py)
    rating: str | None  # red|amber_sh|amber_cin|green|blue or None
    reasons: tuple[Reason, ...]
    notes: tuple[str, ...] = ()  # e.g. "third consultation about this situation"


class Status(StrEnum):
    """Where a flow is after an action."""

    ASKING = "asking"  # ``prompt`` is the next question
    REFUSED = "refused"  # the answer was not accepted; ``prompt`` is asked again
    CONFIRM = "confirm"  # the answer may hold a name: ask the professional about ``findings``
    COMPLETED = "completed"
    URGENT = "urgent"  # the safety gate: stop, show what to do now
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REDIRECTED = "redirected"  # a suspended referral type
    NONE = "none"  # no active flow (e.g. a stale button)


@dataclass(frozen=True)
class Finding:
    """A no-names finding, described for the professional only (never stored)."""

    kind: str
    label: str  # e.g. 'a name: "…"' -- shown privately, then discarded
    confirm: bool = False  # uncertain: ask "could this identify the child?"
    word: str = ""  # the uncertain text itself, to name in that private question


@dataclass
class Step:
    """The result of one action on a flow."""

    status: Status
    platform: str = DEFAULT_PLATFORM  # whose chat the flow runs in: the step's messages go there
    flow_id: int | None = None
    flow_kind: str | None = None  # consult | refer
    prompt: Prompt | None = None
    step_no: int = 0  # "step 4 of 11"
    step_total: int = 0
    answers: dict[str, Any] = field(default_factory=dict)  # stored answers (already guarded)
    can_go_back: bool = False
    message: str = ""  # plain words for the professional (why refused, what to do now...)
    findings: tuple[Finding, ...] = ()
    errors: tuple[str, ...] = ()  # validation problems (not no-names)
    suggestion: Suggestion | None = None
    reference: str | None = None  # FD-2026-000123 once created
    consultation_id: int | None = None
    referral_id: int | None = None
    card_id: int | None = None
    version: int = 0
