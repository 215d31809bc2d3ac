"""The suggestion rules, worked through SCENARIOS.md 1-13 (and read as the professional reads
them: headline, reasons, what happens next) and one test per outcome.

Pure functions: no database. Every suggestion must cite the rule that
produced its outcome and its rating, and every rule must name its source.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.flows.guided.models import Suggestion
from bot.flows.guided.rules import (
    CATEGORIES,
    RULES,
    safety_gate,
    suggest,
    suspended_for,
    suspended_in_text,
    urgent_message,
)
from bot.policy import Policy, load_policy

TUESDAY_10AM = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # GMT: 10:00 in London, office open
SATURDAY_7PM = datetime(2026, 3, 7, 19, 0, tzinfo=UTC)  # Scenario 12
DOCUMENTS = (
    "Camden contact service",
    "Cambridgeshire MASH referrals",
    "Cambridgeshire front door COVID changes",
    "MASH-to-CAF practice guidance",
    "Barnet CAF team operational model",
    "Domain notes",
)


@pytest.fixture(scope="module")
def cambs() -> Policy:
    return load_policy("cambridgeshire")


@pytest.fixture(scope="module")
def camden() -> Policy:
    return load_policy("camden")


def consult(**over: Any) -> dict[str, Any]:
    """A clean consultation's answers (Scenario 4 by default), with overrides."""
    a: dict[str, Any] = {
        "danger": "no",
        "want": "general",
        "role": "teacher",
        "agency": "education",
        "age_band": "5-10",
        "categories": ["school"],
        "lado": "no",
        "worried": "Attendance has dropped and mornings are chaotic.",
        "risks": "Falling behind; isolated from friends.",
        "level": "early_help",
        "why_now": "Parent asked for help with routines.",
        "tried": "Attendance meetings with the school.",
        "eha": "done",
        "open_caf": "no",
        "parents_aware": "yes",
        "consent": "given",
        "child_voice": "Says mornings are hard.",
        "before": "no",
    }
    a.update(over)
    return a


def refer(**over: Any) -> dict[str, Any]:
    """A clean referral's answers (consultation answers plus the checklist's own)."""
    a = consult(
        ref_type="concern",
        phoned="no",
        parent_voice="Mum wants help.",
        referrer_done="Spoke to our safeguarding lead.",
        support_needed="Help with routines.",
    )
    for k in ("want", "before"):
        a.pop(k)
    a.update(over)
    return a


def rule_ids(s: Suggestion) -> list[str]:
    return [r.rule for r in s.reasons]


def assert_cited(s: Suggestion) -> None:
    """The outcome and the rating are each produced by a cited rule with a source."""
    assert s.reasons, "a suggestion without reasons"
    for r in s.reasons:
        assert r.rule in RULES and r.source == RULES[r.rule].source
        assert any(doc in r.source for doc in DOCUMENTS), r.source
    assert any(RULES[r].outcome == s.outcome for r in rule_ids(s)), (s.outcome, rule_ids(s))
    if s.rating is not None:
        assert any(RULES[r].rating == s.rating for r in rule_ids(s)), (s.rating, rule_ids(s))


# --- the rules themselves ----------------------------------------------------


def test_every_rule_names_a_source_document() -> None:
    outcomes = {
        "urgent_referral",
        "referral",
        "early_help",
        "continue_caf",
        "signpost",
        "lado",
        "advice_only",
        "redirect",
        "returned",
        "note",
    }
    for rule in RULES.values():
        assert rule.id.startswith("R-")
        assert rule.outcome in outcomes, rule.id
        assert any(doc in rule.source for doc in DOCUMENTS), rule.id
        assert rule.rating in (None, "red", "amber_sh", "amber_cin", "green", "blue")


def test_categories_are_the_children_in_need_factors() -> None:
    assert len(CATEGORIES) == 19
    for key in ("neglect", "fgm", "cse", "cce", "private_fostering", "trafficking", "other"):
        assert key in CATEGORIES


# --- one test per outcome ------------------------------------------------------

OUTCOMES = [
    ("urgent_referral", "red", "consult", consult(danger="yes"), 1),
    ("referral", "amber_sh", "consult", consult(level="significant_harm"), 1),
    ("early_help", "green", "consult", consult(), 1),
    ("signpost", "blue", "consult", consult(level="practical"), 1),
    ("lado", None, "consult", consult(lado="yes"), 1),
    ("advice_only", None, "consult", consult(level="not_sure"), 1),
    ("redirect", None, "consult", consult(want="known"), 1),
    ("returned", "blue", "refer", refer(consent="refused", consent_reason="Mum said no."), 1),
]


@pytest.mark.parametrize(("outcome", "rating", "kind", "answers", "count"), OUTCOMES)
def test_each_outcome_cites_its_rule(
    cambs: Policy,
    outcome: str,
    rating: str | None,
    kind: str,
    answers: dict[str, Any],
    count: int,
) -> None:
    s = suggest(kind, answers, cambs, TUESDAY_10AM, repeat_count=count)
    assert s.outcome == outcome
    if outcome == "lado":
        assert s.rating == "green"  # the child's own level still routes the card
    else:
        assert s.rating == rating
    assert_cited(s)


# --- SCENARIOS.md ------------------------------------------------------------------


def test_scenario_1_immediate_danger_is_red_and_says_who_to_call(cambs: Policy) -> None:
    s = safety_gate(cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("urgent_referral", "red")
    assert rule_ids(s)[0] == "R-safety-gate"
    assert "R-written-confirmation" in rule_ids(s)
    assert "24 hours" in s.reasons[-1].text  # Cambridgeshire: confirm in writing within 24 h
    msg = urgent_message(cambs, TUESDAY_10AM)
    assert "999" in msg and cambs.phones.front_door in msg
    assert cambs.phones.edt not in msg
    assert_cited(s)
    # Whatever else was said, "yes" at the gate wins.
    assert suggest("refer", refer(danger="yes", level="practical"), cambs, TUESDAY_10AM) == s


def test_scenario_1_out_of_hours_gives_the_edt(cambs: Policy, camden: Policy) -> None:
    msg = urgent_message(cambs, SATURDAY_7PM)
    assert "999" in msg and cambs.phones.edt in msg and "Emergency Duty Team" in msg
    s = safety_gate(cambs, SATURDAY_7PM)
    assert "R-edt-out-of-hours" in rule_ids(s)
    assert "48 hours" in safety_gate(camden, TUESDAY_10AM).reasons[-1].text  # Camden: 48 h


@pytest.mark.parametrize("kind", ["consult", "refer"])
def test_scenario_2_bruising_is_amber_significant_harm(cambs: Policy, kind: str) -> None:
    base = consult if kind == "consult" else refer
    a = base(
        categories=["physical_abuse"],
        level="significant_harm",
        consent="unsafe",
        consent_reason="Asking would alert the parent.",
    )
    s = suggest(kind, a, cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("referral", "amber_sh")
    assert rule_ids(s)[:2] == ["R-amber-sh", "R-consent-sh"]
    assert "24 hours" in s.reasons[0].text
    assert "R-edt-out-of-hours" not in rule_ids(s)  # office hours
    assert_cited(s)


def test_scenario_3_parent_with_learning_disability_is_child_in_need(cambs: Policy) -> None:
    a = consult(age_band="0-2", categories=["parental_learning_disability"], level="statutory")
    s = suggest("consult", a, cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("referral", "amber_cin")
    assert rule_ids(s) == ["R-amber-cin"]
    assert "3 working days" in s.reasons[0].text
    assert_cited(s)


def test_scenario_3_without_early_help_first_adds_a_note(cambs: Policy) -> None:
    a = consult(categories=["parental_learning_disability"], level="statutory", eha="not_offered")
    s = suggest("refer", {**a, "ref_type": "concern"}, cambs, TUESDAY_10AM)
    assert s.rating == "amber_cin" and "R-eha-first" in rule_ids(s)


def test_scenario_4_attendance_with_consent_is_early_help(cambs: Policy) -> None:
    s = suggest("consult", consult(), cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("early_help", "green")
    assert rule_ids(s) == ["R-green"]
    assert_cited(s)


def test_scenario_5_refused_early_help_consultation_is_advice_only(cambs: Policy) -> None:
    a = consult(consent="refused", consent_reason="Parent does not want services.")
    s = suggest("consult", a, cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("advice_only", None)
    assert "R-consent-early-help" in rule_ids(s)
    assert "universal services" in s.reasons[-1].text
    assert_cited(s)


@pytest.mark.parametrize("consent", ["refused", "not_sought"])
def test_scenario_5_referral_without_consent_is_returned(cambs: Policy, consent: str) -> None:
    a = refer(consent=consent, consent_reason="Not asked yet.")
    s = suggest("refer", a, cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("returned", "blue")
    assert rule_ids(s)[-1] == "R-consent-returned"
    assert "returned to you" in s.reasons[-1].text
    assert any("Green" in n for n in s.notes)
    assert_cited(s)


def test_no_consent_with_a_safeguarding_concern_is_not_returned(cambs: Policy) -> None:
    a = refer(level="statutory", categories=["neglect"], consent="refused", consent_reason="No.")
    s = suggest("refer", a, cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("referral", "amber_cin")
    assert "R-consent-override" in rule_ids(s)


def test_consent_withheld_as_unsafe_goes_to_the_mash(cambs: Policy) -> None:
    a = consult(consent="unsafe", consent_reason="Dad would take it out on her.")
    s = suggest("consult", a, cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("referral", "amber_sh")
    assert rule_ids(s)[0] == "R-consent-unsafe"
    assert_cited(s)


def test_consent_not_yet_sought_for_early_help_says_seek_it(cambs: Policy) -> None:
    a = consult(consent="not_sought", consent_reason="Meeting mum next week.")
    s = suggest("consult", a, cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("early_help", "green")
    assert "R-consent-seek" in rule_ids(s)


def test_scenario_6_damp_housing_is_signposting(cambs: Policy) -> None:
    a = consult(
        categories=["housing_financial"],
        level="practical",
        consent="not_sought",
        consent_reason="Not needed for signposting.",
    )
    s = suggest("consult", a, cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("signpost", "blue")
    assert rule_ids(s) == ["R-blue"]
    assert_cited(s)


def test_scenario_7_is_this_child_known(cambs: Policy) -> None:
    s = suggest("consult", consult(want="known"), cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("redirect", None)
    assert rule_ids(s) == ["R-suspended", "R-info-sharing"]
    assert "open CAF episode or an allocated social worker" in s.reasons[1].text
    # ... and the same request typed as the worry, confirmed as nothing more.
    typed = consult(worried="Can you tell me if this child is known to you?", suspended_check="no")
    t = suspended_for(typed, cambs)
    assert t is not None and t.id == "request_for_information"
    assert suggest("consult", typed, cambs, TUESDAY_10AM).outcome == "redirect"
    assert_cited(s)


@pytest.mark.parametrize(
    "type_id",
    [
        "chaperone_check",
        "background_check",
        "ehcp_request",
        "idva_notification",
        "court_order_no_risk",
        "request_for_information",
    ],
)
def test_scenario_8_suspended_types_are_redirected(cambs: Policy, type_id: str) -> None:
    s = suggest("refer", refer(ref_type=type_id), cambs, TUESDAY_10AM)
    st = {t.id: t for t in cambs.suspended_types}[type_id]
    assert (s.outcome, s.rating) == ("redirect", None)
    assert s.reasons[0].rule == "R-suspended" and st.redirect in s.reasons[0].text
    assert_cited(s)


def test_scenario_9_standard_risk_domestic_abuse_notification(cambs: Policy) -> None:
    s = suggest("refer", refer(ref_type="standard_risk_domestic_abuse"), cambs, TUESDAY_10AM)
    assert s.outcome == "redirect"
    text = "Police notification: domestic incident graded standard risk, no other concern."
    hit = suspended_in_text(cambs, text)
    assert hit is not None and hit.id == "standard_risk_domestic_abuse"
    # A keyword alone never redirects: only a confirmed "no other worry" does.
    assert suggest("refer", refer(worried=text), cambs, TUESDAY_10AM).outcome != "redirect"
    assert suspended_in_text(cambs, "She is upset about her phone being taken away.") is None


def test_scenario_10_allegation_against_staff_goes_to_the_lado(cambs: Policy) -> None:
    a = consult(lado="yes", categories=["physical_abuse"], level="significant_harm")
    s = suggest("consult", a, cambs, TUESDAY_10AM)
    assert s.outcome == "lado" and s.rating == "amber_sh"
    assert rule_ids(s)[0] == "R-lado"
    assert any("Also make a referral for the child" in n for n in s.notes)
    assert_cited(s)


def test_scenario_11_open_caf_below_threshold_continues_the_caf(cambs: Policy) -> None:
    s = suggest("consult", consult(open_caf="yes"), cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("continue_caf", "green")
    assert rule_ids(s) == ["R-open-caf"]
    assert "link to the existing CAF episode" in s.reasons[0].text
    assert_cited(s)


@pytest.mark.parametrize("policy_name", ["cambridgeshire", "camden"])
def test_scenario_12_saturday_evening_significant_harm_tells_the_edt(policy_name: str) -> None:
    policy = load_policy(policy_name)
    a = consult(categories=["physical_abuse"], level="significant_harm")
    s = suggest("consult", a, policy, SATURDAY_7PM)
    assert (s.outcome, s.rating) == ("referral", "amber_sh")
    assert "R-edt-out-of-hours" in rule_ids(s)
    assert "out of hours: the emergency duty team is told now." in [n.lower() for n in s.notes]
    assert policy.phones.edt in s.reasons[-1].text
    # Others wait for the next working day: no EDT for Green on a Saturday ...
    green = suggest("consult", consult(), policy, SATURDAY_7PM)
    assert "R-edt-out-of-hours" not in rule_ids(green)
    # ... and no EDT for significant harm on a Tuesday morning.
    weekday = suggest("consult", a, policy, TUESDAY_10AM)
    assert "R-edt-out-of-hours" not in rule_ids(weekday)


def test_scenario_13_third_consultation_pushes_to_a_referral(cambs: Policy) -> None:
    second = suggest("consult", consult(), cambs, TUESDAY_10AM, repeat_count=2)
    assert second.outcome == "early_help" and not second.notes
    third = suggest("consult", consult(), cambs, TUESDAY_10AM, repeat_count=3)
    assert (third.outcome, third.rating) == ("referral", "amber_cin")
    assert "R-repeat-consultation" in rule_ids(third)
    assert any("third consultation about this situation" in n for n in third.notes)
    assert_cited(third)
    fourth = suggest("consult", consult(level="practical"), cambs, TUESDAY_10AM, repeat_count=4)
    assert fourth.outcome == "referral" and any("fourth" in n for n in fourth.notes)


def test_unsure_consultation_is_advice_and_unsure_referral_is_mash_amber(cambs: Policy) -> None:
    s = suggest("consult", consult(level="not_sure"), cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating, rule_ids(s)) == ("advice_only", None, ["R-advice-unsure"])
    r = suggest("refer", refer(level="not_sure"), cambs, TUESDAY_10AM)
    assert (r.outcome, r.rating, rule_ids(r)) == ("referral", "amber_sh", ["R-amber-unclear"])
    assert_cited(s)
    assert_cited(r)


def test_referral_notes_gillick_and_written_confirmation(cambs: Policy, camden: Policy) -> None:
    a = refer(age_band="11-15", gillick="no", phoned="yes", phoned_at="2026-03-07T18:30+00:00")
    s = suggest("refer", a, cambs, SATURDAY_7PM)
    assert "R-gillick" in rule_ids(s)
    confirm = next(r for r in s.reasons if r.rule == "R-written-confirmation")
    assert "24 hours" in confirm.text and "Sun 08 Mar 2026 18:30" in confirm.text
    c = suggest("refer", a, camden, SATURDAY_7PM)
    confirm = next(r for r in c.reasons if r.rule == "R-written-confirmation")
    assert "48 hours" in confirm.text and "Mon 09 Mar 2026 18:30" in confirm.text


def test_is_this_child_known_redirects_even_without_a_listed_type(cambs: Policy) -> None:
    bare = cambs.model_copy(update={"suspended_types": ()})
    s = suggest("consult", consult(want="known"), bare, TUESDAY_10AM)
    assert s.outcome == "redirect"
    assert [r.rule for r in s.reasons] == ["R-suspended", "R-info-sharing"]


def test_significant_harm_with_consent_refused_may_still_be_referred(cambs: Policy) -> None:
    a = consult(level="significant_harm", consent="refused", consent_reason="Dad said no.")
    s = suggest("consult", a, cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("referral", "amber_sh")
    assert rule_ids(s) == ["R-amber-sh", "R-consent-override"]


def test_section_17_consultation_without_consent_is_advice_only(cambs: Policy) -> None:
    a = consult(level="statutory", categories=["school"], consent="refused", consent_reason="No.")
    s = suggest("consult", a, cambs, TUESDAY_10AM)
    assert (s.outcome, s.rating) == ("advice_only", None)
    assert rule_ids(s) == ["R-amber-cin", "R-consent-s17"]
    assert_cited(s)


def test_every_rule_is_named_in_these_tests() -> None:
    """A new rule without a test fails here: each id must be asserted on in this module."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for rule_id in RULES:
        assert f'"{rule_id}"' in source, rule_id


# --- SCENARIOS.md 1-13 in the words the professional reads ----------------------------

REF = "FD-2026-000123"
SCENARIO_WORDS = [
    # (scenario, kind, answers, now, repeat count, headline, a reason's words, what next)
    ("1", "refer", refer(danger="yes"), TUESDAY_10AM, 1,
     "If a child is in immediate danger, call 999 now.",
     "Confirm a phone referral in writing within 24 hours",
     "Then call the front door on"),
    ("2", "refer", refer(categories=["physical_abuse"], level="significant_harm",
                         consent="unsafe", consent_reason="Asking would alert the parent."),
     TUESDAY_10AM, 1, "Make a referral", "make a referral now. Amber",
     "A manager will decide; you'll hear the outcome here."),
    ("3", "consult", consult(categories=["parental_learning_disability"], level="statutory"),
     TUESDAY_10AM, 1, "Make a referral", "A child in need of a statutory social work service",
     "A duty advisor will reply here."),
    ("4", "consult", consult(), TUESDAY_10AM, 1,
     "Start an Early Help Assessment (with consent)",
     "start an Early Help Assessment (CAF) with the family's consent",
     "A duty advisor will reply here."),
    ("5", "consult", consult(consent="refused", consent_reason="Parent does not want it."),
     TUESDAY_10AM, 1, "Advice only / no further action",
     "Early help is consent-based", "A duty advisor will reply here."),
    ("5", "refer", refer(consent="refused", consent_reason="Parent does not want it."),
     TUESDAY_10AM, 1, "Returned to the referrer (no consent, no safeguarding concern)",
     "the referral will be returned to you", "A manager will decide"),
    ("6", "consult", consult(categories=["housing_financial"], level="practical"),
     TUESDAY_10AM, 1, "Signpost to universal or community services",
     "signpost the family to universal services", "A duty advisor will reply here."),
    ("7", "consult", consult(want="known"), TUESDAY_10AM, 1,
     "This isn't something the front door can take.",
     "The front door cannot say whether a child is known.",
     "If you also have a safeguarding concern about a child, start again"),
    ("8", "refer", refer(ref_type="chaperone_check"), TUESDAY_10AM, 1,
     "This isn't something the front door can take.", "use your organisation's own vetting route",
     "start again"),
    ("9", "refer", refer(ref_type="standard_risk_domestic_abuse"), TUESDAY_10AM, 1,
     "This isn't something the front door can take.", "", "start again"),
    ("10", "consult", consult(lado="yes", categories=["physical_abuse"],
                              level="significant_harm"), TUESDAY_10AM, 1,
     "Refer to the LADO", "goes to the LADO", "Also make a referral for the child"),
    ("11", "consult", consult(open_caf="yes"), TUESDAY_10AM, 1,
     "Continue the open CAF and strengthen the family plan",
     "link to the existing CAF episode", "A duty advisor will reply here."),
    ("12", "consult", consult(categories=["physical_abuse"], level="significant_harm"),
     SATURDAY_7PM, 1, "Make a referral", "the Emergency Duty Team",
     "Out of hours: the Emergency Duty Team is told now."),
    ("13", "consult", consult(), TUESDAY_10AM, 3, "Make a referral",
     "repeated worry is itself a signal",
     "This is the third consultation about this situation."),
]


def read_step(kind: str, s: Suggestion, policy: Policy, now: datetime) -> str:
    """What the professional reads when the flow ends, as plain text."""
    from bot.flows.guided.models import Status, Step
    from bot.handlers.slack.blocks import flow
    from tests.test_blocks import all_text

    if s.outcome == "urgent_referral":
        step = Step(Status.URGENT, flow_kind=kind, suggestion=s, reference=REF,
                    message=urgent_message(policy, now))
        return all_text(flow.urgent_message(step, policy, now))
    if s.outcome == "redirect":
        return all_text(flow.redirected_message(
            Step(Status.REDIRECTED, flow_kind=kind, suggestion=s, reference=REF,
                 message=s.reasons[0].text)))
    step = Step(Status.COMPLETED, flow_kind=kind, suggestion=s, reference=REF)
    return all_text(flow.completed_message(step, policy))


@pytest.mark.parametrize(
    ("scenario", "kind", "answers", "now", "count", "headline", "why", "told"),
    SCENARIO_WORDS,
    ids=[f"scenario-{w[0]}-{w[1]}" for w in SCENARIO_WORDS],
)
def test_scenario_in_the_words_the_professional_reads(
    cambs: Policy, scenario: str, kind: str, answers: dict[str, Any], now: datetime,
    count: int, headline: str, why: str, told: str,
) -> None:
    s = suggest(kind, answers, cambs, now, repeat_count=count)
    read = read_step(kind, s, cambs, now)
    assert headline in read, (scenario, read)
    assert why in read, (scenario, read)
    assert told in read, (scenario, read)
    # No raw key ("amber_sh", "Eha", "Dont know") or file name ("NOTES.md") is shown.
    words = re.sub(r":[a-z_]+:", "", read)  # emoji codes are Slack's, not shown as text
    assert not re.search(r"\b[a-z]+_[a-z_]+\b|\.md\b|\bEha\b|\bDont\b", words), (
        scenario, read)


TOLD_AFTER_DECISION = [
    # (scenario, the referral's answers, what the referrer reads once a manager approves)
    ("2", refer(categories=["physical_abuse"], level="significant_harm", consent="unsafe",
                consent_reason="Asking would alert the parent."),
     "The MASH will gather information from partner agencies"),
    ("3", refer(categories=["parental_learning_disability"], level="statutory"),
     "An assessment team will contact the family about a child and family assessment."),
    ("4", refer(), "The early help team will contact the family about early help."),
    ("6", refer(categories=["housing_financial"], level="practical"),
     "signpost them to universal or community services"),
    ("11", refer(open_caf="yes"), "The child's open CAF continues: no new assessment is started"),
]


@pytest.mark.parametrize(("scenario", "answers", "told"), TOLD_AFTER_DECISION,
                         ids=[f"scenario-{t[0]}" for t in TOLD_AFTER_DECISION])
def test_referrer_is_told_what_happens_once_the_suggestion_is_approved(
    cambs: Policy, scenario: str, answers: dict[str, Any], told: str,
) -> None:
    from bot.handlers.slack.blocks.cards import outcome_dm
    from tests.test_blocks import all_text, make_card, make_referral

    s = suggest("refer", answers, cambs, TUESDAY_10AM)
    assert s.rating is not None
    card = make_card(suggested_rating=s.rating, rating=s.rating, status="decided")
    referral = make_referral(summary={"answers": answers})
    read = all_text(outcome_dm(card, referral, cambs))
    assert told in read, (scenario, read)
    if scenario == "11":
        assert "early help team will contact" not in read
