"""CAF episodes: registration, family planning meetings, the stuck-CAF route and closure.

Pure of Slack, like the triage flow: each action runs in one write transaction,
locks the episode row, checks its state, records an audit entry, moves the
episode's reminders, and calls ``effects`` before commit so that the caller
queues its messages in the same transaction (``bot.flows.caf.messaging``).

The clocks (MASH-to-CAF guidance; Barnet process map 2; the policy's ``caf``
cadences):

* the first family planning meeting is due ``first_meeting_within`` after the
  CAF was completed, then ``meeting_interval`` after the last one held; a
  rearranged date replaces the due date;
* a meeting is overdue once its due date is over: the nudge fires when the
  front door next opens after that day (never at a weekend or on a bank holiday);
* still open ``reassess_after`` the CAF was completed: a reassessment nudge;
* no lead professional: the escalation route of the guidance, one step at
  registration, one when the first meeting falls due, one a meeting interval
  later (the guidance gives no timescales, so the policy's cadences are used).

Reminder keys are unique (``caf:{id}:tac:{due}``), so scheduling again is a
no-op; a moved due date cancels the old key's pending reminder. Nothing here
holds a name: an episode is its EHM reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import nonames
from bot.flows.caf.flows import CLOSE_REASONS, NO_LEAD_STAGES, STUCK_ROUTE
from bot.flows.caf.models import CafResult, Effects, NewEpisode, Routable
from bot.flows.locked import locked_action
from bot.policy import Caf, Policy, id_example, id_fits
from store import repo
from store.models import CafEpisode, CafMeeting, Referral, Reminder, TriageCard
from store.runner import TxRunner, threaded
from store.types import utcnow

SUBJECT = "caf"

KIND_TAC = "tac_overdue"
KIND_REASSESS = "caf_reassess"
KIND_NO_LEAD = "caf_no_lead"


def reference_problem(ref: str, shape: Caf) -> str | None:
    """Why ``ref`` cannot be an EHM reference (None when it can).

    It must have the council's reference shape (the policy's ``caf.reference_pattern``)
    and pass the no-names guard, whatever a finding's kind: a reference is how staff
    find the case, and it is kept in the audit trail, which is never purged. The
    message shows the expected shape and never echoes what was given.
    """
    ref = ref.strip()
    if not ref:
        return "the EHM reference is required"
    if not shape.reference_matches(ref):
        return ("the EHM reference must be the case system's number, like "
                f"{shape.reference_example} (never a name, a date of birth or a postcode)")
    if nonames.scan(ref):
        return ("the EHM reference could identify a child: use the case system's number, "
                f"like {shape.reference_example}")
    return None


def user_problem(label: str, user: str | None, *, required: bool, platform: str
                 ) -> str | None:
    """Why ``user`` is not a usable user id on ``platform`` (None when it is, or may be
    empty); the message shows the policy's example, never what was given."""
    if not user:
        return f"the {label} is required" if required else None
    if not id_fits(platform, "user", user):
        what, example = id_example(platform)
        return f"the {label} must be {what} such as {example}"
    return None


def problems(new: NewEpisode, today: date, shape: Caf) -> list[tuple[str, str]]:
    """Everything wrong with a new episode, as ``(field, message)`` pairs (pure)."""
    out: list[tuple[str, str]] = []
    msg = reference_problem(new.ehm_reference, shape)
    if msg:
        out.append(("ehm_reference", msg))
    msg = user_problem("lead professional", new.lead_user_id, required=False,
                       platform=new.platform)
    if msg:
        out.append(("lead_professional", msg))
    msg = user_problem("co-ordinator", new.coordinator_user_id, required=True,
                       platform=new.platform)
    if msg:
        out.append(("coordinator", msg))
    if new.completed_on > today:
        out.append(("completed_on", f"the CAF completed date {new.completed_on} is in the future"))
    if new.last_meeting_on is not None:
        if new.last_meeting_on > today:
            out.append(("last_meeting_on",
                        f"the last meeting date {new.last_meeting_on} is in the future"))
        elif new.last_meeting_on < new.completed_on:
            out.append(("last_meeting_on", f"the last meeting date {new.last_meeting_on} is "
                        f"before the CAF was completed ({new.completed_on})"))
    return out


NOT_ROUTABLE = "Only a decided Green card not yet linked to a CAF can be routed to one."
_ANEW = "register the new episode under its own EHM reference."
CLOSED_CAF = "That CAF is closed: " + _ANEW


@dataclass(frozen=True)
class RouteTo:
    """Where a card routed under an EHM reference goes: ``link`` to the open episode
    (``link`` is what to route with), refused because that CAF is ``closed``
    (``message`` says so), or ``new``: register an episode from the form."""

    kind: str  # link | closed | new
    link: NewEpisode | None = None
    message: str = ""


def route_to(ep: CafEpisode | None, ref: str, today: date) -> RouteTo:
    """The rule for EHM reference ``ref`` given when routing a card (``ep``: its episode,
    if any): an open episode is linked to (the guidance's outcome 1); a closed one is never
    reopened, so a new episode needs its own reference."""
    if ep is None:
        return RouteTo("new")
    if ep.status != "open":
        return RouteTo("closed", message=CLOSED_CAF)
    # Linking uses only the reference: the episode keeps its people and consent.
    return RouteTo("link", NewEpisode(ref, None, None, today, ep.consent,
                                      platform=ep.platform))


class CafService:
    """Actions on CAF episodes, each atomic and audited."""

    def __init__(
        self, tx: TxRunner, policy: Policy, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.tx = tx
        self.policy = policy
        self.clock = clock
        # Run in the transaction that adds an episode, before its clocks are set: the
        # manager's quality assurance (``bot.flows.caf.qa``) holds the first TAC clock until then.
        self.on_added: list[Callable[[Session, CafEpisode, str, datetime], None]] = []

    # --- time ------------------------------------------------------------

    def today(self, now: datetime | None = None) -> date:
        """The authority's local date (at ``now``, default the service clock)."""
        return (now or self.clock()).astimezone(self.policy.tz).date()

    def morning_of(self, d: date) -> datetime:
        """When the front door opens on ``d`` or, if closed that day, next after it."""
        midnight = datetime.combine(d, time(0, 0), tzinfo=self.policy.tz)
        return self.policy.calendar.next_open(midnight)

    def overdue_at(self, due: date) -> datetime:
        """When a meeting due by ``due`` is overdue: the first opening after that day."""
        return self.morning_of(due + timedelta(days=1))

    def tac_nudge_at(self, due: date, nudge: int) -> datetime:
        """When the ``nudge``-th overdue nudge about a meeting due by ``due`` fires: the
        first when the meeting is overdue, each repeat the policy's ``tac_nudge_every``
        later (on a day the front door is open)."""
        every = self.policy.caf.tac_nudge_every
        return self.morning_of(due + timedelta(days=1) + (nudge - 1) * every)

    def schedule_tac_nudge(self, s: Session, ep: CafEpisode, due: date, nudge: int,
                           now: datetime | None = None) -> None:
        """Schedule the ``nudge``-th overdue nudge (1: the first) as a reminder row in ``s``.

        Its key names the meeting and the count, so each fires once; recording, moving or
        closing cancels every pending one (they are all ``tac_overdue``). A repeat queued
        at ``now`` is a full cadence after it at the earliest: a sweep that ran late (the
        process was down) sends one repeat, not one for each week it missed."""
        at = self.tac_nudge_at(due, nudge)
        if now is not None:
            at = max(at, self.morning_of(self.today(now) + self.policy.caf.tac_nudge_every))
        key = f"caf:{ep.id}:tac:{due.isoformat()}" + (f":{nudge}" if nudge > 1 else "")
        ensure_reminder(s, key=key, kind=KIND_TAC, subject_id=ep.id or 0, due_at=at,
                        payload={"due": due.isoformat(), "nudge": str(nudge)})

    def reassess_on(self, ep: CafEpisode) -> date:
        """The date a CAF still open needs a reassessment."""
        return ep.completed_on + self.policy.caf.reassess_after

    def due_after(self, ep: CafEpisode) -> date | None:
        """The next meeting's due date from the cadences (ignoring any rearrangement);
        None while a manager has not agreed the plan (the first TAC clock starts then)."""
        caf = self.policy.caf
        if ep.last_meeting_on is not None:
            return ep.last_meeting_on + caf.meeting_interval
        if ep.qa_status in ("awaiting", "returned"):
            return None
        return (ep.plan_agreed_on or ep.completed_on) + caf.first_meeting_within

    def no_lead_at(self, ep: CafEpisode, stage: str, registered: datetime) -> datetime:
        """When each step of the no-lead route is due (relative to registration)."""
        caf = self.policy.caf
        if stage == "link_worker":
            return registered
        if stage == "panel":
            return max(registered + caf.first_meeting_within,
                       self.overdue_at(ep.completed_on + caf.first_meeting_within))
        return self.no_lead_at(ep, "panel", registered) + caf.meeting_interval

    # --- reading ---------------------------------------------------------

    def get(self, episode_id: int) -> CafEpisode | None:
        """An episode by id."""
        with self.tx.session() as s:
            return s.get(CafEpisode, episode_id)

    def find(self, ehm_reference: str) -> CafEpisode | None:
        """An episode by its EHM reference (case does not matter)."""
        with self.tx.session() as s:
            return _by_reference(s, ehm_reference)

    def route_target(self, ehm_reference: str) -> RouteTo:
        """What routing a card under ``ehm_reference`` (already shape-checked) would do:
        link, refuse (closed) or register anew (see ``route_to``)."""
        with self.tx.session() as s:
            return route_to(_by_reference(s, ehm_reference), ehm_reference, self.today())

    def meetings(self, episode_id: int) -> list[CafMeeting]:
        """An episode's recorded meetings, oldest first."""
        with self.tx.session() as s:
            stmt = (select(CafMeeting).where(CafMeeting.episode_id == episode_id)  # type: ignore[arg-type]
                    .order_by(CafMeeting.id))  # type: ignore[arg-type]
            return list(s.exec(stmt).scalars())  # type: ignore[call-overload]

    def routable(self, card_id: int) -> Routable | str:
        """Whether card ``card_id`` may be routed to a CAF: the card and what the form
        starts from, or why not. Only a decided Green card not linked to a CAF may be."""
        with self.tx.session() as s:
            card = s.get(TriageCard, card_id)
            referral = s.get(Referral, card.referral_id) if card else None
        if card is None or referral is None or card.status == "closed":
            return "This card is closed."
        if card.rating != "green" or card.caf_episode_id is not None:
            return NOT_ROUTABLE
        status = referral.consent_status
        consent = True if status == "given" else (False if status else None)
        answers = (referral.summary or {}).get("answers") or referral.summary or {}
        open_caf = answers.get("open_caf") == "yes" or any(
            r.get("rule") == "R-open-caf" for r in card.suggested_reasons or [])
        return Routable(card, consent, open_caf)

    # --- registering -----------------------------------------------------

    def register(
        self, new: NewEpisode, actor: str, *, source: str = "slash",
        effects: Effects | None = None,
    ) -> CafResult:
        """Register a CAF episode (``/caf``); its clocks start in the same transaction."""
        now = self.clock()
        found = problems(new, self.today(now), self.policy.caf)
        if found:
            return CafResult("invalid", message=_sentence(found), problems=found)
        try:
            with self.tx.session(write=True) as s:
                if _by_reference(s, new.ehm_reference) is not None:
                    return _duplicate(new.ehm_reference)
                ep = self.add(s, new, actor, source=source, now=now)
                result = CafResult("ok", ep, action="register", actor=actor)
                if effects is not None:
                    effects(s, result)
                return result
        except IntegrityError:  # registered by someone else at the same moment
            return _duplicate(new.ehm_reference)

    def add(
        self, s: Session, new: NewEpisode, actor: str, *, source: str, now: datetime
    ) -> CafEpisode:
        """Insert an (already validated) episode and schedule its reminders in ``s``."""
        ep = CafEpisode(
            ehm_reference=normalise_reference(new.ehm_reference),
            platform=new.platform,
            lead_user_id=new.lead_user_id or None,
            coordinator_user_id=new.coordinator_user_id or None,
            completed_on=new.completed_on,
            consent=new.consent,
            status="open",
            source=source,
            last_meeting_on=new.last_meeting_on,
            created_at=now,
            version=1,
        )
        s.add(ep)
        s.flush()
        for hook in self.on_added:
            hook(s, ep, actor, now)
        ep.next_meeting_due = self.due_after(ep)
        if new.last_meeting_on is not None:
            s.add(CafMeeting(episode_id=ep.id or 0, held_on=new.last_meeting_on,
                             recorded_by=actor, recorded_at=now))
        repo.audit(s, actor=actor, action="caf.register", subject_type=SUBJECT,
                   subject_id=ep.id, new=_snapshot(ep), reason=source, at=now)
        self._schedule_meeting(s, ep)
        repo.schedule(s, key=f"caf:{ep.id}:reassess", kind=KIND_REASSESS, subject_type=SUBJECT,
                      subject_id=ep.id or 0, due_at=self.morning_of(self.reassess_on(ep)),
                      payload={"on": self.reassess_on(ep).isoformat()})
        if ep.lead_user_id is None:
            for stage in NO_LEAD_STAGES:
                repo.schedule(s, key=f"caf:{ep.id}:nolead:{stage}", kind=KIND_NO_LEAD,
                              subject_type=SUBJECT, subject_id=ep.id or 0,
                              due_at=self.no_lead_at(ep, stage, now), payload={"stage": stage})
        return ep

    def route_from_card(
        self, card_id: int, actor: str, new: NewEpisode, *, effects: Effects | None = None
    ) -> CafResult:
        """A manager routes a decided Green card to a CAF.

        If the EHM reference is an open episode already (the guidance's outcome 1,
        "link to existing CAF episode"), the card is linked to it; otherwise a new
        episode is registered from the card. The card shows the link.
        """
        now = self.clock()
        with self.tx.session(write=True) as s:
            stmt = select(TriageCard).where(TriageCard.id == card_id)  # type: ignore[arg-type]
            card = s.exec(stmt.with_for_update()).scalar_one_or_none()  # type: ignore[call-overload]
            if card is None:
                return CafResult("not_found", message="That card no longer exists.")
            if card.status == "closed":
                return CafResult("closed", card=card, message="This card is closed.")
            if card.rating != "green":
                return CafResult("invalid", card=card, message="Only a card decided Green can "
                                 "be routed to a CAF: decide the rating first.")
            if card.caf_episode_id is not None:
                return CafResult("invalid", card=card,
                                 message="This card is already linked to a CAF episode.")
            msg = reference_problem(new.ehm_reference, self.policy.caf)
            if msg:  # checked before the lookup: only a reference is ever looked up or kept
                return CafResult("invalid", card=card, message=_sentence([("", msg)]),
                                 problems=[("ehm_reference", msg)])
            ep = _by_reference(s, new.ehm_reference)
            # The rule again, under the lock: the CAF may have closed since the form.
            to = route_to(ep, new.ehm_reference, self.today(now))
            linked = to.kind == "link"
            if ep is not None and to.kind == "closed":
                return CafResult("invalid", ep, card=card,
                                 message=f"CAF {ep.ehm_reference} is closed: {_ANEW}")
            if ep is None:
                found = problems(new, self.today(now), self.policy.caf)
                if found:
                    return CafResult("invalid", card=card, message=_sentence(found),
                                     problems=found)
                ep = self.add(s, new, actor, source="card", now=now)
            card.caf_episode_id = ep.id
            card.version += 1
            s.add(card)
            repo.audit(s, actor=actor, action="card.route_caf", subject_type="card",
                       subject_id=card.id, new=ep.ehm_reference,
                       reason="linked to an existing episode" if linked else "new episode",
                       at=now)
            if linked:
                repo.audit(s, actor=actor, action="caf.link_card", subject_type=SUBJECT,
                           subject_id=ep.id, new=card.reference, at=now)
            s.flush()
            result = CafResult("ok", ep, action="route", actor=actor, card=card, linked=linked)
            if effects is not None:
                effects(s, result)
            return result

    # --- meetings --------------------------------------------------------

    def record_meeting(
        self, episode_id: int, actor: str, held_on: date, *, expect_due: date | None = None,
        effects: Effects | None = None,
    ) -> CafResult:
        """A family planning meeting was held: the next is due a meeting interval later."""

        def act(s: Session, ep: CafEpisode, now: datetime) -> CafResult:
            if held_on > self.today(now):
                return CafResult("invalid", ep, message="That date is in the future: use "
                                 "\"Rearranged\" for a meeting that has not happened yet.")
            if held_on < ep.completed_on:
                return CafResult("invalid", ep, message=f"That is before the CAF was completed "
                                 f"({_day(ep.completed_on)}).")
            old_due = ep.next_meeting_due
            s.add(CafMeeting(episode_id=ep.id or 0, held_on=held_on, recorded_by=actor,
                             recorded_at=now))
            if ep.last_meeting_on is None or held_on > ep.last_meeting_on:
                ep.last_meeting_on = held_on
            ep.next_meeting_due = self.due_after(ep)
            old_stage, ep.stuck_stage = ep.stuck_stage, None  # moving again
            repo.audit(s, actor=actor, action="caf.meeting_held", subject_type=SUBJECT,
                       subject_id=ep.id, old=_iso(old_due), new=held_on.isoformat(),
                       reason=f"next due {ep.next_meeting_due}"
                       + (f"; stuck route ({old_stage}) reset" if old_stage else ""), at=now)
            self._schedule_meeting(s, ep)
            return CafResult("ok", ep, action="held", actor=actor, old_due=old_due,
                             on=held_on)

        return self._run(episode_id, act, effects, expect_due=expect_due)

    def rearrange(
        self, episode_id: int, actor: str, to: date, *, expect_due: date | None = None,
        effects: Effects | None = None,
    ) -> CafResult:
        """The meeting was rearranged: ``to`` replaces the due date."""

        def act(s: Session, ep: CafEpisode, now: datetime) -> CafResult:
            if to < self.today(now):
                return CafResult("invalid", ep, message="That date has passed: choose the date "
                                 "the meeting is now arranged for, or record it as held.")
            if to == ep.next_meeting_due:
                return CafResult("invalid", ep, message="The meeting is already due then.")
            old_due = ep.next_meeting_due
            s.add(CafMeeting(episode_id=ep.id or 0, rearranged_to=to, recorded_by=actor,
                             recorded_at=now))
            ep.next_meeting_due = to
            repo.audit(s, actor=actor, action="caf.meeting_rearranged", subject_type=SUBJECT,
                       subject_id=ep.id, old=_iso(old_due), new=to.isoformat(), at=now)
            self._schedule_meeting(s, ep)
            return CafResult("ok", ep, action="rearranged", actor=actor, old_due=old_due,
                             on=to)

        return self._run(episode_id, act, effects, expect_due=expect_due)

    # --- the stuck-CAF route ---------------------------------------------

    def next_stuck_stage(self, ep: CafEpisode, actor: str) -> str:
        """Where asking for help would go now.

        One step along the route per ask; the co-ordinator is skipped when there is
        none or when it is the co-ordinator asking. At the panel it stays there.
        """
        current = STUCK_ROUTE.index(ep.stuck_stage) if ep.stuck_stage in STUCK_ROUTE else -1
        for stage in STUCK_ROUTE[current + 1:]:
            if stage == "coordinator" and (
                not ep.coordinator_user_id or ep.coordinator_user_id == actor
            ):
                continue
            return stage
        return STUCK_ROUTE[-1]

    def stuck(
        self, episode_id: int, actor: str, note: str, *, effects: Effects | None = None
    ) -> CafResult:
        """Ask for help with a stuck CAF: the next step of the route is told and recorded.

        ``note`` must already have passed the no-names guard.
        """
        note = note.strip()
        if not note:
            return CafResult("invalid", message="Say briefly what is stuck.")

        def act(s: Session, ep: CafEpisode, now: datetime) -> CafResult:
            stage = self.next_stuck_stage(ep, actor)
            old, ep.stuck_stage = ep.stuck_stage, stage
            repo.audit(s, actor=actor, action="caf.stuck", subject_type=SUBJECT,
                       subject_id=ep.id, old=old, new=stage, reason=note, at=now)
            return CafResult("ok", ep, action="stuck", actor=actor, note=note, stage=stage)

        return self._run(episode_id, act, effects)

    # --- lead professional and closure -----------------------------------

    def set_lead(
        self, episode_id: int, actor: str, lead: str, *, effects: Effects | None = None
    ) -> CafResult:
        """A lead professional was found: the no-lead route stops."""

        def act(s: Session, ep: CafEpisode, now: datetime) -> CafResult:
            msg = user_problem("lead professional", lead, required=True, platform=ep.platform)
            if msg:  # an id of the episode's own platform
                return CafResult("invalid", ep, message=msg[0].upper() + msg[1:] + ".")
            if ep.lead_user_id == lead:
                return CafResult("invalid", ep, message="That is already the lead professional.")
            old, ep.lead_user_id = ep.lead_user_id, lead
            repo.stop_all(s, subject_type=SUBJECT, subject_id=ep.id or 0, kinds=(KIND_NO_LEAD,))
            repo.audit(s, actor=actor, action="caf.lead", subject_type=SUBJECT,
                       subject_id=ep.id, old=old, new=lead, at=now)
            return CafResult("ok", ep, action="lead", actor=actor)

        return self._run(episode_id, act, effects)

    def close(
        self, episode_id: int, actor: str, reason: str, *, effects: Effects | None = None
    ) -> CafResult:
        """Close the episode: every pending reminder is cancelled; nothing fires again."""
        if reason not in CLOSE_REASONS:
            return CafResult("invalid", message="Choose why the CAF is closing.")

        def act(s: Session, ep: CafEpisode, now: datetime) -> CafResult:
            repo.stop_all(s, subject_type=SUBJECT, subject_id=ep.id or 0)
            repo.audit(s, actor=actor, action="caf.close", subject_type=SUBJECT,
                       subject_id=ep.id, old=ep.status, new="closed", reason=reason, at=now)
            ep.status, ep.close_reason, ep.closed_at = "closed", reason, now
            return CafResult("ok", ep, action="close", actor=actor, old_due=ep.next_meeting_due)

        return self._run(episode_id, act, effects)

    def denied(self, episode_id: int | None, actor: str, action: str) -> None:
        """Audit an attempt by someone who may not act on this CAF (nothing else changes)."""
        with self.tx.session(write=True) as s:
            repo.audit(s, actor=actor, action=f"denied.caf.{action}", subject_type=SUBJECT,
                       subject_id=episode_id or "-", at=self.clock())

    # The same actions as coroutines, for code on the event loop (``store.runner``).
    aget = threaded(get)
    afind = threaded(find)
    aroute_target = threaded(route_target)
    aroutable = threaded(routable)
    aregister = threaded(register)
    aroute_from_card = threaded(route_from_card)
    arecord_meeting = threaded(record_meeting)
    arearrange = threaded(rearrange)
    astuck = threaded(stuck)
    aset_lead = threaded(set_lead)
    aclose = threaded(close)
    adenied = threaded(denied)

    # --- plumbing --------------------------------------------------------

    def _schedule_meeting(self, s: Session, ep: CafEpisode) -> None:
        """Cancel the pending overdue-meeting nudge and schedule one for the current due date."""
        repo.stop_all(s, subject_type=SUBJECT, subject_id=ep.id or 0, kinds=(KIND_TAC,))
        if ep.status != "open" or ep.next_meeting_due is None:
            return
        self.schedule_tac_nudge(s, ep, ep.next_meeting_due, 1)

    def _run(
        self,
        episode_id: int,
        act: Callable[[Session, CafEpisode, datetime], CafResult],
        effects: Effects | None,
        *,
        expect_due: date | None = None,
    ) -> CafResult:
        def check(ep: CafEpisode) -> CafResult | None:
            if ep.status != "open":
                why = CLOSE_REASONS.get(ep.close_reason or "", ep.close_reason or "")
                return CafResult("closed", ep, message=f"CAF {ep.ehm_reference} is closed"
                                 + (f" ({why})." if why else "."))
            if expect_due is not None and ep.next_meeting_due != expect_due:
                when = _day(ep.next_meeting_due)
                return CafResult("stale", ep, message=(
                    f"CAF {ep.ehm_reference} was updated already: the next family planning "
                    f"meeting is now due by {when}."))
            return None

        return locked_action(
            self.tx, CafEpisode, episode_id, self.clock(), act, effects, check=check,
            missing=lambda: CafResult("not_found", message="That CAF episode no longer exists."),
        )


def ensure_reminder(
    s: Session, *, key: str, kind: str, subject_id: int, due_at: datetime,
    payload: dict[str, str],
) -> None:
    """Schedule once per key; a key cancelled earlier (the date moved away and back) revives.

    A reminder that already fired (``done``) is left alone: a nudge is never sent twice.
    """
    if repo.schedule(s, key=key, kind=kind, subject_type=SUBJECT, subject_id=subject_id,
                     due_at=due_at, payload=payload):
        return
    row = s.exec(select(Reminder).where(Reminder.key == key)).scalar_one_or_none()  # type: ignore[call-overload,arg-type]
    if row is not None and row.status == "cancelled":
        row.status, row.due_at, row.payload, row.done_at = "pending", due_at, payload, None
        s.add(row)


def normalise_reference(ref: str) -> str:
    """References are stored trimmed and upper-cased, so ``ehm-1`` and ``EHM-1`` are one."""
    return ref.strip().upper()


def _by_reference(s: Session, ref: str) -> CafEpisode | None:
    stmt = select(CafEpisode).where(
        CafEpisode.ehm_reference == normalise_reference(ref))  # type: ignore[arg-type]
    return s.exec(stmt).scalars().first()  # type: ignore[call-overload]


def existing_references(s: Session, refs: Iterable[str]) -> set[str]:
    """Which of ``refs`` (upper-cased) are registered already."""
    wanted = sorted({normalise_reference(r) for r in refs})
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        stmt = select(CafEpisode.ehm_reference).where(
            CafEpisode.ehm_reference.in_(chunk))  # type: ignore[attr-defined]
        found.update(str(r) for r in s.exec(stmt).scalars())  # type: ignore[call-overload]
    return found


def _duplicate(ref: str) -> CafResult:
    msg = f"the EHM reference {normalise_reference(ref)} is registered already"
    return CafResult("duplicate", message=msg[0].upper() + msg[1:] + ".",
                     problems=[("ehm_reference", msg)])


def _sentence(found: list[tuple[str, str]]) -> str:
    text = "; ".join(m for _, m in found)
    return text[0].upper() + text[1:] + "." if text else ""


def _day(d: date | None) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}" if d else "not set"


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _snapshot(ep: CafEpisode) -> dict[str, object]:
    return {
        "ehm_reference": ep.ehm_reference, "lead": ep.lead_user_id,
        "coordinator": ep.coordinator_user_id, "completed_on": ep.completed_on.isoformat(),
        "consent": ep.consent, "next_meeting_due": _iso(ep.next_meeting_due),
        "qa": ep.qa_status,
    }


__all__ = [
    "CLOSED_CAF",
    "CafService",
    "RouteTo",
    "problems",
    "reference_problem",
    "route_to",
]
