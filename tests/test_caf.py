"""CAF episodes: registration, the meeting clocks, the stuck-CAF route, closure, no lead.

Every clock runs on an injected time and real reminder rows (SQLite, and
PostgreSQL when ``TEST_POSTGRES_URL`` is set): each nudge fires once, at the
right moment, to the right people, and nothing fires for a closed CAF.
Fictional people only; a CAF is only ever its EHM reference.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot import intents
from bot.config import Settings
from bot.flows.caf.messaging import CafMessaging
from bot.flows.caf.models import NewEpisode, Routable
from bot.flows.caf.service import (
    CLOSED_CAF,
    NOT_ROUTABLE,
    CafService,
    problems,
    reference_problem,
)
from bot.handlers.slack.blocks import caf as caf_blocks
from bot.handlers.slack.blocks import cards, ids
from bot.policy import Policy, load_policy
from bot.reminders import ReminderSweep
from bot.services import Services
from store import repo, sql
from store.db import session_scope
from store.models import (
    AuditEntry,
    CafEpisode,
    CafQa,
    OutboxMessage,
    Referral,
    Reminder,
    TriageCard,
)
from tests.helpers import LONDON, at
from tests.slackenv import Clock, drawn

CAMBS = load_policy("cambridgeshire")
LEAD, COORD, ADVISOR, MANAGER = "U0LEAD", "U0COORD", "U0ADVISOR", "U0MANAGER"
DUTY = CAMBS.channel("early_help_duty")
ESCALATION = CAMBS.channel("escalation")
COMPLETED = dt.date(2026, 11, 24)  # a Tuesday


@contextlib.asynccontextmanager
async def caf_env(engine: Engine, policy: Policy = CAMBS
                  ) -> AsyncIterator[tuple[Services, Clock, CafService, CafMessaging]]:
    """The services on a clock the test moves (Tue 24 Nov 2026, 10:00 London)."""
    clock = Clock(at(2026, 11, 24, 10, 0))
    settings = Settings(bot_token="xoxb-unused", api_url="http://127.0.0.1:9/api/")
    async with aiohttp.ClientSession() as http:
        sv = Services.build(settings, policy, engine, http, clock=clock)
        yield sv, clock, sv.caf, sv.caf_messaging


@pytest.fixture
async def env(engine: Engine) -> AsyncIterator[tuple[Services, Clock, CafService, CafMessaging]]:
    async with caf_env(engine) as found:
        yield found


Env = tuple[Services, Clock, CafService, CafMessaging]


def new(ref: str = "EHM-20417", *, lead: str | None = LEAD, consent: bool = True,
        completed: dt.date = COMPLETED, last: dt.date | None = None) -> NewEpisode:
    return NewEpisode(ref, lead, COORD, completed, consent, last)


def register(env: Env, episode: NewEpisode | None = None, actor: str = ADVISOR) -> CafEpisode:
    """Register, and a CAF manager agrees the plan at once: the clocks here run from the
    agreement, on the day the CAF was completed (quality assurance: tests/test_caf_qa.py)."""
    sv, _, caf, notify = env
    result = caf.register(episode or new(), actor, effects=notify)
    assert result.ok, result.message
    assert result.episode is not None
    return agreed(sv, result.episode)


def agreed(sv: Services, ep: CafEpisode) -> CafEpisode:
    """``ep`` once a CAF manager agreed its plan (as it is, if none was asked for)."""
    with session_scope(sv.engine) as s:
        qa = s.exec(select(CafQa.id).where(CafQa.episode_id == ep.id,  # type: ignore[call-overload]
                                           CafQa.status == "awaiting")).scalars().first()
    if qa is None:
        return ep
    assert sv.caf_qa.agree(qa, MANAGER).ok
    return episode(sv, ep.id or 0)


def outbox_ids(sv: Services) -> set[int]:
    with session_scope(sv.engine) as s:
        return {r.id for r in s.exec(select(OutboxMessage)).scalars()}  # type: ignore[call-overload]


def new_rows(sv: Services, before: set[int], prefixes: tuple[str, ...] = ("caf:",)
             ) -> list[OutboxMessage]:
    """The CAF messages queued since ``before`` (other jobs' rows, e.g. weekly figures, aside)."""
    with session_scope(sv.engine) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()  # type: ignore[call-overload,arg-type]
        return [r for r in rows if r.id not in before and r.idempotency_key.startswith(prefixes)]


def sweep(sv: Services, now: dt.datetime) -> list[OutboxMessage]:
    """One sweep at ``now``; the outbox rows it created."""
    before = outbox_ids(sv)
    ReminderSweep(sv).run(now)
    return new_rows(sv, before)


def said(row: OutboxMessage) -> str:
    return json.dumps(drawn(row, CAMBS))


def channels(rows: list[OutboxMessage]) -> list[str]:
    return sorted(r.channel for r in rows)


def action_ids(row: OutboxMessage) -> list[str]:
    return [el["action_id"] for b in drawn(row, CAMBS).get("blocks", []) if b["type"] == "actions"
            for el in b["elements"]]


def episode(sv: Services, episode_id: int) -> CafEpisode:
    with session_scope(sv.engine) as s:
        ep = s.get(CafEpisode, episode_id)
        assert ep is not None
        return ep


def pending(sv: Services, episode_id: int) -> dict[str, dt.datetime]:
    with session_scope(sv.engine) as s:
        rows = s.exec(select(Reminder).where(  # type: ignore[call-overload]
            Reminder.subject_type == "caf", Reminder.subject_id == episode_id,
            Reminder.status == "pending")).scalars()
        return {r.key.split(":", 2)[2]: r.due_at.astimezone(LONDON) for r in rows}


# --------------------------------------------------------------------------- scheduling


async def test_first_meeting_due_four_weeks_after_the_caf_and_nudged_once(env: Env) -> None:
    sv = env[0]
    rows_before = outbox_ids(sv)
    ep = register(env)
    assert ep.next_meeting_due == dt.date(2026, 12, 22)  # completed + 4 weeks
    # Registering tells the lead professional and the co-ordinator, with the buttons.
    told = new_rows(sv, rows_before)
    assert channels(told) == [COORD, LEAD]
    assert ids.CAF_HELD in action_ids(told[0])
    # Overdue once Tuesday 22 Dec is over: when the front door opens on Wednesday.
    assert pending(sv, ep.id or 0)["tac:2026-12-22"] == at(2026, 12, 23, 8, 45)
    assert sweep(sv, at(2026, 12, 22, 17, 0)) == []
    assert sweep(sv, at(2026, 12, 23, 8, 44)) == []
    rows = sweep(sv, at(2026, 12, 23, 8, 45))
    assert channels(rows) == [COORD, LEAD]  # both people, one DM each
    for row in rows:
        assert "EHM-20417" in said(row) and "overdue" in said(row)
        assert "Tue 22 Dec 2026" in said(row)
        assert action_ids(row) == [ids.CAF_HELD, ids.CAF_REARRANGED, ids.CAF_STUCK,
                                   ids.CAF_CLOSE]
        blocks = drawn(row, CAMBS)["blocks"]
        assert caf_blocks.parse_value(blocks[-1]["elements"][0]["value"]) == (
            ep.id, dt.date(2026, 12, 22))
    assert sweep(sv, at(2026, 12, 23, 8, 46)) == []  # never twice
    # Ignored, it is repeated a week later, once (tests/test_caf_nudge_repeat.py).
    assert sweep(sv, at(2026, 12, 30, 8, 44)) == []
    assert channels(sweep(sv, at(2026, 12, 30, 8, 45))) == [COORD, LEAD]
    assert sweep(sv, at(2026, 12, 30, 8, 46)) == []


async def test_held_meeting_moves_the_next_due_date(env: Env) -> None:
    sv, clock, caf, notify = env
    ep = register(env)
    sweep(sv, at(2026, 12, 23, 9, 0))  # the first meeting's nudge
    clock.now = at(2027, 1, 6, 11, 0)
    result = caf.record_meeting(ep.id or 0, LEAD, dt.date(2027, 1, 5),
                                expect_due=dt.date(2026, 12, 22), effects=notify)
    assert result.ok, result.message
    after = episode(sv, ep.id or 0)
    assert after.last_meeting_on == dt.date(2027, 1, 5)
    assert after.next_meeting_due == dt.date(2027, 3, 2)  # held + 8 weeks
    assert pending(sv, ep.id or 0)["tac:2027-03-02"] == at(2027, 3, 3, 8, 45)
    assert sweep(sv, at(2027, 3, 3, 8, 44)) == []
    rows = sweep(sv, at(2027, 3, 3, 8, 45))
    assert channels(rows) == [COORD, LEAD]
    assert "Team Around the Child meeting is overdue" in said(rows[0])
    # The other copy of the old nudge is now stale: recording against it is refused.
    stale = caf.record_meeting(ep.id or 0, COORD, dt.date(2027, 1, 5),
                               expect_due=dt.date(2026, 12, 22), effects=notify)
    assert stale.status == "stale" and "Tue 2 Mar 2027" in stale.message


async def test_rearranged_date_replaces_the_due_date(env: Env) -> None:
    sv, clock, caf, notify = env
    ep = register(env)
    clock.now = at(2026, 12, 21, 10, 0)
    result = caf.rearrange(ep.id or 0, COORD, dt.date(2027, 1, 15), effects=notify)
    assert result.ok, result.message
    assert episode(sv, ep.id or 0).next_meeting_due == dt.date(2027, 1, 15)
    keys = pending(sv, ep.id or 0)
    assert "tac:2026-12-22" not in keys  # the old nudge is cancelled
    # Friday 15 Jan: overdue when the front door opens on Monday 18 Jan.
    assert keys["tac:2027-01-15"] == at(2027, 1, 18, 8, 45)
    assert sweep(sv, at(2026, 12, 23, 9, 0)) == []
    assert len(sweep(sv, at(2027, 1, 18, 8, 45))) == 2
    # Rearranging into the past, or to the same day, is refused.
    assert caf.rearrange(ep.id or 0, COORD, dt.date(2026, 12, 1)).status == "invalid"


async def test_moving_back_to_a_cancelled_date_revives_its_nudge(env: Env) -> None:
    sv, clock, caf, notify = env
    ep = register(env)
    caf.rearrange(ep.id or 0, COORD, dt.date(2027, 1, 15), effects=notify)
    caf.rearrange(ep.id or 0, COORD, dt.date(2026, 12, 22), effects=notify)
    assert set(k for k in pending(sv, ep.id or 0) if k.startswith("tac:")) == {"tac:2026-12-22"}
    assert len(sweep(sv, at(2026, 12, 23, 9, 0))) == 2
    # The date moved away from never fires; only the 22 Dec meeting's repeat does.
    later = sweep(sv, at(2027, 1, 18, 9, 0))
    assert later and all(":tac:2026-12-22:2:" in r.idempotency_key for r in later)


async def test_closed_caf_never_fires(env: Env) -> None:
    sv, clock, caf, notify = env
    ep = register(env, new(lead=None))
    before = outbox_ids(sv)
    result = caf.close(ep.id or 0, COORD, "moved_authority", effects=notify)
    assert result.ok
    assert pending(sv, ep.id or 0) == {}
    closed = new_rows(sv, before)
    assert DUTY in channels(closed)  # the duty manager's oversight of the closure
    for when in (at(2026, 11, 24, 11, 0), at(2026, 12, 23, 9, 0), at(2027, 2, 1, 9, 0),
                 at(2027, 11, 30, 9, 0)):
        assert sweep(sv, when) == []
    # ... even a reminder that was pending is skipped, not sent.
    with session_scope(sv.engine, write=True) as s:
        repo.schedule(s, key="caf:test:stray", kind="tac_overdue", subject_type="caf",
                      subject_id=ep.id or 0, due_at=at(2027, 12, 1, 9, 0),
                      payload={"due": "2026-12-22"})
    assert sweep(sv, at(2027, 12, 1, 9, 0)) == []
    again = caf.record_meeting(ep.id or 0, LEAD, dt.date(2026, 12, 1))
    assert again.status == "closed" and "closed" in again.message


async def test_reassessment_nudge_at_twelve_months(env: Env) -> None:
    sv, clock, caf, notify = env
    ep = register(env)
    # Keep the meetings up to date so that only the reassessment is due.
    clock.now = at(2026, 12, 15, 10, 0)
    caf.record_meeting(ep.id or 0, LEAD, dt.date(2026, 12, 15), effects=notify)
    clock.now = at(2027, 11, 1, 10, 0)
    caf.rearrange(ep.id or 0, LEAD, dt.date(2028, 1, 10), effects=notify)
    assert pending(sv, ep.id or 0)["reassess"] == at(2027, 11, 23, 8, 45)  # completed + 52 weeks
    assert sweep(sv, at(2027, 11, 23, 8, 44)) == []
    rows = sweep(sv, at(2027, 11, 23, 8, 45))
    assert channels(rows) == [COORD, LEAD]
    assert "reassessment" in said(rows[0]) and "12 months" in said(rows[0])
    assert sweep(sv, at(2027, 11, 24, 9, 0)) == []


# --------------------------------------------------------------------------- the stuck route


async def test_stuck_route_with_consent(env: Env) -> None:
    sv, clock, caf, notify = env
    ep = register(env)
    eid = ep.id or 0
    assert caf.next_stuck_stage(ep, LEAD) == "coordinator"
    before = outbox_ids(sv)
    first = caf.stuck(eid, LEAD, "The family plan has not moved since the last meeting.",
                      effects=notify)
    assert (first.ok, first.stage) == (True, "coordinator")
    told = new_rows(sv, before)
    assert channels(told) == [COORD]
    assert ids.CAF_STUCK in action_ids(told[0])  # the co-ordinator can take it further
    before = outbox_ids(sv)
    second = caf.stuck(eid, COORD, "Still stuck: no agency will commission the support.",
                       effects=notify)
    assert second.stage == "caf_social_worker"
    duty = new_rows(sv, before)
    assert channels(duty) == [DUTY]
    assert "<@U0ADVISOR>" in said(duty[0]) and "EHM-20417" in said(duty[0])
    before = outbox_ids(sv)
    third = caf.stuck(eid, ADVISOR, "Needs a multi-agency view.", effects=notify)
    assert third.stage == "panel"
    panel = new_rows(sv, before)
    to_panel = [r for r in panel if r.channel == ESCALATION]
    assert len(to_panel) == 1 and "EHM-20417" in said(to_panel[0])
    assert "<@U0LEAD>" in said(to_panel[0])  # invited to present
    assert episode(sv, eid).stuck_stage == "panel"
    with session_scope(sv.engine) as s:
        stages = [(a.old_value, a.new_value) for a in s.exec(select(AuditEntry).where(  # type: ignore[call-overload]
            AuditEntry.action == "caf.stuck").order_by(AuditEntry.id)).scalars()]
    assert stages == [(None, "coordinator"), ("coordinator", "caf_social_worker"),
                      ("caf_social_worker", "panel")]
    # A meeting held means it is moving again: the next ask starts at the co-ordinator.
    caf.record_meeting(eid, LEAD, dt.date(2026, 11, 24), effects=notify)
    assert caf.next_stuck_stage(episode(sv, eid), LEAD) == "coordinator"


async def test_panel_is_anonymous_without_consent(env: Env) -> None:
    sv, clock, caf, notify = env
    ep = register(env, new("EHM-30991", consent=False))
    eid = ep.id or 0
    # The co-ordinator asking skips themself: straight to the CAF social worker.
    assert caf.stuck(eid, COORD, "Plan stalled.", effects=notify).stage == "caf_social_worker"
    clock.now = at(2027, 2, 1, 10, 0)
    before = outbox_ids(sv)
    assert caf.stuck(eid, ADVISOR, "Needs the panel.", effects=notify).stage == "panel"
    rows = new_rows(sv, before)
    (item,) = [r for r in rows if r.channel == ESCALATION]
    text = said(item)
    assert f"P-{eid}" in text and "anonymous" in text and "Needs the panel." in text
    for secret in ("EHM-30991", "EHM", LEAD, COORD, "24 Nov", "2026-11-24"):
        assert secret not in text, secret
    assert "about 2 months" in text
    # The lead professional and co-ordinator hear which item it is.
    assert sorted(r.channel for r in rows if r.channel != ESCALATION) == [COORD, LEAD]
    assert f"P-{eid}" in said([r for r in rows if r.channel == LEAD][0])


# --------------------------------------------------------------------------- no lead professional


async def test_no_lead_professional_escalation_route(env: Env) -> None:
    sv, clock, caf, notify = env
    ep = register(env, new("EHM-41123", lead=None))
    eid = ep.id or 0
    keys = pending(sv, eid)
    assert keys["nolead:link_worker"] == at(2026, 11, 24, 10, 0)
    assert keys["nolead:panel"] == at(2026, 12, 23, 8, 45)  # when the first meeting is overdue
    rows = sweep(sv, at(2026, 11, 24, 10, 1))
    assert channels(rows) == [ESCALATION, COORD] or channels(rows) == sorted([ESCALATION, COORD])
    post = [r for r in rows if r.channel == ESCALATION][0]
    text = said(post)
    assert "EHM-41123 has no lead professional" in text
    for step in ("CAF link worker", "Transforming Lives Panel", "universal services"):
        assert step in text  # the whole route from the MASH-to-CAF guidance
    assert ids.CAF_SET_LEAD in action_ids(post)
    assert sweep(sv, at(2026, 11, 25, 10, 0)) == []
    step2 = sweep(sv, at(2026, 12, 23, 8, 45))
    escalations = [r for r in step2 if r.channel == ESCALATION]
    assert len(escalations) == 1 and ":point_right: *2." in said(escalations[0])
    # The overdue first meeting still reaches the co-ordinator (there is no lead).
    assert [r.channel for r in step2 if "overdue" in said(r)] == [COORD]
    # A lead professional is found: the route stops, the lead is told.
    before = outbox_ids(sv)
    assert caf.set_lead(eid, COORD, LEAD, effects=notify).ok
    assert LEAD in channels(new_rows(sv, before))
    assert not any(k.startswith("nolead:") for k in pending(sv, eid))
    assert [r for r in sweep(sv, at(2027, 3, 1, 9, 0)) if r.channel == ESCALATION] == []


async def test_no_lead_step_three_offers_closing_as_stepped_down(env: Env) -> None:
    sv, clock, caf, notify = env
    ep = register(env, new("EHM-41124", lead=None))
    step3_at = pending(sv, ep.id or 0)["nolead:step_down"]
    assert step3_at == at(2026, 12, 23, 8, 45) + CAMBS.caf.meeting_interval
    sweep(sv, step3_at - dt.timedelta(minutes=1))
    rows = [r for r in sweep(sv, step3_at) if r.channel == ESCALATION]
    assert len(rows) == 1 and ids.CAF_CLOSE in action_ids(rows[0])
    assert caf.close(ep.id or 0, COORD, "stepped_down", effects=notify).ok
    assert episode(sv, ep.id or 0).close_reason == "stepped_down"


# --------------------------------------------------------------------------- registration rules


async def test_registration_is_validated_and_references_are_unique(env: Env) -> None:
    sv, clock, caf, notify = env
    register(env, new("ehm-20417"))
    dup = caf.register(new("EHM-20417"), ADVISOR)
    assert dup.status == "duplicate"
    assert caf.find("Ehm-20417") is not None  # stored upper-case; found either way
    future = caf.register(new("EHM-1", completed=dt.date(2026, 12, 1)), ADVISOR)
    assert future.status == "invalid" and "future" in future.message
    assert reference_problem("Jane Smith", sv.policy.caf) is not None
    assert reference_problem("EHM 12", sv.policy.caf) is not None
    assert reference_problem("EHM-12", sv.policy.caf) is None
    bad = problems(NewEpisode("EHM-2", "jane@example.org", None, COMPLETED, True),
                   dt.date(2026, 11, 24), sv.policy.caf)
    assert [f for f, _ in bad] == ["lead_professional", "coordinator"]
    assert "jane@example.org" not in json.dumps(bad)  # typed values are not echoed


async def test_imported_history_schedules_from_the_last_meeting(env: Env) -> None:
    sv, clock, caf, notify = env
    ep = register(env, new("EHM-5", completed=dt.date(2026, 6, 1), last=dt.date(2026, 10, 1)))
    assert ep.next_meeting_due == dt.date(2026, 11, 26)  # last held + 8 weeks
    assert [m.held_on for m in caf.meetings(ep.id or 0)] == [dt.date(2026, 10, 1)]


# --------------------------------------------------------------------------- routing a card


def make_card(sv: Services, *, rating: str | None, status: str = "decided",
              consent: str = "given") -> int:
    with session_scope(sv.engine, write=True) as s:
        prof = repo.professional(s, "U0HEALTH", name="Hal Visitor")
        ref = repo.next_reference(s, sv.clock())
        referral = Referral(reference=ref, professional_id=prof.id or 0, consent_status=consent)
        s.add(referral)
        s.flush()
        card = TriageCard(referral_id=referral.id or 0, reference=ref,
                          referrer_user_id="U0HEALTH", suggested_rating="green", rating=rating,
                          status=status, decided_by=MANAGER if rating else None,
                          decided_at=sv.clock() if rating else None)
        s.add(card)
        s.flush()
        cx = sql.Cx.of(s)  # posted, as the sender records it
        sql.delivered(cx, "card", card.id or 0, "post", DUTY, "1.000", sv.clock())
        return card.id or 0


def card_buttons(sv: Services, card_id: int) -> list[str]:
    with session_scope(sv.engine) as s:
        card = s.get(TriageCard, card_id)
        referral = s.get(Referral, card.referral_id)  # type: ignore[union-attr]
        msg = cards.triage_card(card, referral, CAMBS, sv.clock())  # type: ignore[arg-type]
    return [el.get("action_id") for b in msg["blocks"] if b["type"] == "actions"
            for el in b["elements"]]


async def test_route_button_only_on_decided_green_cards(env: Env) -> None:
    sv = env[0]
    assert ids.CAF_ROUTE_CARD in card_buttons(sv, make_card(sv, rating="green"))
    assert ids.CAF_ROUTE_CARD not in card_buttons(sv, make_card(sv, rating=None, status="new"))
    assert ids.CAF_ROUTE_CARD not in card_buttons(sv, make_card(sv, rating="blue"))
    assert ids.CAF_ROUTE_CARD not in card_buttons(sv, make_card(sv, rating="amber_cin"))


async def test_which_cards_may_be_routed_is_the_caf_domains_rule(env: Env) -> None:
    """The CAF domain alone says which cards may go to a CAF (no listener, no renderer)."""
    sv, _, caf, _ = env
    green = caf.routable(make_card(sv, rating="green"))
    assert isinstance(green, Routable) and green.consent is True and not green.open_caf
    refused = caf.routable(make_card(sv, rating="green", consent="refused"))
    assert isinstance(refused, Routable) and refused.consent is False
    assert caf.routable(make_card(sv, rating=None, status="new")) == NOT_ROUTABLE
    assert caf.routable(make_card(sv, rating="amber_cin")) == NOT_ROUTABLE
    assert caf.routable(make_card(sv, rating="green", status="closed")) == "This card is closed."
    assert caf.routable(999_999) == "This card is closed."  # the same words as a closed one
    linked = make_card(sv, rating="green")
    assert caf.route_from_card(linked, MANAGER, new("EHM-30001"), effects=env[3]).ok
    assert caf.routable(linked) == NOT_ROUTABLE  # linked to a CAF already
    assert await caf.aroutable(linked) == NOT_ROUTABLE  # the listener's way, the same rule


async def test_where_a_routed_reference_goes_is_the_caf_domains_rule(env: Env) -> None:
    """The CAF domain alone says whether a reference routes a card to an open episode,
    is refused because that CAF is closed (the words both platforms show), or is new."""
    sv, _, caf, notify = env
    assert caf.route_target("EHM-40001").kind == "new"
    ep = register(env, new("EHM-40001", consent=False))
    to = await caf.aroute_target("ehm-40001")  # the listeners' way; case does not matter
    assert to.kind == "link" and to.link is not None
    assert (to.link.ehm_reference, to.link.consent) == ("ehm-40001", False)
    assert caf.close(ep.id or 0, COORD, "stepped_down", effects=notify).ok
    closed = caf.route_target("EHM-40001")
    assert (closed.kind, closed.link, closed.message) == ("closed", None, CLOSED_CAF)
    assert CLOSED_CAF == ("That CAF is closed: register the new episode under its own "
                          "EHM reference.")
    # Routing itself keeps the rule under its lock: nothing is linked to a closed CAF.
    card_id = make_card(sv, rating="green")
    refused = caf.route_from_card(card_id, MANAGER, new("EHM-40001"), effects=notify)
    assert refused.status == "invalid" and refused.message == (
        "CAF EHM-40001 is closed: register the new episode under its own EHM reference.")
    with session_scope(sv.engine) as s:
        assert s.get(TriageCard, card_id).caf_episode_id is None  # type: ignore[union-attr]


async def test_route_from_card_registers_or_links(env: Env) -> None:
    sv, clock, caf, notify = env
    card_id = make_card(sv, rating="green")
    before = outbox_ids(sv)
    result = caf.route_from_card(card_id, MANAGER, new("EHM-777"), effects=notify)
    assert result.ok and not result.linked
    rows = new_rows(sv, before, ("caf:", "card:"))
    assert any(intents.intent_of(r) == intents.TRIAGE_CARD_UPDATE for r in rows)  # redrawn
    assert channels([r for r in rows if intents.posts(r)]) == [COORD, LEAD]
    with session_scope(sv.engine) as s:
        card = s.get(TriageCard, card_id)
        assert card is not None and card.caf_episode_id == result.episode.id  # type: ignore[union-attr]
        assert s.get(CafEpisode, card.caf_episode_id).source == "card"  # type: ignore[union-attr,arg-type]
    assert ids.CAF_ROUTE_CARD not in card_buttons(sv, card_id)  # linked: no second routing
    # A second Green card about a family with that open CAF links to it (guidance outcome 1).
    other = make_card(sv, rating="green")
    before = outbox_ids(sv)
    linked = caf.route_from_card(other, MANAGER, new("ehm-777"), effects=notify)
    assert linked.ok and linked.linked and linked.episode.id == result.episode.id  # type: ignore[union-attr]
    assert any("linked" in said(r) for r in new_rows(sv, before))
    amber = make_card(sv, rating="amber_cin")
    assert caf.route_from_card(amber, MANAGER, new("EHM-778")).status == "invalid"



# --------------------------------------------------------------------------- renderers


def test_every_caf_message_and_modal_is_valid_block_kit() -> None:
    from bot.sandbox.blockcheck import check_blocks, check_view

    ep = CafEpisode(id=7, ehm_reference="EHM-<b>&1", lead_user_id=LEAD,
                    coordinator_user_id=COORD, completed_on=COMPLETED, consent=False,
                    next_meeting_due=dt.date(2026, 12, 22), version=3)
    no_lead = CafEpisode(**{**ep.model_dump(), "lead_user_id": None})
    card = TriageCard(id=3, referral_id=1, reference="FD-2026-000003", referrer_user_id="U0HEALTH",
                      suggested_rating="green", rating="green", decided_by=MANAGER)
    long_note = "x" * 5000
    messages = [
        caf_blocks.registered_dm(ep, LEAD, COORD, CAMBS),
        caf_blocks.tac_overdue_dm(ep, dt.date(2026, 12, 22), CAMBS, dt.date(2026, 12, 23)),
        caf_blocks.tac_overdue_dm(ep, dt.date(2026, 12, 22), CAMBS, dt.date(2026, 12, 30), 2),
        caf_blocks.tac_overdue_dm(ep, dt.date(2026, 12, 22), CAMBS, dt.date(2027, 1, 6), 3,
                                  "coordinator"),
        caf_blocks.reassess_dm(ep, CAMBS),
        caf_blocks.update_dm(ep, "changed", CAMBS),
        caf_blocks.update_dm(ep, "changed"),
        caf_blocks.done_dm(ep, "done"),
        caf_blocks.linked_dm(ep, card, MANAGER, CAMBS),
        caf_blocks.stuck_coordinator_dm(ep, LEAD, long_note),
        caf_blocks.stuck_duty_post(ep, LEAD, long_note, CAMBS),
        caf_blocks.panel_post(ep, long_note, 3, 1),
        caf_blocks.panel_post(CafEpisode(**{**ep.model_dump(), "consent": True}), "n", 1, 0),
        caf_blocks.panel_told_dm(ep),
        *(caf_blocks.no_lead_post(no_lead, stage) for stage in ("link_worker", "panel",
                                                                 "step_down")),
        caf_blocks.closed_post(ep, COORD),
    ]
    for msg in messages:
        assert check_blocks(msg["blocks"]) == [], msg
        assert "<b>" not in json.dumps(msg)  # the reference is escaped
        assert len(msg["text"]) <= 300
    views = [
        caf_blocks.register_modal(CAMBS),
        caf_blocks.route_modal(card, True, True),
        caf_blocks.route_modal(card, None, False),
        caf_blocks.held_modal(ep, dt.date(2026, 12, 22), dt.date(2026, 12, 23)),
        caf_blocks.rearranged_modal(ep, None),
        caf_blocks.stuck_modal(ep, "coordinator"),
        caf_blocks.stuck_modal(ep, "panel"),
        caf_blocks.close_modal(ep, initial="stepped_down"),
        caf_blocks.set_lead_modal(ep),
    ]
    for view in views:
        assert check_view(view) == [], view
    assert "anonymously" in json.dumps(caf_blocks.stuck_modal(ep, "panel"))
    assert caf_blocks.parse_value("7:2026-12-22") == (7, dt.date(2026, 12, 22))
    assert caf_blocks.parse_value("7:") == (7, None)
    assert caf_blocks.parse_value("x") == (0, None)


# --------------------------------------------------------------------------- SCENARIOS.md 14-16


def read(row: OutboxMessage) -> str:
    """What the person reads in a queued message: its text objects, buttons included."""
    from tests.test_blocks import all_text

    return all_text(drawn(row, CAMBS))


async def test_scenario_14_ten_weeks_without_a_tac_in_words(env: Env) -> None:
    sv, clock, caf, notify = env
    last = COMPLETED - dt.timedelta(weeks=10)  # the last TAC, ten weeks before today
    register(env, new("EHM-14014", completed=last - dt.timedelta(weeks=12), last=last))
    rows = sweep(sv, at(2026, 11, 24, 10, 1))
    assert channels(rows) == [COORD, LEAD]  # the lead professional and the co-ordinator
    for row in rows:
        text = read(row)
        assert "EHM-14014: the Team Around the Child meeting is overdue" in text, text
        assert "It was due by *Tue 10 Nov 2026* (14 days ago): every 8 weeks; the last was " \
            "held on Tue 15 Sep 2026." in text, text
        for offer in ("Meeting held on…", "Rearranged to…", "Stuck: ask for help",
                      "Close the CAF"):
            assert offer in text, offer
        assert "Source: MASH-to-CAF guidance; Barnet CAF team process map 2." in text


async def test_scenario_15_open_twelve_months_asks_for_a_reassessment_in_words(
    env: Env,
) -> None:
    sv, clock, caf, notify = env
    ep = register(env, new("EHM-15015"))
    clock.now = at(2027, 11, 1, 10, 0)
    caf.rearrange(ep.id or 0, LEAD, dt.date(2028, 1, 10), effects=notify)  # meetings up to date
    rows = [r for r in sweep(sv, at(2027, 11, 23, 8, 45)) if r.channel == LEAD]
    text = read(rows[0])
    assert "EHM-15015 is still open 12 months after it was completed* (Tue 24 Nov 2026)" in text
    assert "the lead professional completes a reassessment with contributions from the team " \
        "around the family" in text
    assert "Source: MASH-to-CAF guidance, role of the lead professional." in text


async def test_scenario_16_no_lead_professional_route_in_words(env: Env) -> None:
    sv, clock, caf, notify = env
    ep = register(env, new("EHM-16016", lead=None))
    steps = pending(sv, ep.id or 0)
    said_at: dict[str, str] = {}
    for stage in ("link_worker", "panel", "step_down"):
        posts = [r for r in sweep(sv, steps[f"nolead:{stage}"]) if r.channel == ESCALATION]
        said_at[stage] = read(posts[0])
    assert "CAF EHM-16016 has no lead professional*." in said_at["link_worker"]
    assert ":point_right: *1. The CAF link worker (co-ordinator) helps" in said_at["link_worker"]
    assert ":point_right: *2. Still none: the family help team manager takes it to the " \
        "Transforming Lives Panel" in said_at["panel"]
    step3 = said_at["step_down"]
    assert ":point_right: *3. Still none:" in step3
    assert "the social worker, the family and every agency are told, and the child steps " \
        "down to universal services" in step3
    assert "Close the CAF" in step3 and "Record the lead professional" in step3
    # Closing it as stepped down says so in words, to the CAF team's duty channel.
    before = outbox_ids(sv)
    assert caf.close(ep.id or 0, COORD, "stepped_down", effects=notify).ok
    closed = "\n".join(read(r) for r in new_rows(sv, before))
    assert "EHM-16016" in closed and "No more reminders." in closed
    assert "stepped_down" not in closed and "stepped down" in closed.lower(), closed
