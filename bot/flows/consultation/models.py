"""The consultation domain's value types: what an advice action returns, the outcomes an
advisor may give. The tables (``consultation``, ``professional``; the log reads them) are
in ``store/models.py``: the schema is one module, for alembic.

A consultation's states (``Consultation.status``): ``open`` until an advisor answers,
``advised`` after (``advised_at``, the outcome, the advice), ``closed``; the
professional's answer to the advice is ``followed_advice`` (and why not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from store.models import Consultation, Professional

OUTCOMES = (
    "urgent_referral", "referral", "early_help", "continue_caf", "signpost", "lado", "advice_only"
)


@dataclass
class AdviceResult:
    """What an advice action did; ``status`` is ``ok`` or why nothing changed."""

    status: str  # ok | not_found | already_advised | already_answered | invalid
    consultation: Consultation | None = None
    professional: Professional | None = None
    message: str = ""
    action: str = ""
    who: str = ""  # the person ``message`` is about, named before it by the platform

    @property
    def ok(self) -> bool:
        """True when the consultation changed."""
        return self.status == "ok"


Effects = Callable[[Session, AdviceResult], None]
