"""What a person's App Home shows: their own consultations and referrals; a manager's open
cards; an advisor's open consultations. Read in one snapshot; nothing platform-specific."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from store.db import session_scope
from store.models import Consultation, Professional, Referral, TriageCard
from store.runner import threaded

RECENT = 20  # a professional's own items shown


class Overview:
    """The App Home's data, for any chat front end."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def items(self, user: str, is_manager: bool, is_advisor: bool) -> dict[str, Any]:
        """``my_items``, ``open_cards`` (managers) and ``open_consultations`` (advisors)."""
        with session_scope(self.engine) as s:
            prof = s.exec(select(Professional).where(  # type: ignore[call-overload]
                Professional.user_id == user)).scalar_one_or_none()
            mine: list[dict[str, Any]] = []
            if prof is not None:
                for c in s.exec(select(Consultation).where(  # type: ignore[call-overload]
                        Consultation.professional_id == prof.id)
                        .order_by(Consultation.created_at.desc()).limit(RECENT)).scalars():  # type: ignore[attr-defined]
                    mine.append({"reference": c.reference, "kind": "consultation",
                                 "status": c.status,
                                 "outcome": c.advice_outcome or c.suggested_outcome,
                                 # Until a duty advisor answers, the outcome is the bot's
                                 # suggestion, and says so.
                                 "suggested": c.advice_outcome is None,
                                 "created_at": c.created_at})
                rows = s.exec(select(TriageCard, Referral).join(  # type: ignore[call-overload]
                    Referral, Referral.id == TriageCard.referral_id).where(
                    Referral.professional_id == prof.id)
                    .order_by(TriageCard.received_at.desc()).limit(RECENT)).all()  # type: ignore[attr-defined]
                for card, ref in rows:
                    mine.append({"reference": card.reference, "kind": f"referral ({ref.kind})",
                                 "status": card.status,
                                 "outcome": card.rating if card.status != "new" else None,
                                 "created_at": card.received_at})
            open_cards: list[tuple[TriageCard, Referral]] = []
            if is_manager:
                open_cards = [
                    (c, r) for c, r in s.exec(select(TriageCard, Referral).join(  # type: ignore[call-overload]
                        Referral, Referral.id == TriageCard.referral_id)
                        .where(TriageCard.status != "closed")).all()
                ]
            open_consultations: list[Consultation] = []
            if is_advisor:
                open_consultations = list(s.exec(select(Consultation).where(  # type: ignore[call-overload]
                    Consultation.status == "open").order_by(Consultation.created_at)).scalars())  # type: ignore[arg-type]
        return {"my_items": mine, "open_cards": open_cards,
                "open_consultations": open_consultations}

    aitems = threaded(items)  # as a coroutine, for code on the event loop
