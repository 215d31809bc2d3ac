"""App Home: a professional's own items; a manager's open cards, overdue first."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlalchemy import select

from bot.handlers.slack.blocks import home as home_blocks
from bot.handlers.slack.common import guarded, off_loop
from bot.services import Services
from store.db import session_scope
from store.models import Consultation, Professional, Referral, TriageCard

RECENT = 20


def register(app: AsyncApp, sv: Services) -> None:
    """Register the App Home listener on ``app``."""

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        await _publish(body=body, user=event["user"])

    @guarded(sv)
    async def _publish(*, body: dict[str, Any], user: str) -> None:
        is_manager = await sv.roles.is_manager(user)
        is_advisor = await sv.roles.is_advisor(user)
        data = await off_loop(gather, sv, user, is_manager, is_advisor)
        view = home_blocks.home_view(
            user_id=user, is_manager=is_manager, is_advisor=is_advisor, policy=sv.policy,
            now=sv.clock(), **data,
        )
        # App Home is redrawn on every open, so it is published directly, not queued.
        await sv.client.views_publish(user_id=user, view=view)


def gather(sv: Services, user: str, is_manager: bool, is_advisor: bool) -> dict[str, Any]:
    """What the Home tab shows for this person."""
    with session_scope(sv.engine) as s:
        prof = s.exec(select(Professional).where(  # type: ignore[call-overload]
            Professional.user_id == user)).scalar_one_or_none()
        mine: list[dict[str, Any]] = []
        if prof is not None:
            for c in s.exec(select(Consultation).where(  # type: ignore[call-overload]
                    Consultation.professional_id == prof.id)
                    .order_by(Consultation.created_at.desc()).limit(RECENT)).scalars():  # type: ignore[attr-defined]
                mine.append({"reference": c.reference, "kind": "consultation", "status": c.status,
                             "outcome": c.advice_outcome or c.suggested_outcome,
                             "created_at": c.created_at})
            rows = s.exec(select(TriageCard, Referral).join(  # type: ignore[call-overload]
                Referral, Referral.id == TriageCard.referral_id).where(
                Referral.professional_id == prof.id)
                .order_by(TriageCard.received_at.desc()).limit(RECENT)).all()  # type: ignore[attr-defined]
            for card, ref in rows:
                mine.append({"reference": card.reference, "kind": f"referral ({ref.kind})",
                             "status": card.status, "outcome": card.rating if card.status != "new"
                             else None, "created_at": card.received_at})
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
    return {"my_items": mine, "open_cards": open_cards, "open_consultations": open_consultations}
