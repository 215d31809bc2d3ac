"""The CAF domain's value types: what registering an episode needs, what an action
returns, a card that may be routed to a CAF. The tables (``caf_episode``, ``caf_meeting``,
``caf_qa``; an episode's ``reminder`` rows) are in ``store/models.py``: the schema is one
module, for alembic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session

from store.models import CafEpisode, TriageCard
from store.types import DEFAULT_PLATFORM


@dataclass(frozen=True)
class NewEpisode:
    """What registering a CAF needs (from /caf, a routed card or an import row)."""

    ehm_reference: str
    lead_user_id: str | None
    coordinator_user_id: str | None
    completed_on: date
    consent: bool
    last_meeting_on: date | None = None
    # The chat platform whose user ids name the people (the store's default, "slack").
    platform: str = DEFAULT_PLATFORM


@dataclass
class CafResult:
    """What an action did; ``status`` is ``ok`` or why nothing changed."""

    status: str  # ok | not_found | closed | invalid | duplicate | stale
    episode: CafEpisode | None = None
    action: str = ""
    actor: str = ""
    message: str = ""
    note: str = ""  # guarded free text (the stuck note)
    stage: str | None = None  # the stuck-route stage reached
    old_due: date | None = None
    on: date | None = None  # the date acted on (held on, rearranged to)
    card: TriageCard | None = None
    linked: bool = False  # a routed card was linked to an existing open episode
    problems: list[tuple[str, str]] = field(default_factory=list)  # (field, message)

    @property
    def ok(self) -> bool:
        """True when the action changed something."""
        return self.status == "ok"


Effects = Callable[[Session, CafResult], None]


@dataclass(frozen=True)
class Routable:
    """A card that may be routed to a CAF, with what the routing form starts from."""

    card: TriageCard
    consent: bool | None  # the referral's consent: given, refused, or not asked
    open_caf: bool  # the referrer said there is an open CAF, or the rules found one
