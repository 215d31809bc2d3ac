"""A duty advisor's answer to a consultation, and the professional's response to it.

The consultation row is the CAF consultation log entry: who asked, when, what
was suggested, what advice was given and by whom, and whether the professional
followed it (and why not). Guernsey's practice (NOTES.md): if the professional
does not follow the advice they record why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from bot.flows.consultation.models import OUTCOMES, AdviceResult, Effects
from bot.flows.locked import locked_action
from bot.policy import Policy
from store import repo
from store.models import Consultation, Professional
from store.runner import TxRunner, threaded
from store.tx import Tx
from store.types import utcnow

ONLY_THE_ASKER = "Only the professional who asked can answer."

# Plain words, the button's name in quotes as the domain's other messages name theirs:
# each platform shows this text as is, and only a renderer knows its emphasis.
ALREADY_ANSWERED = (
    "You have already answered this advice, and that answer stands. To change it, use "
    "\"Change my answer\" on the advice message."
)

class AdviceService:
    """Advice on consultations, atomic and audited."""

    def __init__(
        self,
        tx: TxRunner,
        policy: Policy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.tx = tx
        self.policy = policy
        self.clock = clock

    def get(self, consultation_id: int) -> Consultation | None:
        """A consultation by id (None when there is none)."""
        with self.tx.session() as s:
            return s.get(Consultation, consultation_id)

    def asker(self, consultation_id: int) -> str | None:
        """The user id of the professional who asked (None when there is no such one)."""
        with self.tx.session() as s:
            c = s.get(Consultation, consultation_id)
            prof = s.get(Professional, c.professional_id) if c is not None else None
            return prof.user_id if prof is not None else None

    def reopen_in(self, tx: Tx, consultation_id: int, user: str,
                  effects: Callable[[Tx], None]) -> bool:
        """"Change my answer": audited, and ``effects`` (showing the two answers again) in
        the same transaction; False when there is no answer to change. The answer given
        stands until another is chosen."""
        c = tx.session.get(Consultation, consultation_id)
        if c is None or c.followed_advice is None:
            return False
        tx.audit(actor=user, action="consultation.change_asked",
                 subject_type="consultation", subject_id=consultation_id)
        effects(tx)
        return True

    def advise(
        self,
        consultation_id: int,
        advisor: str,
        outcome: str,
        text: str,
        *,
        effects: Effects | None = None,
    ) -> AdviceResult:
        """Record the advice (text already guarded); a second advisor is told who answered."""
        if outcome not in OUTCOMES:
            return AdviceResult("invalid", message="Choose one of the outcomes offered.")
        if not text.strip():
            return AdviceResult("invalid", message="Write the advice for the professional.")

        def act(s: Session, c: Consultation, now: datetime) -> AdviceResult:
            if c.status != "open":
                return AdviceResult("already_advised", c, message="already answered this.",
                                    who=c.advisor_user_id or "")
            repo.audit(
                s,
                actor=advisor,
                action="consultation.advise",
                subject_type="consultation",
                subject_id=c.id,
                old=f"suggested:{c.suggested_outcome}",
                new=outcome,
                at=now,
            )
            c.status, c.advisor_user_id, c.advice_outcome = "advised", advisor, outcome
            c.advice_text, c.advised_at, c.last_contact_at = text.strip(), now, now
            return AdviceResult("ok", c, action="advise")

        return self._run(consultation_id, act, effects)

    def respond(
        self,
        consultation_id: int,
        user: str,
        followed: bool,
        reason: str = "",
        *,
        change: bool = False,
        effects: Effects | None = None,
    ) -> AdviceResult:
        """The professional says whether they follow the advice, and why not.

        The first answer stands: a second one (a stale button, a double click) changes
        nothing unless ``change`` says the professional chose to change it.
        """
        if not followed and not reason.strip():
            return AdviceResult(
                "invalid", message="Say briefly what you are doing instead, and why."
            )

        def act(s: Session, c: Consultation, now: datetime) -> AdviceResult:
            prof = s.get(Professional, c.professional_id)
            if prof is None or prof.user_id != user:
                return AdviceResult("invalid", c, message=ONLY_THE_ASKER)
            if c.status != "advised":
                return AdviceResult("invalid", c, message="There is no advice to respond to yet.")
            if c.followed_advice is not None and not change:
                return AdviceResult("already_answered", c, message=ALREADY_ANSWERED)
            repo.audit(
                s,
                actor=user,
                action="consultation.response",
                subject_type="consultation",
                subject_id=c.id,
                old=c.followed_advice,
                new=followed,
                reason=("changed by the professional" if c.followed_advice is not None
                        else None if followed else "recorded in the consultation log"),
                at=now,
            )
            c.followed_advice = followed
            c.not_followed_reason = None if followed else reason.strip()
            c.last_contact_at = now
            return AdviceResult("ok", c, action="respond")

        # Whether the consultation exists is nobody's business but the asker's: the same
        # words for a missing one as for someone else's.
        return self._run(consultation_id, act, effects,
                         missing=lambda: AdviceResult("invalid", message=ONLY_THE_ASKER))

    # The same actions as coroutines, for code on the event loop (``store.runner``).
    aget = threaded(get)
    aasker = threaded(asker)
    aadvise = threaded(advise)
    arespond = threaded(respond)

    def _run(
        self,
        consultation_id: int,
        act: Callable[[Session, Consultation, datetime], AdviceResult],
        effects: Effects | None,
        *,
        missing: Callable[[], AdviceResult] | None = None,
    ) -> AdviceResult:
        def finish(s: Session, c: Consultation, result: AdviceResult) -> None:
            result.professional = s.get(Professional, c.professional_id)

        return locked_action(
            self.tx, Consultation, consultation_id, self.clock(), act, effects,
            finish=finish,
            missing=missing or (lambda: AdviceResult(
                "not_found", message="That consultation no longer exists.")),
        )
