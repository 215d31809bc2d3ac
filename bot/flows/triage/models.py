"""The triage domain's value types: what an action on a card returns, the reasons a card
may be closed for. The tables (``triage_card``, ``referral``, ``decision``; a card's
``reminder`` rows) are in ``store/models.py``: the schema is one module, for alembic.

A card's states (``TriageCard.status``): ``new`` (no decision yet), ``decided``,
``closed``; which action may follow which is checked in each action of ``service.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from store.models import Referral, TriageCard


@dataclass
class CardResult:
    """What an action did; ``status`` is ``ok`` or why nothing changed."""

    status: str  # ok | not_found | already_decided | closed | invalid
    card: TriageCard | None = None
    referral: Referral | None = None
    message: str = ""
    action: str = ""
    old_rating: str | None = None
    new_rating: str | None = None
    note: str = ""  # text for the card's thread (already guarded by the caller)
    by: str = ""  # the Slack user the thread note names first (a mention, not text)
    who: str = ""  # the person ``message`` is about, named before it by the platform

    @property
    def ok(self) -> bool:
        """True when the action changed the card."""
        return self.status == "ok"


Effects = Callable[[Session, CardResult], None]

CLOSE_REASONS = (
    "Signposted",
    "No further action",
    "Duplicate",
    "Passed to another authority",
    "Referral returned to the referrer",
    "Other",
)
