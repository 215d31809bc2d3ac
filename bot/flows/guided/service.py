"""FlowService: runs the guided flows against the database, for any chat front end.

Every action is one transaction (a ``store.tx.Tx``): read the professional's
active ``flow_session`` row, apply the action with ``FlowEngine``, save the new
state with a compare-and-set on ``version`` (two answers arriving together
apply once), write any records, call the caller's ``effects`` (outbox rows)
and commit. Nothing is kept in memory between calls, so a restart resumes
exactly. Answers are never logged; a refused answer is never written.

Each action is written once, as ``*_in(tx, ...)``, and runs in either kind of
transaction: moving to the next question and finishing a flow (its referral,
card and clocks) need only the fast statements; a consultation linked to earlier
ones walks their chain with the ORM, asking for ``tx.session``, which sends the
action to a full transaction (see ``store.tx``). The plain methods (``answer``
and so on) run an action in a full transaction in the calling thread.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.flows.guided import records, rules
from bot.flows.guided.checklist import completeness
from bot.flows.guided.flows import FlowEngine, FlowState
from bot.flows.guided.models import Status, Step
from bot.flows.guided.script import COMPLETED, REDIRECTED, URGENT, Context
from bot.flows.guided.scripts import KINDS, build
from bot.flows.guided.validate import Rejected
from bot.flows.triage.scheduled import start_card_clocks
from bot.policy import Policy
from store import sql
from store.models import FlowSession
from store.runner import TxRunner, threaded
from store.sql import FlowRow
from store.tx import Tx
from store.types import DEFAULT_PLATFORM, utcnow

Effects = Callable[[Tx, Step], None]
Action = Callable[[Tx, Effects | None], Step]

ALREADY_ANSWERED = "That question was already answered."
EARLIER = "That message belongs to an earlier conversation: nothing was changed."
REFUSED_MESSAGE = (
    "Your answer was not saved: it seems to contain details that could identify a child or "
    "family (shown only to you). Please describe it again without them."
)


ASK_MESSAGE = (
    "Your answer is not saved yet: a word in it could be a name (asked only of you)."
)


class Conflict(Exception):
    """Another action changed the flow first (compare-and-set lost): nothing was applied."""


def _fs(row: FlowRow) -> FlowState:
    return FlowState(row.state, dict(row.answers), list(row.history))


class FlowService:
    """Start, answer, go back, cancel, resume and expire guided flows."""

    def __init__(
        self,
        tx: TxRunner,
        policy: Policy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Build the scripts for ``policy``; ``clock`` gives "now" (tests inject it)."""
        self.tx = tx
        self.policy = policy
        self.clock = clock
        self.flows = {k: FlowEngine(build(k, policy)) for k in KINDS}

    # --- whole actions, each in a full transaction in the calling thread ----------

    def start(
        self, user_id: str, kind: str, *, effects: Effects | None = None,
        platform: str = DEFAULT_PLATFORM,
    ) -> Step:
        """Start a ``consult`` or ``refer`` flow, or return the one already active."""
        return self.run(user_id, lambda tx: self.start_in(tx, user_id, kind, effects,
                                                          platform=platform),
                        platform=platform)

    def current(self, user_id: str, *, platform: str = DEFAULT_PLATFORM) -> Step:
        """The active flow's current question (resume), or ``Status.NONE``.

        A flow found past its timeout is expired here and then, so a late
        resume says so instead of asking a question nobody will keep.
        """
        return self.run(user_id, lambda tx: self.current_in(tx, user_id, platform=platform),
                        platform=platform)

    def answer(
        self,
        user_id: str,
        value: str | list[str],
        *,
        expect: str | None = None,
        expect_flow: int | None = None,
        effects: Effects | None = None,
        platform: str = DEFAULT_PLATFORM,
    ) -> Step:
        """Answer the current question (see ``answer_in``)."""
        return self.run(user_id, lambda tx: self.answer_in(
            tx, user_id, value, effects, expect=expect, expect_flow=expect_flow,
            platform=platform), platform=platform)

    def back(self, user_id: str, *, effects: Effects | None = None,
             expect_flow: int | None = None, platform: str = DEFAULT_PLATFORM) -> Step:
        """Go back to the previous question; its answer is kept in ``Step.answers``."""
        return self.run(user_id, lambda tx: self.back_in(
            tx, user_id, effects, expect_flow=expect_flow, platform=platform),
            platform=platform)

    def cancel(self, user_id: str, *, effects: Effects | None = None,
               expect_flow: int | None = None, platform: str = DEFAULT_PLATFORM) -> Step:
        """Cancel the active flow; its answers are deleted."""
        return self.run(user_id, lambda tx: self.cancel_in(
            tx, user_id, effects, expect_flow=expect_flow, platform=platform),
            platform=platform)

    def rephrase(self, user_id: str, flow_id: int | None, *,
                 platform: str = DEFAULT_PLATFORM) -> Step:
        """The professional will rephrase a held answer (see ``rephrase_in``)."""
        return self.run(user_id, lambda tx: self.rephrase_in(tx, user_id, flow_id,
                                                             platform=platform),
                        platform=platform)

    def run(self, user_id: str, action: Callable[[Tx], Step], *,
            platform: str = DEFAULT_PLATFORM) -> Step:
        """Run ``action`` in a full transaction; if it lost a race, the flow as it now is."""
        try:
            return self.tx.run_full(action)[0]
        except Conflict:
            return self.reread(user_id, platform=platform)

    def reread(self, user_id: str, *, platform: str = DEFAULT_PLATFORM) -> Step:
        """After losing a race: the flow as it now is, with nothing applied."""
        with self.tx.session() as s:
            row = sql.active_flow(sql.Cx.of(s), user_id, platform)
        if row is None:
            return self._none(ALREADY_ANSWERED)
        return self._asking(row, message=ALREADY_ANSWERED)

    areread = threaded(reread)  # as a coroutine, for code on the event loop

    # --- actions inside a transaction (fast or full) --------------------------------

    def start_in(
        self, tx: Tx, user_id: str, kind: str, effects: Effects | None = None, *,
        platform: str = DEFAULT_PLATFORM,
    ) -> Step:
        """Start a flow of ``kind``, or say which one is already in progress."""
        if kind not in self.flows:
            raise ValueError(f"unknown flow kind {kind!r}")
        now = self._now()
        row = self._active(tx, user_id, platform)
        note = ""
        if row is not None and self._expired(row, now):
            self._expire_row(tx, row, now, effects)
            note = "Your earlier one had expired. "
        elif row is not None:
            return self._in_progress(row)
        flow = self.flows[kind]
        expires = now + self.policy.flows.timeout
        fid = sql.insert_flow(tx.cx, user_id=user_id, kind=kind, state=flow.script.first,
                              now=now, expires_at=expires, platform=platform)
        if fid is None:  # another start for this person got there first
            row = self._active(tx, user_id, platform)
            if row is None:
                raise Conflict
            return self._in_progress(row)
        new = FlowRow(id=fid, user_id=user_id, kind=kind, state=flow.script.first, answers={},
                      history=[], version=1, expires_at=expires, platform=platform)
        step = self._asking(
            new,
            message=note + "No names, please: never type a child's or family's name, "
            "date of birth, address or school.",
        )
        if effects:
            effects(tx, step)
        return step

    def current_in(self, tx: Tx, user_id: str, *, platform: str = DEFAULT_PLATFORM) -> Step:
        """The active flow's current question, expiring it if it is overdue."""
        return self._on_active(tx, user_id, lambda row, _now: (self._asking(row), False), None,
                               platform)

    def rephrase_in(self, tx: Tx, user_id: str, flow_id: int | None, *,
                    platform: str = DEFAULT_PLATFORM) -> Step:
        """"It could: I'll rephrase": the choice is audited (the answer was never kept),
        and the current question is returned to be asked again."""
        tx.audit(actor=user_id, action="nonames.rephrase", subject_type="flow",
                 subject_id=flow_id or None, at=self._now())
        return self.current_in(tx, user_id, platform=platform)

    def answer_in(
        self,
        tx: Tx,
        user_id: str,
        value: str | list[str],
        effects: Effects | None = None,
        *,
        expect: str | None = None,
        expect_flow: int | None = None,
        confirmed: frozenset[str] = frozenset(),
        platform: str = DEFAULT_PLATFORM,
    ) -> Step:
        """Answer the current question.

        ``expect`` (the question id a button belonged to) and ``expect_flow`` (its
        flow) make a repeated click, or a click on an old flow's message, do nothing.
        ``confirmed``: words the professional has said are ordinary words here, not names;
        the choice is audited, never the text.
        """
        now = self._now()
        row = self._active(tx, user_id, platform)
        if row is None:
            return self._none(ALREADY_ANSWERED if expect else "")
        if self._expired(row, now):
            return self._expire_row(tx, row, now, effects) or self._none()
        stale_flow = expect_flow is not None and expect_flow != row.id
        if stale_flow or (expect is not None and expect != row.state):
            return self._asking(row, message=ALREADY_ANSWERED)
        flow = self.flows[row.kind]
        ctx = Context(
            now=now,
            tz=self.policy.tz,
            reference_exists=lambda ref: records.consultation_by_reference(
                tx.session, ref) is not None,
            confirmed=frozenset(w.casefold() for w in confirmed),
        )
        result = flow.answer(_fs(row), value, ctx)
        if isinstance(result, Rejected):
            # Nothing written, and no effects: the handler shows the findings privately.
            return self._asking(
                row,
                status=Status.CONFIRM if result.asking else Status.REFUSED,
                message=(ASK_MESSAGE if result.asking else REFUSED_MESSAGE)
                if result.findings else result.errors[0],
                findings=result.findings,
                errors=result.errors,
            )
        if confirmed:
            # The professional said these words are not names: audit the choice, not the text.
            tx.audit(actor=user_id, action="nonames.ordinary_word", subject_type="flow",
                     subject_id=row.id, new={"words": len(confirmed)}, at=now)
        if flow.is_question(result.state):
            version = self._save(tx, row, result, now)
            step = self._asking(row, fs=result, version=version)
        else:
            step = self._finish(tx, row, result, now)
        if effects:
            effects(tx, step)
        return step

    def back_in(self, tx: Tx, user_id: str, effects: Effects | None = None, *,
                expect_flow: int | None = None, platform: str = DEFAULT_PLATFORM) -> Step:
        """Go back to the previous question.

        ``expect_flow``: the flow the button belonged to; a button of an earlier flow
        changes nothing and says so (``EARLIER``).
        """

        def act(row: FlowRow, now: datetime) -> tuple[Step, bool]:
            fs = self.flows[row.kind].back(_fs(row))
            if fs is None:
                return self._asking(row, message="This is the first question."), False
            version = self._save(tx, row, fs, now)
            return self._asking(row, fs=fs, version=version), True

        return self._on_active(tx, user_id, act, effects, platform, expect_flow)

    def cancel_in(self, tx: Tx, user_id: str, effects: Effects | None = None, *,
                  expect_flow: int | None = None, platform: str = DEFAULT_PLATFORM) -> Step:
        """Cancel the active flow; its answers are deleted. ``expect_flow`` as for
        ``back_in``."""

        def act(row: FlowRow, now: datetime) -> tuple[Step, bool]:
            flow = self.flows[row.kind]
            version = self._save(tx, row, flow.cancel(_fs(row)), now, status="cancelled")
            tx.audit(actor=user_id, action="flow.cancelled", subject_type="flow",
                     subject_id=row.id, old=row.state, at=now)
            return Step(
                Status.CANCELLED,
                flow_id=row.id,
                flow_kind=row.kind,
                message=f"Your {flow.script.noun} was cancelled: nothing was sent, "
                "and your answers were deleted.",
                version=version,
            ), True

        return self._on_active(tx, user_id, act, effects, platform, expect_flow)

    def _on_active(
        self,
        tx: Tx,
        user_id: str,
        act: Callable[[FlowRow, datetime], tuple[Step, bool]],
        effects: Effects | None,
        platform: str,
        expect_flow: int | None = None,
    ) -> Step:
        """Run ``act`` on the user's active flow.

        An overdue flow is expired instead; ``act`` says whether it changed the flow,
        and only a change runs ``effects``. With ``expect_flow``, a button of another
        (earlier) flow changes nothing: read and refused in this one transaction.
        """
        now = self._now()
        row = self._active(tx, user_id, platform)
        if expect_flow is not None and (row is None or row.id != expect_flow):
            return self._none(EARLIER)
        if row is None:
            return self._none()
        if self._expired(row, now):
            return self._expire_row(tx, row, now, effects) or self._none()
        step, changed = act(row, now)
        if changed and effects:
            effects(tx, step)
        return step

    # --- the sweep and the unused-in-chat helpers ----------------------------------

    def expire(
        self, now: datetime | None = None, *, effects: Effects | None = None
    ) -> list[tuple[str, Step]]:
        """Expire flows untouched for the policy's timeout: ``[(user_id, step)]``."""
        now = _utc(now) if now is not None else self._now()
        with self.tx.session() as s:
            ids = (
                s.exec(  # type: ignore[call-overload]
                    select(FlowSession.id)
                    .where(FlowSession.status == "active")
                    .where(FlowSession.expires_at <= now)  # type: ignore[operator]
                    .order_by(FlowSession.id)
                )
                .scalars()
                .all()
            )
        out: list[tuple[str, Step]] = []
        for flow_id in ids:
            # One transaction each: a sweep on another replica may take some first.
            try:
                done, _ = self.tx.run_full(
                    lambda tx, f=flow_id: self._expire_one(tx, f, now, effects))  # type: ignore[misc]
            except Conflict:
                continue
            if done is not None:
                out.append(done)
        return out

    def _expire_one(self, tx: Tx, flow_id: int, now: datetime, effects: Effects | None,
                    ) -> tuple[str, Step] | None:
        found = tx.session.get(FlowSession, flow_id)
        if found is None or found.status != "active":
            return None
        row = FlowRow(
            id=flow_id, user_id=found.user_id, kind=found.kind, state=found.state,
            answers=dict(found.answers or {}), history=list(found.history or []),
            version=found.version, expires_at=found.expires_at, platform=found.platform,
        )
        if not self._expired(row, now):
            return None  # answered since the sweep began
        step = self._expire_row(tx, row, now, effects)
        return None if step is None else (row.user_id, step)

    # --- finishing --------------------------------------------------------------------

    def _finish(self, tx: Tx, row: FlowRow, fs: FlowState, now: datetime) -> Step:
        """A terminal state: the safety gate, a redirect or a completed flow."""
        flow = self.flows[row.kind]
        base = {"flow_id": row.id, "flow_kind": row.kind, "platform": row.platform}
        done, total = flow.position(fs)
        base |= {"step_no": done, "step_total": total}
        if fs.state == URGENT:
            suggestion = rules.safety_gate(self.policy, now)
            referral, card = records.write_urgent(
                tx,
                user_id=row.user_id,
                platform=row.platform,
                flow_id=row.id,
                flow_kind=row.kind,
                suggestion=suggestion,
                now=now,
            )
            start_card_clocks(tx, self.policy, card, referral)
            version = self._save(tx, row, fs, now, status="completed",
                                 reference=referral.reference)
            return Step(
                Status.URGENT,
                **base,
                message=rules.urgent_message(self.policy, now),
                suggestion=suggestion,
                reference=referral.reference,
                referral_id=referral.id,
                card_id=card.id,
                version=version,
            )
        if fs.state == REDIRECTED:
            st = rules.suspended_for(fs.answers, self.policy)
            assert st is not None  # only a suspended type leads here
            version = self._save(tx, row, fs, now, status="completed")
            tx.audit(
                actor=row.user_id,
                action="flow.redirected",
                subject_type="flow",
                subject_id=row.id,
                new={"suspended_type": st.id},
                at=now,
            )
            return Step(
                Status.REDIRECTED,
                **base,
                message=st.redirect,
                suggestion=rules.redirect(st),
                version=version,
            )
        assert fs.state == COMPLETED
        if row.kind == "consult":
            return self._complete_consult(tx, row, fs, now, base)
        return self._complete_referral(tx, row, fs, now, base)

    def _complete_consult(
        self, tx: Tx, row: FlowRow, fs: FlowState, now: datetime, base: dict[str, Any]
    ) -> Step:
        count = 1
        earlier_ref = fs.answers.get("earlier_ref")
        if earlier_ref:  # a linked consultation: the chain is walked with the ORM
            earlier = records.consultation_by_reference(tx.session, earlier_ref)
            if earlier is not None:
                count = records.repeat_count(tx.session, earlier)
        suggestion = rules.suggest("consult", fs.answers, self.policy, now, repeat_count=count)
        c = records.write_consultation(
            tx,
            user_id=row.user_id,
            platform=row.platform,
            flow_id=row.id,
            answers=fs.answers,
            suggestion=suggestion,
            count=count,
            now=now,
        )
        version = self._save(tx, row, fs, now, status="completed", reference=c.reference)
        return Step(
            Status.COMPLETED,
            **base,
            answers=fs.answers,
            message=f"Thank you: consultation {c.reference} has gone to the duty advisor. "
            "The suggestion below is not a decision.",
            suggestion=suggestion,
            reference=c.reference,
            consultation_id=c.id,
            version=version,
        )

    def _complete_referral(
        self, tx: Tx, row: FlowRow, fs: FlowState, now: datetime, base: dict[str, Any]
    ) -> Step:
        suggestion = rules.suggest("refer", fs.answers, self.policy, now)
        referral, card = records.write_referral(
            tx,
            user_id=row.user_id,
            platform=row.platform,
            flow_id=row.id,
            answers=fs.answers,
            suggestion=suggestion,
            now=now,
        )
        start_card_clocks(tx, self.policy, card, referral)
        version = self._save(tx, row, fs, now, status="completed", reference=referral.reference)
        percent, gaps = completeness(fs.answers)
        missing = f" Missing: {'; '.join(gaps)}." if gaps else ""
        returned = (
            " It is likely to be returned to you (see why below) unless a manager decides "
            "otherwise."
            if suggestion.outcome == "returned"
            else ""
        )
        return Step(
            Status.COMPLETED,
            **base,
            answers=fs.answers,
            message=f"Thank you: referral {referral.reference} has gone to the front door. "
            f"It is {percent}% complete.{missing}{returned} A manager decides the rating; "
            "you will hear the outcome.",
            suggestion=suggestion,
            reference=referral.reference,
            referral_id=referral.id,
            card_id=card.id,
            version=version,
        )

    # --- helpers ------------------------------------------------------------------

    def _now(self) -> datetime:
        return _utc(self.clock())

    def _active(self, tx: Tx, user_id: str, platform: str) -> FlowRow | None:
        return sql.active_flow(tx.cx, user_id, platform)

    def _expired(self, row: FlowRow, now: datetime) -> bool:
        return row.expires_at is not None and row.expires_at <= now

    def _save(
        self,
        tx: Tx,
        row: FlowRow,
        fs: FlowState,
        now: datetime,
        *,
        status: str = "active",
        reference: str | None = None,
    ) -> int:
        """Compare-and-set the new state; raise ``Conflict`` if the row moved on."""
        values: dict[str, Any] = {
            "state": fs.state,
            "status": status,
            "history": fs.history,
            "version": row.version + 1,
            "updated_at": now,
        }
        if status == "active":
            values |= {"answers": fs.answers, "expires_at": now + self.policy.flows.timeout}
        else:
            # Finished: the record (if any) holds the summary; the working copy goes.
            values |= {"answers": {}, "ended_at": now}
        if reference is not None:
            values["reference"] = reference
        if not sql.save_flow(tx.cx, row.id, row.version, values):
            raise Conflict
        return row.version + 1

    def _expire_row(
        self, tx: Tx, row: FlowRow, now: datetime, effects: Effects | None
    ) -> Step | None:
        flow = self.flows[row.kind]
        fs = flow.expire(_fs(row))
        version = self._save(tx, row, fs, now, status="expired")
        tx.audit(
            actor="system",
            action="flow.expired",
            subject_type="flow",
            subject_id=row.id,
            old=row.state,
            at=now,
        )
        timeout = rules.human_duration(self.policy.flows.timeout)
        step = Step(
            Status.EXPIRED,
            platform=row.platform,
            flow_id=row.id,
            flow_kind=row.kind,
            message=f"Your {flow.script.noun} expired after {timeout} without an answer; "
            f"start again with {flow.script.command}",
            version=version,
        )
        if effects:
            effects(tx, step)
        return step

    def _in_progress(self, row: FlowRow) -> Step:
        noun = self.flows[row.kind].script.noun
        return self._asking(
            row, message=f"You already have a {noun} in progress: carry on, or cancel it first.")

    def _asking(
        self,
        row: FlowRow,
        *,
        fs: FlowState | None = None,
        version: int | None = None,
        status: Status = Status.ASKING,
        message: str = "",
        **extra: Any,
    ) -> Step:
        fs = fs or _fs(row)
        flow = self.flows[row.kind]
        step_no, total = flow.position(fs)
        return Step(
            status,
            platform=row.platform,
            flow_id=row.id,
            flow_kind=row.kind,
            prompt=flow.script.prompt(fs.state, fs.answers),
            step_no=step_no,
            step_total=total,
            answers=dict(fs.answers),
            can_go_back=bool(fs.history),
            message=message,
            version=row.version if version is None else version,
            **extra,
        )

    def _none(self, message: str = "") -> Step:
        return Step(
            Status.NONE,
            message=message or "Nothing is in progress: start with /consult or /refer.",
        )


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("the clock must give aware datetimes")
    return t.astimezone(UTC)
