"""The question scripts as data, the answer checks and the state machine (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.flows.guided.checklist import completeness, substantive
from bot.flows.guided.flows import FlowEngine, FlowState
from bot.flows.guided.models import Kind
from bot.flows.guided.rules import CATEGORIES
from bot.flows.guided.script import COMPLETED, REDIRECTED, TERMINALS, URGENT, Context, Script
from bot.flows.guided.scripts import AGE_BANDS, AGENCIES, build
from bot.flows.guided.validate import Accepted, Rejected
from bot.policy import Policy, load_policy

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
# Fictional; the NHS number passes the mod-11 check.
IDENTIFYING = "Tyler Brookes, NHS number 943 476 5919, lives near CB4 1XY"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy("cambridgeshire")


@pytest.fixture(scope="module", params=["consult", "refer"])
def script(request: pytest.FixtureRequest, policy: Policy) -> Script:
    return build(request.param, policy)


def ctx(exists: bool = False, policy: Policy | None = None) -> Context:
    tz = (policy or load_policy("cambridgeshire")).tz
    return Context(now=NOW, tz=tz, reference_exists=lambda _r: exists)


def test_every_flow_opens_with_the_safety_gate(script: Script) -> None:
    first = script.question(script.first)
    assert first.id == "danger" and first.kind is Kind.YESNO
    assert "immediate danger" in str(first.text)
    assert script.next_state("danger", {"danger": "yes"}) == URGENT


def test_branches_are_valid_and_every_question_is_reachable(script: Script) -> None:
    reachable = {script.first}
    for qid in script.ids():
        for b in script.branches(qid):
            assert script.has(b.to) or b.to in TERMINALS
            reachable.add(b.to)
    assert set(script.ids()) <= reachable


def test_identifying_answers_are_choices_not_free_text(script: Script) -> None:
    assert script.question("agency").kind is Kind.CHOICE
    assert [o.label for o in AGENCIES] == [
        "Education",
        "Health",
        "Police",
        "Youth service",
        "Early years",
        "Housing",
        "Voluntary sector",
        "Other",
    ]
    assert script.question("age_band").kind is Kind.CHOICE
    assert [o.value for o in AGE_BANDS] == ["unborn", "0-2", "3-4", "5-10", "11-15", "16-17"]
    cats = script.question("categories")
    assert cats.kind is Kind.MULTI and [o.value for o in cats.options] == list(CATEGORIES)


def test_consent_reason_is_asked_only_without_consent(script: Script) -> None:
    assert script.next_state("consent", {"consent": "given"}) != "consent_reason"
    for c in ("refused", "not_sought", "unsafe"):
        assert script.next_state("consent", {"consent": c}) == "consent_reason"
    assert "refusing" in script.prompt("consent_reason", {"consent": "refused"}).text


def test_consultation_path_and_earlier_reference(policy: Policy) -> None:
    s = build("consult", policy)
    assert len(s.path({})) == 18
    assert s.path({"consent": "refused", "before": "yes"})[-3:] == [
        "child_voice",
        "before",
        "earlier_ref",
    ]
    assert s.next_state("before", {"before": "no"}) == COMPLETED
    assert s.next_state("want", {"want": "known"}) == REDIRECTED


def test_referral_asks_gillick_only_for_older_children(policy: Policy) -> None:
    s = build("refer", policy)
    assert "gillick" not in s.path({"age_band": "5-10"})
    assert "gillick" in s.path({"age_band": "11-15"})
    assert "gillick" in s.path({"age_band": "16-17", "consent": "refused"})
    assert s.next_state("phoned", {"phoned": "yes"}) == "phoned_at"
    for t in policy.suspended_types:
        assert s.next_state("ref_type", {"ref_type": t.id}) == REDIRECTED


def test_suspended_keywords_ask_before_redirecting(policy: Policy) -> None:
    s = build("consult", policy)
    worried = {"worried": "We need a chaperone check for a new volunteer."}
    assert s.next_state("worried", worried) == "suspended_check"
    assert "Chaperone" in s.prompt("suspended_check", worried).help
    assert s.next_state("suspended_check", {**worried, "suspended_check": "no"}) == REDIRECTED
    assert s.next_state("suspended_check", {**worried, "suspended_check": "yes"}) == "risks"
    assert s.next_state("worried", {"worried": "He has bruises."}) == "risks"


# --- answer checks ------------------------------------------------------------------


def test_the_no_names_guard_refuses_and_describes(policy: Policy) -> None:
    flow = FlowEngine(build("consult", policy))
    fs = FlowState("worried", {}, [])
    result = flow.answer(fs, IDENTIFYING, ctx())
    assert isinstance(result, Rejected)
    assert [f.kind for f in result.findings] == ["name", "nhs_number", "postcode"]
    assert result.findings[0].label == 'a name: "Tyler Brookes"'
    assert not result.errors


@pytest.mark.parametrize(
    ("qid", "value", "error"),
    [
        ("role", "headteacher of St Mary's", "choose one of the options"),
        ("danger", "maybe", "choose one of the options"),
        ("categories", ["neglect", "made-up"], "choose from the options"),
        ("categories", [], "at least one"),
        ("worried", "   ", "type an answer"),
        ("worried", "x" * 2001, "under 2000 characters"),
    ],
)
def test_invalid_answers_are_refused_without_echo(
    policy: Policy, qid: str, value: object, error: str
) -> None:
    flow = FlowEngine(build("consult", policy))
    result = flow.answer(FlowState(qid), value, ctx())
    assert isinstance(result, Rejected) and error in result.errors[0]
    assert "St Mary" not in result.errors[0]


def test_multi_choice_keeps_option_order_without_duplicates(policy: Policy) -> None:
    q = build("consult", policy).question("categories")
    from bot.flows.guided.validate import accept

    got = accept(q, ["school", "neglect", "school"], {}, ctx())
    assert got == Accepted(["neglect", "school"])


def test_earlier_reference_must_be_well_formed_and_exist(policy: Policy) -> None:
    flow = FlowEngine(build("consult", policy))
    fs = FlowState("earlier_ref", {"before": "yes"}, ["before"])
    bad = flow.answer(fs, "the one from last week", ctx(exists=True))
    assert isinstance(bad, Rejected) and "FD-2026-000123" in bad.errors[0]
    missing = flow.answer(fs, "FD-2026-000999", ctx(exists=False))
    assert isinstance(missing, Rejected) and "No consultation" in missing.errors[0]
    named = flow.answer(fs, "the one about Tyler Brookes", ctx(exists=True))
    assert isinstance(named, Rejected) and named.findings[0].kind == "name"
    ok = flow.answer(fs, " fd-2026-000123 ", ctx(exists=True))
    assert isinstance(ok, FlowState)
    assert ok.state == COMPLETED and ok.answers["earlier_ref"] == "FD-2026-000123"


def test_dates_are_not_in_the_future(policy: Policy) -> None:
    flow = FlowEngine(build("refer", policy))
    fs = FlowState("phoned_at", {"phoned": "yes"}, ["danger", "ref_type", "phoned"])
    future = flow.answer(fs, (NOW + timedelta(days=1)).date().isoformat(), ctx())
    assert isinstance(future, Rejected) and "future" in future.errors[0]
    assert isinstance(flow.answer(fs, "yesterday", ctx()), Rejected)
    local = flow.answer(fs, "2026-03-03T09:15", ctx())
    assert isinstance(local, FlowState) and local.answers["phoned_at"] == "2026-03-03T09:15+00:00"
    day = flow.answer(fs, "2026-03-02", ctx())
    assert isinstance(day, FlowState) and day.answers["phoned_at"] == "2026-03-02T00:00+00:00"


# --- the state machine --------------------------------------------------------------


def test_answer_back_and_change_with_transitions(policy: Policy) -> None:
    flow = FlowEngine(build("consult", policy))
    fs = FlowState("danger")
    assert flow.back(fs) is None  # nothing before the safety gate
    fs = flow.answer(fs, "no", ctx())  # type: ignore[assignment]
    fs = flow.answer(fs, "general", ctx())  # type: ignore[assignment]
    assert (fs.state, fs.history) == ("role", ["danger", "want"])
    assert flow.position(fs) == (3, 18)
    back = flow.back(fs)
    assert back is not None and back.state == "want" and back.answers["want"] == "general"
    assert back.history == ["danger"]
    changed = flow.answer(back, "known", ctx())
    assert isinstance(changed, FlowState) and changed.state == REDIRECTED
    assert changed.answers == {"danger": "no", "want": "known"}


def test_cancel_and_expire_discard_answers(policy: Policy) -> None:
    flow = FlowEngine(build("refer", policy))
    fs = FlowState(
        "role",
        {"danger": "no", "ref_type": "concern", "phoned": "no"},
        ["danger", "ref_type", "phoned"],
    )
    assert flow.cancel(fs).state == "cancelled" and flow.cancel(fs).answers == {}
    assert flow.expire(fs).state == "expired" and flow.expire(fs).answers == {}


def test_finishing_keeps_only_answers_on_the_path(policy: Policy) -> None:
    flow = FlowEngine(build("consult", policy))
    answers = {"consent": "given", "consent_reason": "stale from an earlier branch"}
    fs = FlowState("before", answers, ["consent", "child_voice"])
    done = flow.answer(fs, "no", ctx())
    assert isinstance(done, FlowState) and done.state == COMPLETED
    assert "consent_reason" not in done.answers


# --- completeness -----------------------------------------------------------------


def test_completeness_counts_substantive_answers() -> None:
    assert not substantive("not known") and not substantive("N/A.") and substantive("Scared")
    full = {
        "worried": "a",
        "risks": "b",
        "why_now": "c",
        "tried": "d",
        "eha": "done",
        "parents_aware": "yes",
        "consent": "given",
        "child_voice": "e",
        "parent_voice": "f",
        "referrer_done": "g",
        "support_needed": "h",
        "age_band": "5-10",
    }
    assert completeness(full) == (100, [])
    partial = {**full, "child_voice": "not known", "consent": "refused", "parent_voice": ""}
    pct, gaps = completeness(partial)
    assert pct == 73 and gaps == [
        "the consent status, with the reason if not given",
        "the voice of the child",
        "the voice of the parents or carers",
    ]
    older = {**full, "age_band": "11-15"}
    assert completeness(older)[1] == [
        "whether the young person has been spoken to (Gillick competence)"
    ]


def test_describe_shows_labels_for_a_summary(policy: Policy) -> None:
    s = build("consult", policy)
    pairs = s.describe(
        {"agency": "youth", "categories": ["cse", "missing"], "worried": "Out late."}
    )
    assert pairs == [
        ("Which agency do you work for?", "Youth service"),
        (
            "What is the worry about? Choose all that apply.",
            "Child sexual exploitation, Going missing",
        ),
        ("What are you worried about?", "Out late."),
    ]
