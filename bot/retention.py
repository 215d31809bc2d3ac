"""Retention: delete what is older than the policy's retention from the last contact.

Advice consultations are commonly kept six years from the last contact
(NOTES.md, "Data protection"); the period is the policy's ``retention``. A
purge at ``now`` deletes, with ``cutoff = now - retention``:

* **consultations** whose ``last_contact_at`` is before the cutoff;
* **referrals** whose last contact is before the cutoff, counting their
  card's receipt, decisions and closure as contact, with their **triage card**
  and its **decisions**;
* **flows** (saved conversations) last updated before the cutoff, unless a
  consultation or referral that is kept still points at them;
* **reminders** and **outbox rows** of what is deleted, and finished ones
  (reminders done or cancelled, outbox rows sent or dead) older than the cutoff;
* **professionals** with nothing left that refers to them and no update since
  the cutoff (their own details are personal data too);
* **CAF episodes** closed before the cutoff, with no meeting recorded since and no
  kept triage card linked to them, with their **meetings**, reminders and outbox
  rows (an open episode is never purged, however old);
* **processed event ids** (``processed_event``: the platforms' event ids, kept only
  so a retried delivery does nothing twice) older than :data:`EVENT_IDS_KEPT`,
  whatever the policy's retention: retries come within minutes, and the ids are of
  no use afterwards.

Children go before parents (the database enforces the foreign keys). The
audit table is append-only and is never touched: the purge itself is
recorded there as one entry with counts, not contents. ``dry_run`` counts
without deleting and records nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlmodel import Session

from bot.flows.caf.service import SUBJECT as CAF_SUBJECT
from bot.policy import Policy, format_duration
from store import repo
from store.models import (
    CafEpisode,
    CafMeeting,
    CafQa,
    Consultation,
    Decision,
    FlowSession,
    OutboxMessage,
    ProcessedEvent,
    Professional,
    Referral,
    Reminder,
    TriageCard,
)

CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit
KINDS = (
    "consultations",
    "referrals",
    "cards",
    "decisions",
    "flows",
    "reminders",
    "outbox",
    "professionals",
    "caf_episodes",
    "caf_meetings",
    "caf_qa",
    "processed_events",
)
# Slack retries an event within minutes (three times, up to about an hour in all):
# a day is ample, and the table would otherwise grow by every event for ever.
EVENT_IDS_KEPT = timedelta(days=1)


@dataclass
class PurgeResult:
    """What a purge deleted (or, in a dry run, would delete)."""

    cutoff: datetime
    dry_run: bool
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    @property
    def total(self) -> int:
        """Rows deleted in all."""
        return sum(self.counts.values())

    def describe(self) -> str:
        """One line: "would delete consultations: 3, flows: 2 (...)" or "deleted ..."."""
        verb = "would delete" if self.dry_run else "deleted"
        parts = [f"{k}: {n}" for k, n in self.counts.items() if n]
        what = ", ".join(parts) if parts else "nothing"
        # Event ids have their own, short period: say so where they are counted.
        events = "; event ids after a day" if self.counts.get("processed_events") else ""
        return (f"{verb} {what} (last contact before "
                f"{self.cutoff.isoformat(timespec='seconds')}{events})")


def _words(td: timedelta) -> str:
    """A retention period in words: "6 years", "400 days"."""
    if td.days and td.days % 365 == 0 and not td.seconds:
        years = td.days // 365
        return f"{years} year{'s' if years != 1 else ''}"
    return format_duration(td)


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


def _ids(session: Session, stmt: Any) -> list[int]:
    return sorted(int(i) for i in session.exec(stmt).scalars())  # type: ignore[call-overload]


def _card_last_contact() -> Any:
    """The latest contact on a card: receipt, first or later decision, closure."""
    last_decision = (
        select(func.max(Decision.at))
        .where(Decision.card_id == TriageCard.id)  # type: ignore[arg-type]
        .correlate(TriageCard)
        .scalar_subquery()
    )
    return TriageCard.received_at, TriageCard.decided_at, TriageCard.closed_at, last_decision


def _subject_ids(session: Session, model: Any, subject_type: str, ids: Sequence[int]) -> list[int]:
    found: list[int] = []
    for chunk in _chunks(ids):
        found += _ids(session, select(model.id).where(model.subject_type == subject_type)
                      .where(model.subject_id.in_(chunk)))
    return found


def _closed_episodes(session: Session, cutoff: datetime, purged_cards: set[int]) -> list[int]:
    """CAF episodes closed before ``cutoff``, with no meeting recorded since and no kept card.

    An episode's last contact is its closure or its last meeting recorded, whichever is
    later; a triage card that is kept and linked to the episode keeps it too (the link
    is a foreign key, and the card's history names the CAF it went to).
    """
    recent_meeting = exists().where(and_(
        CafMeeting.episode_id == CafEpisode.id,  # type: ignore[arg-type]
        CafMeeting.recorded_at >= cutoff))  # type: ignore[operator]
    candidates = _ids(session, select(CafEpisode.id)
                      .where(CafEpisode.status == "closed")
                      .where(CafEpisode.closed_at < cutoff)  # type: ignore[operator]
                      .where(~recent_meeting))
    linked = session.exec(select(TriageCard.id, TriageCard.caf_episode_id).where(  # type: ignore[call-overload]
        TriageCard.caf_episode_id.is_not(None)))  # type: ignore[union-attr]
    kept = {int(ep) for card, ep in linked if int(card) not in purged_cards}
    return [i for i in candidates if i not in kept]


def purge(
    session: Session,
    policy: Policy,
    now: datetime,
    *,
    dry_run: bool = False,
    actor: str = "frontdoor",
) -> PurgeResult:
    """Delete (or count, with ``dry_run``) what is past retention; audit a real purge.

    Runs in the caller's transaction: either everything listed goes, with its
    audit entry, or nothing does.
    """
    cutoff = now - policy.retention
    result = PurgeResult(cutoff=cutoff, dry_run=dry_run)

    purged_consultation = Consultation.last_contact_at < cutoff  # type: ignore[operator]
    consultations = _ids(session, select(Consultation.id).where(purged_consultation))

    # A referral is past retention only when its card has seen no contact since either.
    recent_card = exists().where(and_(
        TriageCard.referral_id == Referral.id,  # type: ignore[arg-type]
        or_(*[t >= cutoff for t in _card_last_contact()]),
    ))
    purged_referral = and_(Referral.last_contact_at < cutoff, ~recent_card)  # type: ignore[operator]
    referrals = _ids(session, select(Referral.id).where(purged_referral))
    cards: list[int] = []
    for chunk in _chunks(referrals):
        cards += _ids(session, select(TriageCard.id).where(
            TriageCard.referral_id.in_(chunk)))  # type: ignore[attr-defined]
    decisions: list[int] = []
    for chunk in _chunks(cards):
        decisions += _ids(session, select(Decision.id).where(
            Decision.card_id.in_(chunk)))  # type: ignore[attr-defined]

    # Flows that no consultation or referral being kept still points at.
    kept_by_consultation = exists().where(and_(
        Consultation.flow_id == FlowSession.id, ~purged_consultation))  # type: ignore[arg-type]
    kept_by_referral = exists().where(and_(
        Referral.flow_id == FlowSession.id, ~purged_referral))  # type: ignore[arg-type]
    flows = _ids(session, select(FlowSession.id)
                 .where(FlowSession.updated_at < cutoff)  # type: ignore[arg-type,operator]
                 .where(~kept_by_consultation).where(~kept_by_referral))

    episodes = _closed_episodes(session, cutoff, set(cards))
    meetings: list[int] = []
    for chunk in _chunks(episodes):
        meetings += _ids(session, select(CafMeeting.id).where(
            CafMeeting.episode_id.in_(chunk)))  # type: ignore[attr-defined]
    qas: list[int] = []  # a manager's quality assurance of each (bot.flows.caf.qa)
    for chunk in _chunks(episodes):
        qas += _ids(session, select(CafQa.id).where(
            CafQa.episode_id.in_(chunk)))  # type: ignore[attr-defined]
    events = sorted(str(e) for e in session.exec(select(ProcessedEvent.event_id).where(  # type: ignore[call-overload]
        ProcessedEvent.received_at < now - EVENT_IDS_KEPT)).scalars())  # type: ignore[operator]

    reminders = set(_subject_ids(session, Reminder, "consultation", consultations))
    reminders |= set(_subject_ids(session, Reminder, "card", cards))
    reminders |= set(_subject_ids(session, Reminder, "referral", referrals))
    reminders |= set(_subject_ids(session, Reminder, CAF_SUBJECT, episodes))
    reminders |= set(_ids(session, select(Reminder.id)
                          .where(Reminder.status.in_(("done", "cancelled")))  # type: ignore[attr-defined]
                          .where(func.coalesce(Reminder.done_at, Reminder.due_at) < cutoff)))
    outbox = set(_subject_ids(session, OutboxMessage, "consultation", consultations))
    outbox |= set(_subject_ids(session, OutboxMessage, "card", cards))
    outbox |= set(_subject_ids(session, OutboxMessage, "referral", referrals))
    outbox |= set(_subject_ids(session, OutboxMessage, CAF_SUBJECT, episodes))
    outbox |= set(_ids(session, select(OutboxMessage.id)
                       .where(OutboxMessage.status.in_(("sent", "dead")))  # type: ignore[attr-defined]
                       .where(func.coalesce(OutboxMessage.sent_at,
                                            OutboxMessage.created_at) < cutoff)))

    # Professionals with nothing kept that refers to them.
    kept_c = exists().where(and_(
        Consultation.professional_id == Professional.id, ~purged_consultation))  # type: ignore[arg-type]
    kept_r = exists().where(and_(
        Referral.professional_id == Professional.id, ~purged_referral))  # type: ignore[arg-type]
    professionals = _ids(session, select(Professional.id)
                         .where(Professional.updated_at < cutoff)  # type: ignore[arg-type,operator]
                         .where(~kept_c).where(~kept_r))

    plan: list[tuple[str, Any, Sequence[int]]] = [
        ("outbox", OutboxMessage, sorted(outbox)),
        ("reminders", Reminder, sorted(reminders)),
        ("decisions", Decision, decisions),
        ("cards", TriageCard, cards),
        ("referrals", Referral, referrals),
        ("consultations", Consultation, consultations),
        ("flows", FlowSession, flows),
        ("professionals", Professional, professionals),
        # After the cards: a card's link is the only other row pointing at an episode.
        ("caf_meetings", CafMeeting, meetings),
        ("caf_qa", CafQa, qas),
        ("caf_episodes", CafEpisode, episodes),
    ]
    for name, _, ids in plan:
        result.counts[name] = len(ids)
    result.counts["processed_events"] = len(events)
    if dry_run:
        return result
    for _, model, ids in plan:
        for chunk in _chunks(ids):
            session.execute(delete(model).where(model.id.in_(chunk)))
    for i in range(0, len(events), CHUNK):
        session.execute(delete(ProcessedEvent).where(
            ProcessedEvent.event_id.in_(events[i : i + CHUNK])))  # type: ignore[attr-defined]
    repo.audit(
        session, actor=actor, action="retention.purge", subject_type="retention",
        subject_id=cutoff.date().isoformat(), new=result.counts,
        reason=f"older than {_words(policy.retention)} from the last contact "
               f"(before {cutoff.isoformat(timespec='seconds')})",
        at=now,
    )
    return result


__all__ = ["KINDS", "PurgeResult", "purge"]
