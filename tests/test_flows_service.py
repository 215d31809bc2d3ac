"""FlowService against a real database: both flows end to end, and what must never happen.

SQLite via the fixtures; the ``engine`` fixture also runs on PostgreSQL when
``TEST_POSTGRES_URL`` is set. All names and numbers are fictional.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url

from bot.flows.guided.models import Status, Step
from bot.flows.guided.service import ALREADY_ANSWERED, EARLIER, FlowService
from bot.policy import Policy, load_policy
from store.db import make_engine, session_scope
from store.migrate import upgrade
from store.models import (
    AuditEntry,
    Consultation,
    FlowSession,
    OutboxMessage,
    Professional,
    Referral,
    TriageCard,
)
from store.runner import TxRunner
from store.tx import Tx, write_tx
from tests.helpers import count
from tests.slackenv import notice

TUESDAY_10AM = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
SATURDAY_7PM = datetime(2026, 3, 7, 19, 0, tzinfo=UTC)
# Fictional name, an NHS number that passes the mod-11 check, a postcode.
IDENTIFYING = "Tyler Brookes, NHS number 943 476 5919, lives near CB4 1XY"
SECRETS = ("Tyler", "Brookes", "943 476 5919", "9434765919", "CB4 1XY")
USER = "U0TEACHER"

CONSULT = {
    "danger": "no",
    "want": "eha",
    "role": "teacher",
    "agency": "education",
    "age_band": "5-10",
    "categories": ["school"],
    "lado": "no",
    "worried": "Attendance has dropped to about two days a week this term.",
    "risks": "Falling behind; mornings seem chaotic at home.",
    "level": "early_help",
    "why_now": "Parent asked us for help with routines.",
    "tried": "Attendance meetings; a breakfast club place.",
    "eha": "not_offered",
    "open_caf": "no",
    "parents_aware": "yes",
    "consent": "given",
    "child_voice": "Says mornings are hard and she misses her friends.",
    "before": "no",
}

REFER = {
    "danger": "no",
    "ref_type": "concern",
    "phoned": "no",
    "role": "dsl",
    "agency": "education",
    "age_band": "5-10",
    "categories": ["physical_abuse"],
    "lado": "no",
    "worried": "Repeated unexplained bruising on the arms; frightened of a parent.",
    "risks": "Physical harm at home; the explanations do not fit the injuries.",
    "level": "significant_harm",
    "why_now": "A new bruise today and the child did not want to go home.",
    "tried": "Safeguarding lead informed; body map recorded.",
    "eha": "not_appropriate",
    "open_caf": "no",
    "parents_aware": "no",
    "consent": "unsafe",
    "consent_reason": "Telling the parent could put the child at further risk.",
    "child_voice": "Says she fell over but looked away when asked.",
    "parent_voice": "",
    "referrer_done": "Spoke to our safeguarding lead.",
    "support_needed": "An assessment of safety at home.",
}


class Clock:
    """An injected clock: tests move time, nothing sleeps."""

    def __init__(self, now: datetime = TUESDAY_10AM) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy("cambridgeshire")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(sqlite_engine: Engine, policy: Policy, clock: Clock) -> FlowService:
    return FlowService(TxRunner(sqlite_engine), policy, clock)


@pytest.fixture
def any_svc(engine: Engine, policy: Policy, clock: Clock) -> FlowService:
    """The service on each backend (SQLite, and PostgreSQL when configured)."""
    return FlowService(TxRunner(engine), policy, clock)


def drive(
    svc: FlowService, answers: dict[str, Any], user: str = USER, stop_at: str | None = None
) -> Step:
    """Answer questions from ``answers`` until the flow ends (or reaches ``stop_at``)."""
    step = svc.current(user)
    while step.status is Status.ASKING:
        assert step.prompt is not None
        if step.prompt.id == stop_at:
            return step
        step = svc.answer(user, answers[step.prompt.id], expect=step.prompt.id)
    return step


def flow_row(engine: Engine, user: str = USER) -> FlowSession:
    with session_scope(engine) as s:
        return (
            s.exec(  # type: ignore[call-overload,no-any-return]
                select(FlowSession)
                .where(FlowSession.user_id == user)
                .order_by(FlowSession.id.desc())  # type: ignore[union-attr]
            )
            .scalars()
            .first()
        )


# --- end to end -------------------------------------------------------------------


def test_consultation_end_to_end(any_svc: FlowService, engine: Engine) -> None:
    first = any_svc.start(USER, "consult")
    assert first.status is Status.ASKING and first.prompt is not None
    assert first.prompt.id == "danger" and (first.step_no, first.step_total) == (1, 18)
    assert "No names" in first.message and not first.can_go_back
    done = drive(any_svc, CONSULT)
    assert done.status is Status.COMPLETED and done.flow_kind == "consult"
    assert done.suggestion is not None
    assert (done.suggestion.outcome, done.suggestion.rating) == ("early_help", "green")
    assert done.suggestion.reasons[0].rule == "R-green"
    assert done.reference and done.reference.startswith("FD-2026-")
    assert (done.step_no, done.step_total) == (18, 18)
    with session_scope(engine) as s:
        c = s.get(Consultation, done.consultation_id)
        assert c is not None and c.reference == done.reference
        assert (c.age_band, c.categories, c.suggested_outcome) == ("5-10", ["school"], "early_help")
        assert c.suggested_reasons[0] == {
            "rule": "R-green",
            "text": done.suggestion.reasons[0].text,
            "source": done.suggestion.reasons[0].source,
        }
        assert c.summary["answers"]["worried"] == CONSULT["worried"]
        assert c.summary["suggestion"]["rating"] == "green"
        assert (c.linked_reference, c.repeat_count, c.created_at) == (None, 1, TUESDAY_10AM)
        prof = s.get(Professional, c.professional_id)
        assert prof is not None and (prof.user_id, prof.role, prof.agency) == (
            USER,
            "Teacher or other school staff",
            "Education",
        )
        audit = s.exec(select(AuditEntry).where(AuditEntry.action == "consultation.created"))  # type: ignore[call-overload]
        assert audit.scalars().one().subject_id == str(c.id)
    row = flow_row(engine)
    assert (row.status, row.state, row.reference, row.answers) == (
        "completed",
        "completed",
        done.reference,
        {},
    )
    assert any_svc.current(USER).status is Status.NONE


def test_referral_end_to_end_with_back_and_a_changed_answer(
    svc: FlowService, sqlite_engine: Engine, clock: Clock
) -> None:
    svc.start(USER, "refer")
    step = drive(svc, REFER, stop_at="consent")
    assert step.prompt is not None and step.can_go_back
    before = step.step_total
    step = svc.answer(USER, "given", expect="consent")
    assert step.prompt is not None and step.prompt.id == "child_voice"
    back = svc.back(USER)
    assert back.prompt is not None and back.prompt.id == "consent"
    assert back.answers["consent"] == "given"  # the earlier answer, offered as the default
    changed = svc.answer(USER, "unsafe", expect="consent")
    assert changed.prompt is not None and changed.prompt.id == "consent_reason"
    assert changed.step_total == before + 1  # the reason question joined the path
    clock.advance(minutes=5)
    done = drive(svc, REFER)
    assert done.status is Status.COMPLETED and done.suggestion is not None
    assert (done.suggestion.outcome, done.suggestion.rating) == ("referral", "amber_sh")
    assert [r.rule for r in done.suggestion.reasons][:2] == ["R-amber-sh", "R-consent-sh"]
    assert "% complete" in done.message and "voice of the parents" in done.message
    with session_scope(sqlite_engine) as s:
        r = s.get(Referral, done.referral_id)
        card = s.get(TriageCard, done.card_id)
        assert r is not None and card is not None
        assert (r.kind, r.reference, r.consent_status) == ("checklist", done.reference, "unsafe")
        assert r.consent_reason == REFER["consent_reason"]
        assert r.completeness == 91 and r.gaps == ["the voice of the parents or carers"]
        assert (r.categories, r.age_band, r.phone_referral, r.phoned_at) == (
            ["physical_abuse"],
            "5-10",
            False,
            None,
        )
        assert r.summary["answers"]["risks"] == REFER["risks"]
        assert (card.reference, card.referrer_user_id, card.status) == (
            done.reference,
            USER,
            "new",
        )
        assert card.suggested_rating == "amber_sh" and card.rating is None
        assert card.received_at == clock.now and card.referral_id == r.id
        assert card.suggested_reasons[0]["rule"] == "R-amber-sh"
        actions = s.exec(select(AuditEntry.action)).scalars().all()  # type: ignore[call-overload]
        assert "referral.created" in actions


def test_phone_referral_records_when_the_call_was_made(
    svc: FlowService, sqlite_engine: Engine, clock: Clock
) -> None:
    clock.now = SATURDAY_7PM
    svc.start(USER, "refer")
    answers = {**REFER, "phoned": "yes", "phoned_at": "2026-03-07T18:30"}
    done = drive(svc, answers)
    assert done.status is Status.COMPLETED and done.suggestion is not None
    notes = [r for r in done.suggestion.reasons if r.rule == "R-written-confirmation"]
    assert notes and "Sun 08 Mar 2026 18:30" in notes[0].text
    assert "R-edt-out-of-hours" in [r.rule for r in done.suggestion.reasons]  # Scenario 12
    with session_scope(sqlite_engine) as s:
        r = s.get(Referral, done.referral_id)
        assert r is not None and r.phone_referral
        assert r.phoned_at == datetime(2026, 3, 7, 18, 30, tzinfo=UTC)


def test_referral_without_consent_completes_but_will_be_returned(
    svc: FlowService, sqlite_engine: Engine
) -> None:
    svc.start(USER, "refer")
    answers = {
        **REFER,
        "categories": ["school"],
        "level": "early_help",
        "consent": "refused",
        "consent_reason": "Parent does not want early help.",
        "eha": "offered",
    }
    done = drive(svc, answers)
    assert done.status is Status.COMPLETED and done.suggestion is not None
    assert (done.suggestion.outcome, done.suggestion.rating) == ("returned", "blue")
    assert "returned to you" in done.message
    with session_scope(sqlite_engine) as s:
        card = s.get(TriageCard, done.card_id)
        assert card is not None and card.suggested_rating == "blue"


# --- the safety gate ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["consult", "refer"])
def test_safety_gate_raises_a_red_item_and_says_who_to_call(
    any_svc: FlowService, engine: Engine, policy: Policy, kind: str
) -> None:
    any_svc.start(USER, kind)
    step = any_svc.answer(USER, "yes", expect="danger")
    assert step.status is Status.URGENT
    assert "999" in step.message and policy.phones.front_door in step.message
    assert step.suggestion is not None and step.suggestion.rating == "red"
    assert step.suggestion.reasons[0].rule == "R-safety-gate"
    assert step.reference and step.referral_id and step.card_id
    with session_scope(engine) as s:
        r = s.get(Referral, step.referral_id)
        card = s.get(TriageCard, step.card_id)
        assert r is not None and (r.kind, r.reference) == ("urgent", step.reference)
        assert card is not None and card.referral_id == r.id
        assert (card.suggested_rating, card.status) == ("red", "new")
        assert card.suggested_reasons[0]["rule"] == "R-safety-gate"
        assert card.suggested_reasons[0]["source"].startswith("Camden contact service: Red")
    row = flow_row(engine)
    assert (row.status, row.state, row.reference) == ("completed", "urgent", step.reference)


def test_safety_gate_out_of_hours_gives_the_emergency_duty_team(
    svc: FlowService, clock: Clock, policy: Policy
) -> None:
    clock.now = SATURDAY_7PM
    svc.start(USER, "consult")
    step = svc.answer(USER, "yes")
    assert step.status is Status.URGENT
    assert "999" in step.message and policy.phones.edt in step.message


# --- redirects -------------------------------------------------------------------------


def test_suspended_referral_type_is_redirected_and_nothing_is_raised(
    svc: FlowService, sqlite_engine: Engine, policy: Policy
) -> None:
    svc.start(USER, "refer")
    svc.answer(USER, "no")
    step = svc.answer(USER, "chaperone_check", expect="ref_type")
    chaperone = next(t for t in policy.suspended_types if t.id == "chaperone_check")
    assert step.status is Status.REDIRECTED and step.message == chaperone.redirect
    assert step.suggestion is not None and step.suggestion.outcome == "redirect"
    for model in (Referral, TriageCard, Consultation):
        assert count(sqlite_engine, model) == 0
    assert flow_row(sqlite_engine).status == "completed"


def test_is_this_child_known_typed_as_the_worry_is_redirected(svc: FlowService) -> None:
    svc.start(USER, "consult")
    answers = {**CONSULT, "worried": "Can you tell me whether this child is known to you?"}
    step = drive(svc, answers, stop_at="suspended_check")
    assert step.prompt is not None and "Request for information" in step.prompt.help
    step = svc.answer(USER, "no", expect="suspended_check")
    assert step.status is Status.REDIRECTED
    assert step.suggestion is not None
    assert [r.rule for r in step.suggestion.reasons] == ["R-suspended", "R-info-sharing"]


# --- no names ------------------------------------------------------------------------


def test_identifying_text_is_refused_and_never_stored(
    sqlite_url: str, policy: Policy, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    eng = make_engine(sqlite_url)
    upgrade(eng)
    svc = FlowService(TxRunner(eng), policy, clock)
    effects: list[Step] = []
    svc.start(USER, "consult")
    step = drive(svc, CONSULT, stop_at="worried")
    version = step.version
    refused = svc.answer(
        USER, IDENTIFYING, expect="worried", effects=lambda _s, st: effects.append(st)
    )
    assert refused.status is Status.REFUSED
    assert refused.prompt is not None and refused.prompt.id == "worried"  # asked again
    assert [f.kind for f in refused.findings] == ["name", "nhs_number", "postcode"]
    assert [f.label for f in refused.findings] == [
        'a name: "Tyler Brookes"',
        'an NHS number: "943 476 5919"',
        'a postcode: "CB4 1XY"',
    ]
    assert "identify" in refused.message and not any(x in refused.message for x in SECRETS)
    assert effects == []  # the handler shows findings itself; nothing is queued
    assert flow_row(eng).version == version  # nothing changed
    # The reason and earlier-reference questions are guarded too.
    drive(svc, {**CONSULT, "consent": "refused"}, stop_at="consent_reason")
    assert svc.answer(USER, IDENTIFYING).status is Status.REFUSED
    svc.answer(USER, "Parent said they can manage.", expect="consent_reason")
    svc.answer(USER, CONSULT["child_voice"])
    svc.answer(USER, "yes", expect="before")
    assert svc.answer(USER, "the one about " + IDENTIFYING).status is Status.REFUSED
    svc.back(USER)
    done = svc.answer(USER, "no", expect="before")
    assert done.status is Status.COMPLETED
    eng.dispose()

    db = Path(make_url(sqlite_url).database or "")
    for suffix in ("", "-wal", "-shm"):
        f = db.with_name(db.name + suffix)
        if f.exists():
            blob = f.read_bytes()
            assert not any(x.encode() in blob for x in SECRETS), f.name
    with sqlite3.connect(db) as conn:  # checkpoint, then read the main file again
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        dump = "\n".join(conn.iterdump())
    assert not any(x in dump for x in SECRETS)
    assert not any(x.encode() in db.read_bytes() for x in SECRETS)
    assert not any(x in r.getMessage() for r in caplog.records for x in SECRETS)


# --- idempotency and concurrency -----------------------------------------------------


def test_a_repeated_click_does_nothing(any_svc: FlowService, engine: Engine) -> None:
    any_svc.start(USER, "consult")
    first = any_svc.answer(USER, "no", expect="danger")
    again = any_svc.answer(USER, "no", expect="danger")
    assert first.prompt is not None and again.prompt is not None
    assert again.status is Status.ASKING and again.message == ALREADY_ANSWERED
    assert again.prompt.id == first.prompt.id == "want"
    assert again.version == first.version and flow_row(engine).version == first.version


def test_two_answers_at_once_apply_once(any_svc: FlowService, engine: Engine) -> None:
    any_svc.start(USER, "consult")
    barrier = threading.Barrier(2)
    results: list[Step] = []

    def click() -> None:
        barrier.wait()
        results.append(any_svc.answer(USER, "no", expect="danger"))

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.message for r in results) == ["", ALREADY_ANSWERED]
    row = flow_row(engine)
    assert (row.state, row.version, row.history) == ("want", 2, ["danger"])


def test_losing_the_compare_and_set_applies_nothing(
    svc: FlowService, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc.start(USER, "consult")
    stale = svc._active  # noqa: SLF001 - simulate a read taken before another answer landed
    with write_tx(sqlite_engine) as tx:
        snapshot = stale(tx, USER, "slack")
    svc.answer(USER, "no", expect="danger")
    reads = [snapshot]  # the first read is stale, the re-read is real

    def active(tx: Tx, user: str, platform: str) -> Any:
        return reads.pop() if reads else stale(tx, user, platform)

    monkeypatch.setattr(svc, "_active", active)
    step = svc.answer(USER, "no", expect="danger")
    assert step.message == ALREADY_ANSWERED and step.prompt is not None
    assert step.prompt.id == "want"
    row = flow_row(sqlite_engine)
    assert (row.version, row.history) == (2, ["danger"])


def test_one_active_flow_per_user(any_svc: FlowService, engine: Engine) -> None:
    any_svc.start(USER, "consult")
    any_svc.answer(USER, "no")
    again = any_svc.start(USER, "refer")
    assert again.status is Status.ASKING and again.flow_kind == "consult"
    assert again.prompt is not None and again.prompt.id == "want"
    assert again.message == (
        "You already have a consultation in progress: carry on, or cancel it first."
    )
    other = any_svc.start("U0NURSE", "refer")
    assert other.flow_kind == "refer" and other.flow_id != again.flow_id
    assert count(engine, FlowSession) == 2


def test_a_flow_belongs_to_its_platform(any_svc: FlowService, engine: Engine) -> None:
    """The same id on two platforms is two people: each has their own flow, and a
    step says whose chat it runs in (its messages are queued for that platform)."""
    slack = any_svc.start(USER, "consult")
    teams = any_svc.start(USER, "refer", platform="teams")
    assert (slack.platform, teams.platform) == ("slack", "teams")
    assert teams.flow_kind == "refer" and teams.flow_id != slack.flow_id
    assert any_svc.answer(USER, "no", platform="teams").prompt.id != "want"
    assert any_svc.current(USER).prompt.id == "danger", "Slack's flow did not move"
    assert any_svc.cancel(USER, platform="teams").status is Status.CANCELLED
    assert any_svc.current(USER, platform="teams").status is Status.NONE
    assert any_svc.current(USER).flow_id == slack.flow_id


def test_two_starts_at_once_make_one_flow(any_svc: FlowService, engine: Engine) -> None:
    barrier = threading.Barrier(2)
    results: list[Step] = []

    def start() -> None:
        barrier.wait()
        results.append(any_svc.start(USER, "consult"))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.flow_id for r in results}) == 1
    assert count(engine, FlowSession) == 1


# --- cancel, expiry, restart -------------------------------------------------------------


def test_cancel_deletes_the_answers(any_svc: FlowService, engine: Engine) -> None:
    any_svc.start(USER, "consult")
    drive(any_svc, CONSULT, stop_at="risks")
    step = any_svc.cancel(USER)
    assert step.status is Status.CANCELLED and "deleted" in step.message
    row = flow_row(engine)
    assert (row.status, row.answers) == ("cancelled", {})
    assert any_svc.cancel(USER).status is Status.NONE
    assert any_svc.start(USER, "refer").flow_kind == "refer"  # free to start again


def test_back_or_cancel_on_an_earlier_flow_changes_nothing(
    any_svc: FlowService, engine: Engine
) -> None:
    """The rule lives in the service: an earlier flow's Back or Cancel is refused in the
    transaction that reads the flow, with the words the professional sees."""
    old = any_svc.start(USER, "consult")
    any_svc.cancel(USER)
    any_svc.start(USER, "consult")
    now = any_svc.answer(USER, "no", expect="danger")
    effects: list[Step] = []
    for act in (any_svc.back, any_svc.cancel):
        step = act(USER, expect_flow=old.flow_id, effects=lambda _tx, s: effects.append(s))
        assert (step.status, step.message) == (Status.NONE, EARLIER)
    assert effects == [], "nothing queued"
    row = flow_row(engine)
    assert (row.status, row.version, row.state) == ("active", now.version, "want")
    back = any_svc.back(USER, expect_flow=row.id)  # its own flow's button works
    assert back.prompt is not None and back.prompt.id == "danger"
    any_svc.cancel(USER, expect_flow=row.id)
    assert any_svc.back(USER, expect_flow=row.id).message == EARLIER  # nothing active now


def test_rephrase_is_audited_by_the_service(svc: FlowService, sqlite_engine: Engine) -> None:
    """"It could: I'll rephrase": the service audits the choice (never the words) and
    gives the current question back, unchanged."""
    svc.start(USER, "consult")
    asked = svc.answer(USER, "no", expect="danger")
    step = svc.rephrase(USER, asked.flow_id)
    assert step.status is Status.ASKING and step.prompt == asked.prompt
    assert step.version == asked.version == flow_row(sqlite_engine).version
    with session_scope(sqlite_engine) as s:
        [row] = s.exec(select(AuditEntry).where(  # type: ignore[call-overload]
            AuditEntry.action == "nonames.rephrase")).scalars().all()
        assert (row.actor, row.subject_type, row.subject_id) == (USER, "flow",
                                                                 str(asked.flow_id))
        assert row.at == TUESDAY_10AM  # the service's clock


def test_untouched_flows_expire_after_the_timeout(
    any_svc: FlowService, engine: Engine, clock: Clock
) -> None:
    any_svc.start(USER, "consult")
    any_svc.answer(USER, "no")
    any_svc.start("U0NURSE", "refer")
    clock.advance(hours=23)
    any_svc.answer("U0NURSE", "no")  # an answer restarts the 24 hours
    assert any_svc.expire() == []
    clock.advance(hours=1, seconds=1)
    expired = any_svc.expire()
    assert [u for u, _ in expired] == [USER]
    step = expired[0][1]
    assert step.status is Status.EXPIRED and step.flow_id is not None
    assert step.message == (
        "Your consultation expired after 24 hours without an answer; start again with /consult"
    )
    row = flow_row(engine)
    assert (row.status, row.answers) == ("expired", {})
    assert any_svc.expire() == []  # once only
    assert any_svc.answer(USER, "general").status is Status.NONE
    clock.advance(hours=24)
    late = any_svc.answer("U0NURSE", "concern")  # expired on touch, not applied
    assert late.status is Status.EXPIRED and "/refer" in late.message


def test_start_after_expiry_begins_afresh(svc: FlowService, clock: Clock) -> None:
    svc.start(USER, "consult")
    svc.answer(USER, "no")
    clock.advance(hours=25)
    step = svc.start(USER, "consult")
    assert step.prompt is not None and step.prompt.id == "danger"
    assert step.message.startswith("Your earlier one had expired.")


def test_a_restart_resumes_exactly(sqlite_url: str, policy: Policy, clock: Clock) -> None:
    eng = make_engine(sqlite_url)
    upgrade(eng)
    before = FlowService(TxRunner(eng), policy, clock)
    before.start(USER, "refer")
    step = drive(before, REFER, stop_at="level")
    eng.dispose()  # the process dies

    eng2 = make_engine(sqlite_url)
    after = FlowService(TxRunner(eng2), policy, clock)
    resumed = after.current(USER)
    assert resumed.status is Status.ASKING and resumed.prompt == step.prompt
    assert (resumed.step_no, resumed.step_total, resumed.answers) == (
        step.step_no,
        step.step_total,
        step.answers,
    )
    back = after.back(USER)
    assert back.prompt is not None and back.prompt.id == "risks"
    done = drive(after, REFER)
    assert done.status is Status.COMPLETED and done.referral_id is not None
    eng2.dispose()


# --- effects, messages, repeat consultations -------------------------------------------


def test_effects_run_inside_the_transaction(svc: FlowService, sqlite_engine: Engine) -> None:
    def outbox(tx: Tx, step: Step) -> None:
        notice(tx, f"flow:{step.flow_id}:{step.version}", "D0DM",
               step.prompt.text if step.prompt else "")

    svc.start(USER, "consult", effects=outbox)
    svc.answer(USER, "no", effects=outbox)
    assert count(sqlite_engine, OutboxMessage) == 2

    def boom(tx: Tx, step: Step) -> None:
        outbox(tx, step)
        raise RuntimeError("the outbox is down")

    with pytest.raises(RuntimeError):
        svc.answer(USER, "general", effects=boom)
    assert count(sqlite_engine, OutboxMessage) == 2  # rolled back with the state change
    now = svc.current(USER)
    assert now.prompt is not None and now.prompt.id == "want"


def test_third_linked_consultation_is_flagged_for_the_advisor(
    svc: FlowService, sqlite_engine: Engine
) -> None:
    svc.start(USER, "consult")
    first = drive(svc, CONSULT)
    svc.start(USER, "consult")
    bad = drive(svc, {**CONSULT, "before": "yes"}, stop_at="earlier_ref")
    assert bad.prompt is not None
    missing = svc.answer(USER, "FD-2026-999999", expect="earlier_ref")
    assert missing.status is Status.REFUSED and "No consultation" in missing.errors[0]
    second = svc.answer(USER, first.reference or "", expect="earlier_ref")
    assert second.suggestion is not None and second.suggestion.outcome == "early_help"
    svc.start(USER, "consult")
    drive(svc, {**CONSULT, "before": "yes"}, stop_at="earlier_ref")
    third = svc.answer(USER, first.reference or "", expect="earlier_ref")  # linked to the root
    assert third.status is Status.COMPLETED and third.suggestion is not None
    assert (third.suggestion.outcome, third.suggestion.rating) == ("referral", "amber_cin")
    assert "This is the third consultation about this situation." in third.suggestion.notes
    with session_scope(sqlite_engine) as s:
        rows = s.exec(select(Consultation).order_by(Consultation.id)).scalars().all()  # type: ignore[call-overload, arg-type]
        assert [(c.linked_reference, c.repeat_count) for c in rows] == [
            (None, 1),
            (first.reference, 2),
            (first.reference, 3),
        ]
        assert rows[2].suggested_outcome == "referral"


# --- clocks start in the domain -----------------------------------------------------


def _card_clocks(engine: Engine, card_id: int) -> tuple[TriageCard, dict[str, list[str]]]:
    """The card and its reminders' kinds by clock, read straight from the database."""
    from store.models import Reminder

    with session_scope(engine) as s:
        card = s.get(TriageCard, card_id)
        assert card is not None
        s.expunge(card)
        rows = s.exec(select(Reminder).where(  # type: ignore[call-overload]
            Reminder.subject_type == "card", Reminder.subject_id == card_id)).scalars().all()
        by_clock: dict[str, list[str]] = {}
        for r in rows:
            by_clock.setdefault(str(r.payload.get("clock")), []).append(r.kind)
        return card, by_clock


@pytest.mark.parametrize("kind", ["urgent", "referral", "phone_referral"])
def test_every_card_gets_its_clocks_from_the_domain_alone(
    any_svc: FlowService, engine: Engine, clock: Clock, kind: str
) -> None:
    """No handler and no renderer run here: the service that writes a card starts its
    clocks and schedules its reminders in the same transaction."""
    any_svc.start(USER, "refer")
    if kind == "urgent":
        step = any_svc.answer(USER, "yes", expect="danger")
    else:
        answers = REFER if kind == "referral" else {
            **REFER, "phoned": "yes", "phoned_at": "2026-03-03T09:30"}
        step = drive(any_svc, answers)
    assert step.card_id is not None
    card, by_clock = _card_clocks(engine, step.card_id)
    assert card.clock and card.due_at is not None and card.due_at > clock.now
    assert "sla_breach" in by_clock.get(card.clock, []), by_clock
    assert ("written_confirmation" in by_clock) is (kind == "phone_referral"), by_clock
