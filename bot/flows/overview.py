"""What a person's App Home shows: their own consultations and referrals; the CAFs they are
lead professional for; a manager's open cards; an advisor's open consultations. Read in one
snapshot; nothing platform-specific (Teams' "My queue" can draw the same data).

``places`` says where each reference's own message is (a card's post, a consultation's
card), by reference: ``(conversation, message id)`` on the asked platform, for a
renderer to link to. A CAF has no message of its own: its place is that of the card that
was routed to it, if any."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot import delivered
from store import sql
from store.models import CafEpisode, Consultation, Professional, Referral, TriageCard
from store.runner import TxRunner, threaded
from store.types import DEFAULT_PLATFORM

RECENT = 20  # a professional's own items shown
LEAD_CAFS = 50  # a lead professional's open CAFs read (the renderer shows fewer)


class Overview:
    """The App Home's data, for any chat front end."""

    def __init__(self, tx: TxRunner) -> None:
        self.tx = tx

    def items(self, user: str, is_manager: bool, is_advisor: bool, *,
              platform: str = DEFAULT_PLATFORM) -> dict[str, Any]:
        """``my_items``, ``my_cafs`` (as lead professional: the next meeting due soonest
        first, so overdue ones lead; those with no date last), ``open_cards`` (managers),
        ``open_consultations`` (advisors) and ``places`` (see the module's docstring)."""
        places: dict[str, tuple[str, str]] = {}
        with self.tx.session() as s:
            cx = sql.Cx.of(s)

            def place(reference: str, subject_type: str, subject_id: int | None) -> None:
                conversation, message_id = delivered.where_is(
                    cx, subject_type, int(subject_id or 0), platform=platform)
                if conversation and message_id:
                    places[reference] = (conversation, message_id)

            prof = s.exec(select(Professional).where(  # type: ignore[call-overload]
                Professional.platform == platform,
                Professional.user_id == user)).scalar_one_or_none()
            mine: list[dict[str, Any]] = []
            if prof is not None:
                for c in s.exec(select(Consultation).where(  # type: ignore[call-overload]
                        Consultation.professional_id == prof.id)
                        .order_by(Consultation.created_at.desc()).limit(RECENT)).scalars():  # type: ignore[attr-defined]
                    place(c.reference, "consultation", c.id)
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
                    place(card.reference, "card", card.id)
                    mine.append({"reference": card.reference, "kind": f"referral ({ref.kind})",
                                 "status": card.status,
                                 "outcome": card.rating if card.status != "new" else None,
                                 "created_at": card.received_at})
            my_cafs: list[CafEpisode] = list(s.exec(select(CafEpisode).where(  # type: ignore[call-overload]
                CafEpisode.platform == platform, CafEpisode.lead_user_id == user,
                CafEpisode.status == "open")
                .order_by(CafEpisode.next_meeting_due.is_(None),  # type: ignore[union-attr]
                          CafEpisode.next_meeting_due, CafEpisode.ehm_reference)
                .limit(LEAD_CAFS)).scalars())
            if my_cafs:
                routed = s.exec(select(TriageCard).where(  # type: ignore[call-overload]
                    TriageCard.caf_episode_id.in_([ep.id for ep in my_cafs]))  # type: ignore[union-attr]
                    .order_by(TriageCard.id)).scalars()
                ehm = {ep.id: ep.ehm_reference for ep in my_cafs}
                for card in routed:  # the newest card routed to a CAF is its place
                    place(ehm[card.caf_episode_id], "card", card.id)
            open_cards: list[tuple[TriageCard, Referral]] = []
            if is_manager:
                open_cards = [
                    (c, r) for c, r in s.exec(select(TriageCard, Referral).join(  # type: ignore[call-overload]
                        Referral, Referral.id == TriageCard.referral_id)
                        .where(TriageCard.status != "closed")).all()
                ]
                for card, _ in open_cards:
                    place(card.reference, "card", card.id)
            open_consultations: list[Consultation] = []
            if is_advisor:
                open_consultations = list(s.exec(select(Consultation).where(  # type: ignore[call-overload]
                    Consultation.status == "open").order_by(Consultation.created_at)).scalars())  # type: ignore[arg-type]
                for c in open_consultations:
                    place(c.reference, "consultation", c.id)
        return {"my_items": mine, "my_cafs": my_cafs, "open_cards": open_cards,
                "open_consultations": open_consultations, "places": places}

    aitems = threaded(items)  # as a coroutine, for code on the event loop
