"""A CAF manager's quality assurance of a CAF assessment (Barnet CAF team operational model,
process map 1, steps 1P-1R; map 2, 2K-2M).

"All CAF assessments are quality assured by either the CAF Deputy / Team Manager": is the
voice of the child clear, is the need identified, is the plan designed to meet the needs,
is a review date recorded, is the plan agreed with the family SMART (1P-1Q). Then "the CAF
is finalised and the task to arrange the first Team Around the Child is triggered": the
first TAC clock (the policy's ``caf.first_meeting_within``) starts on the day a manager
agrees the plan, not when the CAF was registered. Closing with no further action is done
"with management oversight of closure" (1R): a manager agrees that too.

As chat-ops:

* registering a CAF (``/caf``, or routing a Green card to a new one) is marking its
  assessment complete: a QA card goes to the CAF team's channel (the policy's
  ``early_help_duty``, where the CAF duty manager already oversees closures) and the
  episode waits, with no TAC clock, until a manager answers; an imported CAF brings its
  history and needs none;
* a manager *agrees* (the plan is agreed; the first TAC clock starts) or *returns* it with
  reasons, which go to the lead professional and the co-ordinator (the CAF social worker)
  by DM, with a button to mark it complete again (a new card, the next round);
* closing with no further action asks for a manager's agreement instead of closing.

Each step is one transaction on the episode's row (locked, as every CAF action), audited
with its old and new values, its messages queued in it. A QA request not answered within
the policy's ``caf.qa_within`` is reminded once in the channel (the service's clock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import Session

from bot import intents, wording
from bot.flows.caf.messaging import CafMessaging, recipients
from bot.flows.caf.models import CafResult
from bot.flows.caf.service import SUBJECT, CafService
from bot.flows.locked import locked_action
from bot.policy import Policy
from store import repo
from store.models import CafEpisode, CafQa, Reminder
from store.runner import threaded

if TYPE_CHECKING:
    from bot.services import Services

PLAN, CLOSURE = "plan", "closure"
AWAITING, AGREED, RETURNED = "awaiting", "agreed", "returned"
KIND_QA_DUE = "caf_qa_due"
NFA = "no_further_action"
# Where a CAF comes from with its assessment just completed (an import brings its history).
QA_SOURCES = ("slash", "card")
CHANNEL = "early_help_duty"  # the CAF team's duty channel: the CAF managers' oversight

# What the manager checks, in the model's words (1P-1Q; 1R for a closure).
PLAN_CHECKS: tuple[str, ...] = (
    "the voice of the child is clear",
    "the need is identified",
    "the plan meets the needs",
    "a review date is recorded",
    "the plan is SMART",
)
CLOSURE_CHECKS: tuple[str, ...] = (
    "the assessment is complete",
    "it found no identified needs, no clear plan, or no consent for ongoing support",
)


SOURCES: dict[str, str] = {
    PLAN: "Barnet CAF team operational model, process map 1, steps 1P-1Q",
    CLOSURE: "Barnet CAF team operational model, process map 1, step 1R",
}
PLAN_RETURNED_NEXT = ("Put it right in the case system, then mark it complete again here: it "
                      "goes back to a CAF manager. The first family planning meeting's clock "
                      "starts when the plan is agreed.")
CLOSURE_RETURNED_NEXT = "The CAF stays open and its reminders carry on."


def checks(kind: str) -> tuple[str, ...]:
    """What a manager checks for a request of ``kind``."""
    return CLOSURE_CHECKS if kind == CLOSURE else PLAN_CHECKS


def what_agreeing_does(qa: CafQa, policy: Policy) -> str:
    """Said on the card before a manager answers."""
    if qa.kind == CLOSURE:
        return "Agreeing closes the CAF with no further action and stops its reminders."
    return ("Agreeing the plan starts the clock of the first family planning meeting (Team "
            f"Around the Child): due within {wording.weeks(policy.caf.first_meeting_within)}.")


def agreed_words(qa: CafQa, ep: CafEpisode) -> str:
    """What an agreement did."""
    if qa.kind == CLOSURE:
        return "the CAF is closed with no further action; its reminders stop."
    return ("the plan is agreed; the first family planning meeting is due by "
            f"{wording.day(ep.next_meeting_due)}.")


def returned_words(qa: CafQa) -> str:
    """What returning did."""
    if qa.kind == CLOSURE:
        return "not agreed; the CAF stays open. The reasons went to the people holding it:"
    return "the lead professional and the co-ordinator are told why:"


@dataclass
class QaResult:
    """What a QA action did; ``status`` is ``ok`` or why nothing changed."""

    status: str  # ok | not_found | decided | closed | invalid
    qa: CafQa | None = None
    episode: CafEpisode | None = None
    action: str = ""  # requested | agreed | returned
    actor: str = ""
    message: str = ""
    who: str = ""  # the person a refusal is about (mentioned before ``message``)

    @property
    def ok(self) -> bool:
        """True when the action changed something."""
        return self.status == "ok"


def card_key(qa: CafQa) -> str:
    """The QA card's outbox key (its redraw finds the message by it)."""
    return f"cafqa:{qa.id}:card"


def clock_name(qa: CafQa) -> str:
    """The QA-due reminder's clock on the episode (``caf:{episode}:{clock}:due``)."""
    return f"qa-{qa.id}"


class QaService:
    """Requests for a CAF manager's quality assurance, and the manager's answers."""

    def __init__(self, caf: CafService, notify: CafMessaging) -> None:
        self.caf = caf
        self.notify = notify
        caf.on_added.append(self.on_added)

    # --- asking --------------------------------------------------------------------

    def on_added(self, s: Session, ep: CafEpisode, actor: str, now: datetime) -> None:
        """A CAF registered with its assessment completed: a manager quality assures it."""
        if ep.source in QA_SOURCES and ep.last_meeting_on is None:
            # Audited by the registration itself (its snapshot says the QA is awaited).
            self._request(s, ep, PLAN, actor, now, audit=False)

    def _request(self, s: Session, ep: CafEpisode, kind: str, actor: str,
                 now: datetime, *, audit: bool = True) -> CafQa:
        rounds = s.exec(select(func.count()).select_from(CafQa).where(  # type: ignore[call-overload]
            CafQa.episode_id == ep.id, CafQa.kind == kind)).scalar_one()
        qa = CafQa(episode_id=ep.id or 0, kind=kind, round=int(rounds) + 1,
                   requested_by=actor, requested_at=now)
        s.add(qa)
        s.flush()
        old = ep.qa_status
        if kind == PLAN:  # the first TAC clock waits for the manager
            ep.qa_status = AWAITING
            if ep.last_meeting_on is None:
                ep.next_meeting_due = None
                repo.stop_all(s, subject_type=SUBJECT, subject_id=ep.id or 0,
                                kinds=("tac_overdue",))
        if audit:
            repo.audit(s, actor=actor, action="caf.qa_requested", subject_type=SUBJECT,
                       subject_id=ep.id, old=f"{kind} {old or '-'}", new=f"{kind} {AWAITING}",
                       reason=f"round {qa.round}", at=now)
        due = self.caf.policy.calendar.next_open(now + self.caf.policy.caf.qa_within)
        repo.schedule(s, key=f"{SUBJECT}:{ep.id}:{clock_name(qa)}:due", kind=KIND_QA_DUE,
                      subject_type=SUBJECT, subject_id=ep.id or 0, due_at=due,
                      payload={"qa": qa.id})
        intents.queue(s, intents.CAF_QA_CARD, key=card_key(qa),
                      to=intents.conversation(self.caf.policy.channel(CHANNEL, ep.platform)),
                      data={"qa": intents.snapshot(qa), "episode": intents.snapshot(ep),
                            "due": due.isoformat()},
                      subject_type=SUBJECT, subject_id=ep.id, platform=ep.platform)
        return qa

    def resubmit(self, qa_id: int, actor: str) -> QaResult:
        """A returned assessment marked complete again: a new QA card (the next round)."""

        def act(s: Session, ep: CafEpisode, now: datetime) -> QaResult:
            if ep.qa_status == AWAITING:
                return QaResult("invalid", episode=ep, message=(
                    f"CAF {ep.ehm_reference} is already with a CAF manager for quality "
                    "assurance."))
            if ep.qa_status != RETURNED:
                return QaResult("invalid", episode=ep, message=(
                    f"The plan for CAF {ep.ehm_reference} is agreed already."))
            qa = self._request(s, ep, PLAN, actor, now)
            return QaResult("ok", qa, ep, action="requested", actor=actor)

        return self._on_episode(qa_id, act)

    def request_closure(self, episode_id: int, actor: str) -> QaResult:
        """Closing with no further action: a manager's agreement is asked for (1R)."""

        def act(s: Session, ep: CafEpisode, now: datetime) -> QaResult:
            waiting = s.exec(select(CafQa).where(  # type: ignore[call-overload]
                CafQa.episode_id == ep.id, CafQa.kind == CLOSURE,
                CafQa.status == AWAITING)).scalars().first()
            if waiting is not None:
                return QaResult("invalid", waiting, ep, message=(
                    f"Closing CAF {ep.ehm_reference} with no further action is already waiting "
                    "for a CAF manager's agreement."))
            qa = self._request(s, ep, CLOSURE, actor, now)
            return QaResult("ok", qa, ep, action="requested", actor=actor)

        return self._locked(episode_id, act)

    # --- the manager's answer ----------------------------------------------------------

    def agree(self, qa_id: int, actor: str) -> QaResult:
        """A manager agrees: the plan is agreed and the first TAC clock starts today, or
        the CAF closes with no further action."""

        def act(s: Session, ep: CafEpisode, now: datetime) -> QaResult:
            qa = self._awaiting(s, qa_id)
            if isinstance(qa, QaResult):
                return qa
            if qa.kind == PLAN:
                ep.qa_status, ep.plan_agreed_on = AGREED, self.caf.today(now)
                if ep.next_meeting_due is None:  # not held, nor arranged while waiting
                    ep.next_meeting_due = self.caf.due_after(ep)
                self.caf._schedule_meeting(s, ep)  # the first TAC clock, from today
                why = f"next family planning meeting due by {ep.next_meeting_due}"
            else:
                repo.stop_all(s, subject_type=SUBJECT, subject_id=ep.id or 0)
                repo.audit(s, actor=actor, action="caf.close", subject_type=SUBJECT,
                           subject_id=ep.id, old=ep.status, new="closed", reason=NFA, at=now)
                ep.status, ep.close_reason, ep.closed_at = "closed", NFA, now
                why = "closed with no further action"
            self._decide(s, ep, qa, AGREED, actor, now, why)
            return QaResult("ok", qa, ep, action="agreed", actor=actor)

        return self._on_episode(qa_id, act, self._told)

    def send_back(self, qa_id: int, actor: str, reasons: str) -> QaResult:
        """A manager returns the assessment (or the closure) with ``reasons``, which must
        already have passed the no-names guard."""
        reasons = reasons.strip()
        if not reasons:
            return QaResult("invalid", message="Say what needs to change.")

        def act(s: Session, ep: CafEpisode, now: datetime) -> QaResult:
            qa = self._awaiting(s, qa_id)
            if isinstance(qa, QaResult):
                return qa
            if qa.kind == PLAN:
                ep.qa_status = RETURNED
            qa.reasons = reasons
            self._decide(s, ep, qa, RETURNED, actor, now, reasons)
            return QaResult("ok", qa, ep, action="returned", actor=actor)

        return self._on_episode(qa_id, act, self._told)

    def denied(self, qa_id: int | None, actor: str, action: str) -> None:
        """Audit an attempt by someone who may not answer (nothing else changes)."""
        with self.caf.tx.session(write=True) as s:
            repo.audit(s, actor=actor, action=f"denied.caf_qa.{action}", subject_type="caf_qa",
                       subject_id=qa_id or "-", at=self.caf.clock())

    def get(self, qa_id: int) -> tuple[CafQa, CafEpisode] | None:
        """A request and its episode."""
        with self.caf.tx.session() as s:
            qa = s.get(CafQa, qa_id)
            ep = s.get(CafEpisode, qa.episode_id) if qa else None
            return (qa, ep) if qa is not None and ep is not None else None

    aresubmit = threaded(resubmit)
    arequest_closure = threaded(request_closure)
    aagree = threaded(agree)
    asend_back = threaded(send_back)
    adenied = threaded(denied)
    aget = threaded(get)

    # --- plumbing --------------------------------------------------------------------

    def _awaiting(self, s: Session, qa_id: int) -> CafQa | QaResult:
        qa = s.exec(select(CafQa).where(CafQa.id == qa_id)  # type: ignore[call-overload,arg-type]
                    .with_for_update()).scalar_one_or_none()
        if qa is None:
            return QaResult("not_found", message="That quality assurance request no longer "
                            "exists.")
        if qa.status != AWAITING:  # the renderer mentions ``who`` before the words
            return QaResult("decided", qa, message=f"{qa.status} this already. Nothing was "
                            "changed.", who=qa.decided_by or "")
        return qa

    def _decide(self, s: Session, ep: CafEpisode, qa: CafQa, status: str, actor: str,
                now: datetime, why: str) -> None:
        qa.status, qa.decided_by, qa.decided_at = status, actor, now
        s.add(qa)
        others = s.exec(select(CafQa.id).where(  # type: ignore[call-overload]
            CafQa.episode_id == ep.id, CafQa.status == AWAITING, CafQa.id != qa.id)).scalars()
        repo.stop_all(s, subject_type=SUBJECT, subject_id=ep.id or 0, kinds=(KIND_QA_DUE,),
                        keep=tuple(f"qa-{i}" for i in others))
        repo.audit(s, actor=actor, action=f"caf.qa_{status}", subject_type=SUBJECT,
                   subject_id=ep.id, old=f"{qa.kind} {AWAITING}", new=f"{qa.kind} {status}",
                   reason=why, at=now)

    def _told(self, s: Session, result: QaResult) -> None:
        """The card redrawn with the answer; the people holding the CAF told."""
        qa, ep = result.qa, result.episode
        if qa is None or ep is None:
            return
        data = {"qa": intents.snapshot(qa), "episode": intents.snapshot(ep)}
        channel = self.caf.policy.channel(CHANNEL, ep.platform)
        intents.queue(s, intents.CAF_QA_CARD_DONE, key=f"cafqa:{qa.id}:{qa.status}:card",
                      to=intents.conversation(channel), data=data, subject_type=SUBJECT,
                      subject_id=ep.id, of_key=card_key(qa), platform=ep.platform)
        if qa.kind == CLOSURE and qa.status == AGREED:  # closed: as any closure says it
            self.notify(s, CafResult("ok", ep, action="close", actor=result.actor))
            return
        people = recipients(ep)
        if qa.status == RETURNED and qa.requested_by not in people:
            people.append(qa.requested_by)
        intent = intents.CAF_QA_AGREED if qa.status == AGREED else intents.CAF_QA_RETURNED
        for user in people:
            intents.queue(s, intent, key=f"cafqa:{qa.id}:{qa.status}:{user}",
                          to=intents.person(user), data=data, subject_type=SUBJECT,
                          subject_id=ep.id, platform=ep.platform)

    def _locked(self, episode_id: int, act: Callable[[Session, CafEpisode, datetime], QaResult],
                effects: Callable[[Session, QaResult], None] | None = None) -> QaResult:
        def check(ep: CafEpisode) -> QaResult | None:
            if ep.status != "open":
                return QaResult("closed", episode=ep,
                                message=f"CAF {ep.ehm_reference} is closed.")
            return None

        return locked_action(
            self.caf.tx, CafEpisode, episode_id, self.caf.clock(), act, effects,
            check=check,
            missing=lambda: QaResult("not_found", message="That CAF episode no longer exists."))

    def _on_episode(self, qa_id: int, act: Callable[[Session, CafEpisode, datetime], QaResult],
                    effects: Callable[[Session, QaResult], None] | None = None) -> QaResult:
        """``act`` on the request's episode, locked (the episode first, as every CAF action)."""
        found = self.get(qa_id)
        if found is None:
            return QaResult("not_found", message="That quality assurance request no longer "
                            "exists.")
        return self._locked(found[0].episode_id, act, effects)


# --- the service's clock: a request not answered in time ------------------------------


def qa_due(s: Session, sv: Services, r: Reminder, now: datetime) -> bool:
    """A QA request still waiting at the policy's ``qa_within``: said once in the channel."""
    qa = s.get(CafQa, int(r.payload.get("qa") or 0))
    ep = s.get(CafEpisode, qa.episode_id) if qa is not None else None
    if qa is None or ep is None or qa.status != AWAITING or ep.status != "open":
        return False
    intents.queue(s, intents.CAF_QA_DUE, key=f"cafqa:{qa.id}:due",
                  to=intents.conversation(sv.policy.channel(CHANNEL, ep.platform)),
                  data={"qa": intents.snapshot(qa), "episode": intents.snapshot(ep),
                        "due": r.due_at.isoformat()},
                  subject_type=SUBJECT, subject_id=ep.id, platform=ep.platform)
    return True


NUDGES: dict[str, Callable[[Session, Any, Reminder, datetime], bool]] = {KIND_QA_DUE: qa_due}


# --- the weekly figures ----------------------------------------------------------------


def week_figures(s: Session, start: datetime, end: datetime) -> dict[str, int]:
    """CAF assessments awaiting QA at the week's end, and agreed and returned in it."""

    def count(*where: Any) -> int:
        stmt = select(func.count()).select_from(CafQa).where(*where)
        return int(s.exec(stmt).scalar_one())  # type: ignore[call-overload]

    decided = (CafQa.decided_at >= start, CafQa.decided_at < end)  # type: ignore[operator]
    return {
        "awaiting": count(CafQa.requested_at < end,  # type: ignore[operator]
                          (CafQa.status == AWAITING) | (CafQa.decided_at >= end)),  # type: ignore[operator]
        "agreed": count(CafQa.status == AGREED, *decided),
        "returned": count(CafQa.status == RETURNED, *decided),
    }
