"""The triage card's life: arrival, decision, change, assignment, information, closure.

Pure of Slack: each action runs in one write transaction, locks the card row
(``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), checks the
card's state, records a Decision and an audit entry, moves the SLA clocks, and
calls ``effects`` before commit so the caller can queue its messages in the
same transaction. Two managers clicking Approve at once: the second finds the
card decided and is told by whom.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from bot.flows.locked import locked_action
from bot.flows.triage import scheduled
from bot.flows.triage.models import CardResult, Effects
from bot.policy import RATINGS, Policy
from store import repo, sql
from store.models import Decision, Referral, Reminder, TriageCard
from store.runner import TxRunner, threaded
from store.types import utcnow


class TriageService:
    """Actions on triage cards, each atomic and audited."""

    def __init__(
        self,
        tx: TxRunner,
        policy: Policy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.tx = tx
        self.policy = policy
        self.clock = clock

    # --- reading ---------------------------------------------------------

    def card(self, card_id: int) -> TriageCard | None:
        """A card by id (None when there is none)."""
        with self.tx.session() as s:
            return s.get(TriageCard, card_id)

    def drawn(self, card_id: int) -> tuple[TriageCard, Referral, Decision | None] | None:
        """A card with what its drawing shows beside it: its referral, its last decision."""
        with self.tx.session() as s:
            card = s.get(TriageCard, card_id)
            referral = s.get(Referral, card.referral_id) if card else None
            if card is None or referral is None:
                return None
            return card, referral, sql.last_decision(sql.Cx.of(s), card_id)

    # --- decisions -------------------------------------------------------

    def approve(self, card_id: int, actor: str, *, effects: Effects | None = None) -> CardResult:
        """Make the suggested rating the decision."""

        def act(s: Session, card: TriageCard, now: datetime) -> CardResult:
            if card.status != "new":
                return self._already(card)
            return self._decide(s, card, actor, card.suggested_rating, "approve", None, now)

        return self._run(card_id, act, effects)

    def change(
        self,
        card_id: int,
        actor: str,
        new_rating: str,
        reason: str,
        *,
        effects: Effects | None = None,
    ) -> CardResult:
        """Decide a different rating (or re-rate a decided card), with a reason."""
        if new_rating not in RATINGS:
            return CardResult("invalid", message="Choose one of the ratings offered.")
        if not reason.strip():
            return CardResult("invalid", message="Say why the rating is changing.")

        def act(s: Session, card: TriageCard, now: datetime) -> CardResult:
            if card.rating is not None and new_rating == card.rating:
                return CardResult("invalid", card, message="The card already has that rating.")
            return self._decide(s, card, actor, new_rating, "change", reason.strip(), now)

        return self._run(card_id, act, effects)

    def _decide(
        self,
        s: Session,
        card: TriageCard,
        actor: str,
        rating: str,
        action: str,
        reason: str | None,
        now: datetime,
    ) -> CardResult:
        old = card.rating
        s.add(
            Decision(
                card_id=card.id,
                actor=actor,
                at=now,
                action=action,
                old_rating=old or card.suggested_rating,
                new_rating=rating,
                reason=reason,
            )
        )
        repo.audit(
            s,
            actor=actor,
            action=f"rating.{action}",
            subject_type="card",
            subject_id=card.id,
            old=old or f"suggested:{card.suggested_rating}",
            new=rating,
            reason=reason,
            at=now,
        )
        # The decision clock (and an earlier rating's clock) stops; the rating's action
        # clock starts from now. A phone referral's written confirmation runs on until
        # the written referral is recorded (``written_received``).
        repo.stop_all(
            s, subject_type="card", subject_id=card.id or 0, keep=("written_confirmation",)
        )
        card.status, card.rating = "decided", rating
        card.decided_by, card.decided_at = actor, now
        card.breached = False
        clock_name = self.policy.rating(rating).clock
        card.clock, card.due_at = clock_name, None
        if clock_name:
            card.due_at = scheduled.start_clock(
                s,
                self.policy,
                subject_type="card",
                subject_id=card.id or 0,
                clock=clock_name,
                start=now,
            )
        if rating == "red":
            scheduled.start_clock(
                s,
                self.policy,
                subject_type="card",
                subject_id=card.id or 0,
                clock="strategy_discussion",
                start=now,
            )
        return CardResult("ok", card, action=action, old_rating=old, new_rating=rating)

    # --- other actions ---------------------------------------------------

    def assign(self, card_id: int, actor: str, *, effects: Effects | None = None) -> CardResult:
        """Assign the card to the person who clicked."""

        def act(s: Session, card: TriageCard, now: datetime) -> CardResult:
            if card.assignee_user_id == actor:
                return CardResult("invalid", card, message="The card is already assigned to you.")
            repo.audit(
                s,
                actor=actor,
                action="card.assign",
                subject_type="card",
                subject_id=card.id,
                old=card.assignee_user_id,
                new=actor,
                at=now,
            )
            card.assignee_user_id = actor
            return CardResult("ok", card, action="assign")

        return self._run(card_id, act, effects)

    def close(
        self, card_id: int, actor: str, reason: str, *, effects: Effects | None = None
    ) -> CardResult:
        """Close the card: every clock stops and nothing is nudged again."""
        if not reason.strip():
            return CardResult("invalid", message="Say why the card is being closed.")

        def act(s: Session, card: TriageCard, now: datetime) -> CardResult:
            repo.stop_all(s, subject_type="card", subject_id=card.id or 0)
            repo.audit(
                s,
                actor=actor,
                action="card.close",
                subject_type="card",
                subject_id=card.id,
                old=card.status,
                new="closed",
                reason=reason,
                at=now,
            )
            card.status, card.closed_at, card.close_reason = "closed", now, reason.strip()
            card.due_at = None
            return CardResult("ok", card, action="close")

        return self._run(card_id, act, effects)

    def request_info(
        self, card_id: int, actor: str, question: str, *, effects: Effects | None = None
    ) -> CardResult:
        """Ask the referrer for more information (the question is already guarded)."""
        if not question.strip():
            return CardResult("invalid", message="Write the question for the referrer.")

        def act(s: Session, card: TriageCard, now: datetime) -> CardResult:
            repo.audit(
                s,
                actor=actor,
                action="card.request_info",
                subject_type="card",
                subject_id=card.id,
                old=None,
                new="requested",
                at=now,
            )
            card.info_requested = True
            return CardResult("ok", card, action="request_info", note=question.strip())

        return self._run(card_id, act, effects)

    def info_reply(
        self, card_id: int, actor: str, text: str, *, effects: Effects | None = None
    ) -> CardResult:
        """The referrer's answer, for the card's thread (already guarded)."""

        def act(s: Session, card: TriageCard, now: datetime) -> CardResult:
            if actor != card.referrer_user_id:
                return CardResult("invalid", card, message="Only the referrer can answer.")
            repo.audit(
                s,
                actor=actor,
                action="card.info_reply",
                subject_type="card",
                subject_id=card.id,
                old="requested",
                new="answered",
                at=now,
            )
            card.info_requested = False
            return CardResult("ok", card, action="info_reply", note=text.strip())

        return self._run(card_id, act, effects, allow_closed=False)

    def snooze(
        self, card_id: int, actor: str, minutes: int, *, effects: Effects | None = None
    ) -> CardResult:
        """Put off the card's next warning by ``minutes`` (a breach is a fact: it never moves)."""
        if minutes not in {int(t.total_seconds() // 60) for t in self.policy.snooze_options}:
            return CardResult("invalid", message="That snooze length is not offered.")

        def act(s: Session, card: TriageCard, now: datetime) -> CardResult:
            until = now + timedelta(minutes=minutes)
            moved = scheduled.snooze(s, subject_type="card", subject_id=card.id or 0, until=until)
            if not moved:
                return CardResult("invalid", card, message=self._nothing_to_snooze(s, card))
            repo.audit(
                s,
                actor=actor,
                action="card.snooze",
                subject_type="card",
                subject_id=card.id,
                new=until.isoformat(),
                reason=f"{minutes} min",
                at=now,
            )
            when = until.astimezone(self.policy.tz).strftime("%H:%M")
            return CardResult(
                "ok", card, action="snooze", by=actor,
                note=f"snoozed the next reminder until {when}.",
            )

        return self._run(card_id, act, effects)

    def written_received(
        self, card_id: int, actor: str, *, effects: Effects | None = None
    ) -> CardResult:
        """The written referral confirming an urgent phone referral has arrived: its clock stops."""

        def act(s: Session, card: TriageCard, now: datetime) -> CardResult:
            referral = s.get(Referral, card.referral_id)
            if referral is None or not referral.phone_referral:
                return CardResult("invalid", card, message="This was not a phone referral.")
            if referral.written_confirmed_at is not None:
                return CardResult("invalid", card, message="The written referral is already in.")
            referral.written_confirmed_at = now
            s.add(referral)
            repo.stop_all(s, subject_type="card", subject_id=card.id or 0,
                          only="written_confirmation")
            repo.audit(s, actor=actor, action="card.written_received", subject_type="card",
                       subject_id=card.id, old="awaited", new="received", at=now)
            return CardResult("ok", card, action="written_received", by=actor,
                              note="recorded the written referral as received.")

        return self._run(card_id, act, effects, allow_closed=True)

    def denied(self, card_id: int | None, actor: str, action: str) -> None:
        """Audit an attempt by someone without the role (nothing else changes)."""
        with self.tx.session(write=True) as s:
            repo.audit(
                s,
                actor=actor,
                action=f"denied.{action}",
                subject_type="card",
                subject_id=card_id or "-",
                at=self.clock(),
            )

    # The same actions as coroutines, for code on the event loop (``store.runner``).
    acard = threaded(card)
    adrawn = threaded(drawn)
    aapprove = threaded(approve)
    achange = threaded(change)
    aassign = threaded(assign)
    aclose = threaded(close)
    arequest_info = threaded(request_info)
    ainfo_reply = threaded(info_reply)
    asnooze = threaded(snooze)
    awritten_received = threaded(written_received)
    adenied = threaded(denied)

    def _nothing_to_snooze(self, s: Session, card: TriageCard) -> str:
        """Why a snooze moved nothing: the next warning is already later, or there is none."""
        due = s.exec(
            select(Reminder.due_at)  # type: ignore[call-overload]
            .where(Reminder.subject_type == "card", Reminder.subject_id == card.id,
                   Reminder.status == "pending", Reminder.kind == "sla_warning")
            .order_by(Reminder.due_at)
        ).first()
        if due is None:
            return "No warning is waiting on this card, so there is nothing to snooze."
        at = due[0].astimezone(self.policy.tz)
        return (f"The next warning is at {at:%H:%M} on {at:%a %d %b}, later than the snooze "
                "would put it: nothing was changed.")

    # --- plumbing --------------------------------------------------------

    def _already(self, card: TriageCard) -> CardResult:
        when = (
            card.decided_at.astimezone(self.policy.tz).strftime("%H:%M %a %d %b")
            if card.decided_at
            else ""
        )
        return CardResult(
            "already_decided",
            card,
            message=f"already decided this card ({when}).", who=card.decided_by or "",
        )

    def _run(
        self,
        card_id: int,
        act: Callable[[Session, TriageCard, datetime], CardResult],
        effects: Effects | None,
        *,
        allow_closed: bool = False,
    ) -> CardResult:
        def check(card: TriageCard) -> CardResult | None:
            if card.status == "closed" and not allow_closed:
                return CardResult("closed", card, message="This card is closed.")
            return None

        def finish(s: Session, card: TriageCard, result: CardResult) -> None:
            result.referral = s.get(Referral, card.referral_id)

        return locked_action(
            self.tx, TriageCard, card_id, self.clock(), act, effects, check=check,
            finish=finish,
            missing=lambda: CardResult("not_found", message="That card no longer exists."),
        )
