"""The Teams renderer: every intent, drawn from real rows, is a valid Adaptive Card 1.5 (or
plain text) activity Teams would take, with Teams mentions and never Slack markup; the
no-names refusal and question never quote what they found.

The cards are validated against Microsoft's published Adaptive Card 1.5 schema
(tests/data/adaptive-card-1.5.schema.json, MIT: tests/data/adaptive-card-schema.LICENSE).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot import delivered, intents, jobs, nonames
from bot.flows.guided.models import Kind, Option, Prompt, Reason, Status, Suggestion
from bot.handlers.teams.cards import ac, verbs
from bot.handlers.teams.cards import nonames as refusals
from bot.handlers.teams.render import TeamsCall, TeamsRenderer
from bot.policy import Policy, load_policy
from store import sql
from store.db import session_scope
from store.models import CafEpisode, CafQa, Decision, OutboxMessage
from store.tx import Tx
from tests.test_blocks import (
    NOW,
    make_card,
    make_consultation,
    make_professional,
    make_referral,
    make_step,
    walk,
)
from tests.test_blocks import hostile_text as hostile_text

_DATA = Path(__file__).with_name("data")
# People and channels as Teams names them: Entra object ids, 19:…@thread.tacv2 channels.
# Today's id columns hold 32 characters (migration 0005 widens them to 255), so the
# object ids are written without their hyphens and the channel ids are short ones.
MANAGER = "3f2b6c1e8d4a4b7e9c2d1a5e6f7b8c90"
ADVISOR = "7a1d2e3f4b5c4d6e8f90a1b2c3d4e5f6"
REFERRER = "c0ffee0012344abc8def0123456789ab"
LEAD = "5e6f7a8b9c0d4e1fa2b3c4d5e6f7a8b9"
COORDINATOR = "9b8a7c6d5e4f4a3bb2c1d0e9f8a7b6c5"
MANAGERS_TAG = "MTk6bWFuYWdlcnNAdGhyZWFkLnRhY3YyIyNtYW5hZ2Vycw=="
CARDS = "19:mashtriage01@thread.tacv2"
EDT = "19:edt01@thread.tacv2"
NAMES = ac.Directory(
    people={MANAGER: "Morgan Manager", ADVISOR: "Avery Advisor", REFERRER: "Ada Teacher",
            LEAD: "Lee Lead", COORDINATOR: "Casey Coordinator"},
    groups={MANAGERS_TAG: "MASH managers"},
    channels={CARDS: "MASH triage", EDT: "Emergency Duty Team"},
    links={CARDS: "https://teams.microsoft.com/l/channel/19%3Amashtriage01%40thread.tacv2/"
                  "MASH%20triage"},
)
SLACK_MARKUP = ("<@", "<#", "<!", "mrkdwn")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy("cambridgeshire")


# --------------------------------------------------------------------------- the checks


@cache
def _validator() -> jsonschema.Draft6Validator:
    schema = json.loads((_DATA / "adaptive-card-1.5.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft6Validator(schema)


def cards_of(activity: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["content"] for a in activity.get("attachments") or []
            if a.get("contentType") == ac.CONTENT_TYPE]


def dialogs(card: dict[str, Any]) -> set[str]:
    """The actions of ``card``'s buttons that open a dialog (Teams sends ``task/fetch``)."""
    return {a["data"][verbs.ACTION] for a in walk(card.get("actions"))
            if a.get("type") == "Action.Submit"
            and (a.get("data") or {}).get("msteams") == {"type": "task/fetch"}}


def assert_valid_card(card: dict[str, Any]) -> None:
    """Valid against the 1.5 schema. ``msteams`` (mention entities, width) is Teams' own
    extension of the card, which the schema (additionalProperties: false) does not list."""
    bare = {k: v for k, v in card.items() if k != "msteams"}
    errors = sorted(_validator().iter_errors(bare), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]
    assert card["version"] == "1.5"


def assert_teams_activity(activity: dict[str, Any]) -> None:
    """What Teams would take: a message, a card valid against the schema under 28 KB, every
    ``<at>`` backed by a mention entity, and no Slack markup anywhere."""
    assert activity["type"] == "message"
    raw = json.dumps(activity, ensure_ascii=False)
    # Measured as sent with non-ASCII escaped (the larger) and as UTF-8.
    assert len(json.dumps(activity)) <= ac.MAX_ACTIVITY_BYTES, len(json.dumps(activity))
    assert len(raw.encode()) <= ac.MAX_ACTIVITY_BYTES, len(raw.encode())
    for mark in SLACK_MARKUP:
        assert mark not in raw, (mark, raw[:400])
    assert re.search(r":[a-z_]+:", " ".join(_texts(activity))) is None, "a Slack emoji code"
    cards = cards_of(activity)
    assert cards or activity.get("text") or activity.get("attachments")
    for card in cards:
        assert_valid_card(card)
        entities = {e["text"] for e in card.get("msteams", {}).get("entities", [])}
        used = {t for d in walk(card["body"]) if d.get("type") in ("TextBlock", "TextRun")
                for t in re.findall(r"<at>[^<]*</at>", str(d["text"]))}
        assert used <= entities, used - entities
        for e in card.get("msteams", {}).get("entities", []):
            assert e["mentioned"]["id"] and e["type"] == "mention"
    if activity.get("textFormat") == "plain":
        assert "<at>" not in activity["text"]


def _texts(activity: dict[str, Any]) -> list[str]:
    return [str(d.get("text", "")) for d in walk(activity)
            if d.get("type") in ("TextBlock", "TextRun", "message")]


def words(activity: dict[str, Any]) -> str:
    return "\n".join(_texts(activity))


# --------------------------------------------------------------------------- the rows


def episode(**kw: Any) -> CafEpisode:
    base: dict[str, Any] = dict(
        id=3, ehm_reference="EHM-20417", lead_user_id=LEAD, coordinator_user_id=COORDINATOR,
        completed_on=date(2026, 9, 1), consent=True, next_meeting_due=date(2026, 9, 29))
    base.update(kw)
    return CafEpisode(**base)


def question_step(kind: Kind, **kw: Any) -> Any:
    options = {Kind.CHOICE: (Option("under_1", "Under 1"), Option("5_10", "5 to 10")),
               Kind.MULTI: tuple(Option(f"c{i}", f"Category {i}") for i in range(8))}
    prompt = Prompt(id=f"q_{kind.value}", text=f"A {kind.value} question?", kind=kind,
                    options=options.get(kind, ()), help="Think about the last month.",
                    optional=kind == Kind.TEXT, placeholder="e.g. hungry at school")
    return make_step(prompt, can_go_back=True, version=5, **kw)


def qa_rows(ep: CafEpisode, channel: str) -> list[tuple[str, dict[str, str], dict[str, Any],
                                                     dict[str, Any]]]:
    """The CAF manager's quality assurance intents (bot.flows.caf.qa), as queued."""
    snap = intents.snapshot
    asked = CafQa(id=7, episode_id=ep.id or 0, kind="plan", round=2, requested_by=LEAD,
                  requested_at=NOW)
    returned = CafQa(id=8, episode_id=ep.id or 0, kind="closure", status="returned",
                     requested_by=LEAD, requested_at=NOW, decided_by=MANAGER, decided_at=NOW,
                     reasons="The family asked for support with routines.")
    agreed = CafQa(id=9, episode_id=ep.id or 0, kind="plan", status="agreed",
                   requested_by=LEAD, requested_at=NOW, decided_by=MANAGER, decided_at=NOW)
    due = (NOW + timedelta(days=5)).isoformat()
    return [
        (intents.CAF_QA_CARD, intents.conversation(channel),
         {"qa": snap(asked), "episode": snap(ep), "due": due}, {}),
        (intents.CAF_QA_CARD_DONE, intents.conversation(channel),
         {"qa": snap(returned), "episode": snap(ep)}, {}),
        (intents.CAF_QA_AGREED, intents.person(LEAD), {"qa": snap(agreed), "episode": snap(ep)},
         {}),
        (intents.CAF_QA_RETURNED, intents.person(LEAD),
         {"qa": snap(returned), "episode": snap(ep)}, {}),
        (intents.CAF_QA_DUE, intents.conversation(channel),
         {"qa": snap(asked), "episode": snap(ep), "due": due}, {}),
    ]


def queue_every_intent(engine: Engine, policy: Policy) -> dict[str, int]:
    """Rows as the service writes them: the domain rows, then one outbox row per intent
    (the cards' first posts remembered as delivered, so updates and notes find them)."""
    card = make_card(referrer_user_id=REFERRER, assignee_user_id=MANAGER,
                     breached=True, due_at=NOW - timedelta(minutes=20))
    decided = make_card(id=43, referral_id=10, reference="FD-2026-000124", rating="green",
                        status="decided", decided_by=MANAGER, decided_at=NOW,
                        referrer_user_id=REFERRER)
    referral = make_referral(phone_referral=True, consent_reason="Parent agreed on the phone")
    ref2 = make_referral(id=10, reference="FD-2026-000124")
    prof = make_professional(user_id=REFERRER)
    consultation = make_consultation(repeat_count=3,
                                     advice_outcome="referral", advisor_user_id=ADVISOR,
                                     advice_text="Please refer today.", advised_at=NOW)
    ep = episode()
    ids: dict[str, int] = {}
    with session_scope(engine) as s:
        s.add_all([prof, referral, ref2])
        s.flush()
        s.add_all([card, decided, consultation])
        s.flush()
        s.add(Decision(card_id=43, action="change", old_rating="amber_cin", new_rating="green",
                       reason="Family already engaged with early help", actor=MANAGER,
                       at=NOW))
        tx = Tx.of(s)
        snap = intents.snapshot
        to_ref, to_cards = intents.person(REFERRER), intents.conversation(CARDS)
        about_card = {"subject_type": "card", "subject_id": 42}
        step = question_step(Kind.CHOICE, answers={"q_choice": "5_10"})
        done_step = make_step(status=Status.COMPLETED, flow_kind="refer",
                              reference="FD-2026-000123", message="Recorded.",
                              suggestion=Suggestion(
                                  outcome="referral", rating="amber_cin",
                                  reasons=(Reason("R-cin", "Needs a statutory service",
                                                  "Camden contact service: Amber"),),
                                  notes=("Third consultation about this situation",)))
        said = {"what": "held", "actor": intents.person(LEAD), "on": "2026-09-28"}
        rows: list[tuple[str, dict[str, str], dict[str, Any], dict[str, Any]]] = [
            (intents.TRIAGE_CARD, to_cards, {}, about_card),
            (intents.TRIAGE_CARD_UPDATE, to_cards, {}, about_card),
            (intents.CONSULTATION_CARD, to_cards, {},
             {"subject_type": "consultation", "subject_id": 5}),
            (intents.CONSULTATION_CARD_UPDATE, to_cards, {},
             {"subject_type": "consultation", "subject_id": 5}),
            (intents.CARD_NOTE, to_cards,
             {"text": "Info requested: does the school have a plan?",
              "notify": [intents.person(MANAGER)], "groups": [intents.group(MANAGERS_TAG)],
              "by": intents.person(ADVISOR)}, about_card),
            (intents.EDT_ALERT, intents.conversation(EDT),
             {"reference": "FD-2026-000123", "rating": "red", "card": to_cards}, about_card),
            (intents.SLA_ESCALATION, intents.conversation(EDT),
             {"text": "FD-2026-000123: Contact decision: due 10:00 Tue 13 Oct, now breached.",
              "card": to_cards}, about_card),
            (intents.FLOW_QUESTION, to_ref, {"step": intents.step_data(step)}, {}),
            (intents.FLOW_QUESTION_CLOSED, to_ref,
             {"question": intents.step_data(step), "message": "1:question",
              "step": intents.step_data(question_step(Kind.DATE, answers={"q_choice": "5_10"}))},
             {}),
            (intents.FLOW_COMPLETED, to_ref,
             {"step": intents.step_data(done_step), "referral": snap(referral)}, {}),
            (intents.FLOW_URGENT, to_ref,
             {"step": intents.step_data(make_step(status=Status.URGENT, flow_kind="refer",
                                                  reference="FD-2026-000125")),
              "at": (NOW + timedelta(hours=12)).isoformat()}, {}),
            (intents.FLOW_REDIRECTED, to_ref,
             {"step": intents.step_data(make_step(status=Status.REDIRECTED,
                                                  message="Try the adult team."))}, {}),
            (intents.FLOW_CANCELLED, to_ref,
             {"step": intents.step_data(make_step(status=Status.CANCELLED))}, {}),
            (intents.FLOW_EXPIRED, to_ref,
             {"step": intents.step_data(make_step(status=Status.EXPIRED))}, {}),
            (intents.REFERRER_OUTCOME, to_ref, {"card": snap(decided), "referral": snap(ref2)},
             {}),
            (intents.REFERRER_INFO_REQUEST, to_ref,
             {"card": snap(card), "question": "Has the school spoken to the family?"}, {}),
            (intents.ADVICE, to_ref, {"consultation": snap(consultation)}, {}),
            (intents.ADVICE_REDRAW, to_ref, {"changing": True},
             {"subject_type": "consultation", "subject_id": 5}),
            (intents.CAF_REGISTERED, intents.person(LEAD),
             {"episode": snap(ep), "user": intents.person(LEAD),
              "actor": intents.person(COORDINATOR)}, {}),
            (intents.CAF_LINKED, intents.person(LEAD),
             {"episode": snap(ep), "card": snap(decided), "actor": intents.person(MANAGER)}, {}),
            (intents.CAF_UPDATE, intents.person(LEAD),
             {"episode": snap(ep), "said": said, "live": True}, {}),
            (intents.CAF_DONE, intents.person(LEAD),
             {"episode": snap(ep), "said": said, "message": "1:caf"}, {}),
            (intents.CAF_CLOSED, intents.conversation(EDT),
             {"episode": snap(episode(status="closed", close_reason="stepped_down")),
              "actor": intents.person(LEAD)}, {}),
            (intents.CAF_STUCK_COORDINATOR, intents.person(COORDINATOR),
             {"episode": snap(ep), "actor": intents.person(LEAD),
              "note": "The plan has not moved for two months."}, {}),
            (intents.CAF_STUCK_DUTY, intents.conversation(EDT),
             {"episode": snap(ep), "actor": intents.person(LEAD), "note": "Still stuck."}, {}),
            (intents.CAF_PANEL, intents.conversation(EDT),
             {"episode": snap(episode(consent=False)), "note": "Stuck since summer.",
              "months": 7, "held": 2}, {}),
            (intents.CAF_PANEL_TOLD, intents.person(LEAD),
             {"episode": snap(episode(consent=False))}, {}),
            (intents.CAF_TAC_OVERDUE, intents.person(LEAD),
             {"episode": snap(ep), "due": "2026-09-29", "today": "2026-10-13"}, {}),
            (intents.CAF_REASSESS, intents.person(LEAD), {"episode": snap(ep)}, {}),
            (intents.CAF_NO_LEAD, intents.conversation(EDT),
             {"episode": snap(episode(lead_user_id=None)), "stage": "step_down"}, {}),
            *qa_rows(ep, EDT),
            (intents.DEAD_LETTER, intents.conversation(EDT),
             {"about": CARDS, "attempts": 8, "error": "HTTP 502", "row": 17,
              "unconfirmed": False}, {}),
            (intents.NOTICE, to_ref, {"text": "Thank you: recorded. *Not* bold here."}, {}),
        ]
        for i, (intent, to, data, about) in enumerate(rows):
            key = f"t:{i}:{intent}"
            intents.queue(s, intent, key=key, to=to, data=data, **about)
            ids[intent] = i
        # The weekly figures as the job queues them: the summary and the chart.
        jobs.queue_weekly_report(s, policy, date(2026, 10, 5), NOW, key="t:report")
        # Delivered: the cards' first posts (their redraws and threads look for them).
        delivered.remember(tx, intents.TRIAGE_CARD, "card", 42, CARDS, "1:card")
        delivered.remember(tx, intents.CONSULTATION_CARD, "consultation", 5, CARDS, "1:consult")
    return ids


def drawn(engine: Engine, policy: Policy) -> Iterator[tuple[str, TeamsCall]]:
    queue_every_intent(engine, policy)
    renderer = TeamsRenderer(policy, clock=lambda: NOW, directory=NAMES)
    with session_scope(engine) as s:
        for row in s.exec(select(OutboxMessage)).scalars():  # type: ignore[call-overload]
            call = renderer.prepare(sql.Cx.of(s), row, NOW)
            assert call is not None, intents.intent_of(row)
            yield intents.intent_of(row), call


# --------------------------------------------------------------------------- every intent


def test_every_intent_is_a_valid_teams_activity(engine: Engine, policy: Policy) -> None:
    calls = dict(drawn(engine, policy))
    # Every intent but the Slack calls the release before intents left queued (Slack's alone).
    expected = set(intents.KINDS) - {intents.LEGACY}
    assert set(calls) == expected, expected - set(calls)
    for intent, call in calls.items():
        try:
            assert_teams_activity(call.activity)
        except AssertionError as exc:
            raise AssertionError(f"{intent}: {exc}") from exc

    # Addresses and threads: people get their chat, notes answer in the card's thread,
    # updates replace the message delivered before.
    assert calls[intents.FLOW_QUESTION].dm
    assert calls[intents.FLOW_QUESTION].to == REFERRER
    assert calls[intents.CARD_NOTE].reply_to == "1:card"
    assert calls[intents.TRIAGE_CARD_UPDATE].activity_id == "1:card"
    assert calls[intents.CONSULTATION_CARD_UPDATE].activity_id == "1:consult"
    assert calls[intents.FLOW_QUESTION_CLOSED].activity_id == "1:question"
    assert calls[intents.CAF_DONE].activity_id == "1:caf"
    assert calls[intents.TRIAGE_CARD].activity_id is None


def test_triage_card_actions_mentions_and_absolute_times(engine: Engine,
                                                         policy: Policy) -> None:
    calls = dict(drawn(engine, policy))
    act = calls[intents.TRIAGE_CARD].activity
    card = cards_of(act)[0]
    said = words(act)
    # The same words Slack's card says, drawn from the same rows.
    assert "FD-2026-000123 — Suggested: Amber" in said
    assert "SLA BREACHED" in said and "Often hungry at school" in said
    # Due and received times are absolute, formatted by Teams in the reader's zone.
    assert "{{DATE(2026-10-13T08:40:00Z, SHORT)}} {{TIME(2026-10-13T08:40:00Z)}}" in said
    assert "ago" not in said and " in 3 h" not in said
    # Actions: Action.Execute with a verb and the card's id (and version), in place; what
    # needs typed input opens a dialog (task/fetch) carrying the card's id.
    executes = [a for a in walk(card.get("actions")) if a.get("type") == "Action.Execute"]
    verbs_seen = {a["verb"] for a in executes}
    assert {verbs.CARD_APPROVE, verbs.CARD_ASSIGN, verbs.CARD_SNOOZE,
            verbs.CARD_WRITTEN} <= verbs_seen
    assert all(a["data"][verbs.CARD] == 42 and a["data"]["verb"] == a["verb"]
               for a in executes)
    opens = [a for a in walk(card.get("actions")) if a.get("type") == "Action.Submit"]
    assert {a["data"][verbs.ACTION] for a in opens} == {
        verbs.CARD_CHANGE, verbs.CARD_REQUEST_INFO, verbs.CARD_CLOSE}
    assert all(a["data"]["msteams"] == {"type": "task/fetch"} and a["data"][verbs.CARD] == 42
               for a in opens)
    # People as Teams mentions: <at>Name</at> in the text and an entity with the Entra id.
    entities = card["msteams"]["entities"]
    assert {"type": "mention", "text": "<at>Morgan Manager</at>",
            "mentioned": {"id": MANAGER, "name": "Morgan Manager"}} in entities
    assert "<at>Ada Teacher</at>" in said

    # A note in the card's thread mentions the managers' tag and the people by id.
    note = cards_of(calls[intents.CARD_NOTE].activity)[0]
    tag = [e for e in note["msteams"]["entities"] if e["mentioned"].get("type") == "tag"]
    assert tag == [{"type": "mention", "text": "<at>MASH managers</at>",
                    "mentioned": {"id": MANAGERS_TAG, "name": "MASH managers", "type": "tag"}}]
    # A channel is named (and linked where a link is known), never given by its id.
    edt = calls[intents.EDT_ALERT].activity["text"]
    assert "[MASH triage](https://teams.microsoft.com/l/channel/" in edt
    assert CARDS not in json.dumps(calls[intents.DEAD_LETTER].activity)
    assert "MASH triage" in calls[intents.DEAD_LETTER].activity["text"]


def test_consultation_advice_and_outcome_say_what_slack_says(engine: Engine,
                                                              policy: Policy) -> None:
    calls = dict(drawn(engine, policy))
    consult = words(calls[intents.CONSULTATION_CARD].activity)
    assert "This is the third consultation about this situation" in consult
    assert "**Advice:** Make a referral — by <at>Avery Advisor</at>" in consult
    advice = calls[intents.ADVICE].activity
    assert buttons(cards_of(advice)[0]) == {verbs.ADVICE_FOLLOWED, verbs.ADVICE_NOT_FOLLOWED}
    assert "Make a referral: use /refer for the checklist" in words(advice)
    outcome = words(calls[intents.REFERRER_OUTCOME].activity)
    assert "The front door has decided on your referral FD-2026-000124" in outcome
    assert "The early help team will contact the family" in outcome
    # An anonymous panel item shows neither the EHM reference nor anyone.
    panel = json.dumps(calls[intents.CAF_PANEL].activity)
    assert "EHM-20417" not in panel and LEAD not in panel and "P-3" in panel


def test_the_weekly_report_on_teams_is_two_valid_cards_without_the_png(
        engine: Engine, policy: Policy) -> None:
    # A bot cannot upload to a Teams channel, and the chart is more than a message carries:
    # Teams gets the figures and says so, with no image and no "the chart follows".
    calls = dict(drawn(engine, policy))
    summary, chart = calls[intents.REPORT_SUMMARY].activity, calls[intents.REPORT_CHART].activity
    for activity in (summary, chart):
        assert_teams_activity(activity)
        assert "image/png" not in json.dumps(activity)
    assert "chart follows" not in words(summary)
    assert "Consultations: 0" in words(summary)
    said = words(chart)
    assert "Front Door weekly figures from 05 Oct 2026" in said
    assert "Teams does not show the chart; the figures are in the summary above." in said


def buttons(card: dict[str, Any]) -> set[str]:
    """What a card's buttons do: an Action.Execute's verb, a dialog's action."""
    return {a.get("verb") or a["data"][verbs.ACTION] for a in walk(card.get("actions"))
            if a.get("type") in ("Action.Execute", "Action.Submit")}


def test_a_huge_card_stays_under_teams_limit(policy: Policy) -> None:
    """Every answer at its longest, in characters JSON escapes: still under 28 KB, the
    actions kept, the long answers cut with "…"."""
    from bot.handlers.teams.cards import triage

    long = "é😀\"<>" * 800
    answers = {k: long for k in ("worried", "risks", "why_now", "tried", "child_voice",
                                 "parent_voice", "referrer_done", "support_needed", "want",
                                 "level", "gillick", "lado", "eha", "open_caf", "x1", "x2")}
    referral = make_referral(summary={"answers": answers}, consent_reason=long,
                             gaps=[f"gap {i}" for i in range(30)])
    card = make_card(referrer_user_id=REFERRER, suggested_reasons=[
        {"rule": f"R{i}", "text": "A reason " * 30, "source": "Camden"} for i in range(20)])
    last = Decision(card_id=42, actor=MANAGER, action="change", old_rating="green",
                    new_rating="amber_cin", reason=long)
    act = triage.triage_card(card.model_copy(update={"rating": "amber_cin",
                                                     "status": "decided"}),
                             referral, policy, NOW, last, ac.Mentions(NAMES))
    assert_teams_activity(act)
    content = cards_of(act)[0]
    assert buttons(content) >= {verbs.CARD_CHANGE, verbs.CARD_CLOSE}
    assert any(str(r["text"]).endswith("…") for r in walk(content["body"])
               if r.get("type") == "TextRun")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(t=st.lists(hostile_text, min_size=10, max_size=10), odd_id=hostile_text)
def test_every_teams_card_survives_typed_text(t: list[str], odd_id: str) -> None:
    """Whatever people type (mentions in Slack's or Teams' markup, markdown, 10,000
    characters, control characters, emoji), every card is valid, under 28 KB, mentions only
    those it names, and no typed text reaches our markdown."""
    from bot.handlers.teams.cards import caf, flow, triage

    pol = load_policy("cambridgeshire")
    names = ac.Directory(people={MANAGER: odd_id, odd_id: odd_id}, channels={CARDS: odd_id})
    answers = {"worried": t[0], "risks": t[1], "why_now": t[2], "tried": t[3],
               "consent": t[4], "q": t[5]}
    referral = make_referral(summary={"answers": answers}, consent_reason=t[6])
    prof = make_professional(name=t[0], role=t[1], agency=t[2], contact=t[3],
                             user_id=odd_id[:32] or REFERRER)
    card = make_card(close_reason=t[4], assignee_user_id=odd_id[:32] or None)
    closed = make_card(status="closed", rating="blue", close_reason=t[5], closed_at=NOW)
    advised = make_consultation(summary={"answers": answers}, status="advised",
                                advice_outcome="lado", advice_text=t[7], advised_at=NOW,
                                advisor_user_id=MANAGER, followed_advice=False,
                                not_followed_reason=t[8])
    prompt = Prompt("q4", "What has been tried?", Kind.TEXT)
    ep = episode()
    m = ac.Mentions(names)
    activities = [
        triage.triage_card(card, referral, pol, NOW, None, ac.Mentions(names)),
        triage.triage_card(closed, referral, pol, NOW, None, ac.Mentions(names)),
        triage.consultation_card(advised, prof, pol, ac.Mentions(names)),
        triage.advice(advised, pol, ac.Mentions(names)),
        triage.outcome(closed, referral, pol),
        triage.info_request(card, t[9]),
        triage.info_request(card, odd_id),
        triage.note(t[0], ac.Mentions(names), notify=[MANAGER], by=odd_id),
        flow.question(make_step(prompt, answers={"q4": t[1]})),
        caf.stuck_coordinator(ep, odd_id, t[2], m),
        caf.stuck_duty(ep, MANAGER, t[3], pol, ac.Mentions(names)),
        caf.panel(episode(consent=False), t[4], 3, 1, ac.Mentions(names)),
    ]
    # Typed text (not a name from the directory, which is shown, its markup dropped).
    typed = [x for x in t if len(x.strip()) >= 12 and x not in ac.unmarked(odd_id)]
    for act in activities:
        assert_teams_activity_with_typed_text(act)
        ours = " ".join(str(d.get("text", "")) for d in walk(act)
                        if d.get("type") == "TextBlock")
        for x in typed:
            assert x not in ours, x[:80]


def assert_teams_activity_with_typed_text(activity: dict[str, Any]) -> None:
    """As ``assert_teams_activity``, with Slack's markup allowed where it was typed (a
    TextRun shows it as typed)."""
    shown = {**activity}
    shown["attachments"] = json.loads(json.dumps(activity.get("attachments") or []))
    for run in walk(shown["attachments"]):
        if run.get("type") == "TextRun":
            run["text"] = "typed"
    for mark in SLACK_MARKUP:
        assert mark not in json.dumps(shown.get("attachments")), mark
    assert len(json.dumps(activity)) <= ac.MAX_ACTIVITY_BYTES
    for card in cards_of(activity):
        assert_valid_card(card)
        entities = {e["text"] for e in card.get("msteams", {}).get("entities", [])}
        used = {x for d in walk(card["body"]) if d.get("type") in ("TextBlock", "TextRun")
                for x in re.findall(r"<at>[^<]*</at>", str(d["text"]))}
        assert used <= entities, used - entities


# --------------------------------------------------------------------------- the flow


@pytest.mark.parametrize("kind,element", [
    (Kind.CHOICE, "Input.ChoiceSet"), (Kind.YESNO, "Input.ChoiceSet"),
    (Kind.MULTI, "Input.ChoiceSet"), (Kind.DATE, "Input.Date"), (Kind.TEXT, "Input.Text"),
])
def test_a_question_is_one_input_and_submits_carry_flow_version_and_question(
        kind: Kind, element: str, policy: Policy) -> None:
    from bot.handlers.teams.cards import flow

    step = question_step(kind, answers={f"q_{kind.value}": "c1,c3"} if kind == Kind.MULTI
                         else {})
    act = flow.question(step)
    assert_teams_activity(act)
    card = cards_of(act)[0]
    inputs = [e for e in card["body"] if str(e["type"]).startswith("Input.")]
    assert [i["type"] for i in inputs] == [element] and inputs[0]["id"] == verbs.IN_ANSWER
    assert inputs[0].get("isMultiSelect", False) == (kind == Kind.MULTI)
    submits = [a for a in walk(card["actions"]) if a.get("type") == "Action.Submit"]
    assert {a["data"][verbs.ACTION] for a in submits} >= {verbs.FLOW_ANSWER, verbs.FLOW_BACK,
                                                          verbs.FLOW_CANCEL}
    for a in submits:
        assert (a["data"][verbs.FLOW], a["data"][verbs.VERSION], a["data"][verbs.QUESTION]) \
            == (7, 5, f"q_{kind.value}")
    assert "Step 4 of 11" in words(act)


def test_typed_text_is_never_markdown_or_a_mention(policy: Policy) -> None:
    """An answer typed as '**[x](https://evil)** <at>Boss</at>' stays literal: a TextRun."""
    from bot.handlers.teams.cards import triage

    hostile = "**[click](https://evil.example)** <at>Boss</at>"
    referral = make_referral(summary={"answers": {"worried": hostile}})
    m = ac.Mentions(NAMES)
    act = triage.triage_card(make_card(referrer_user_id=REFERRER), referral, policy, NOW,
                             None, m)
    assert_teams_activity(act)
    card = cards_of(act)[0]
    runs = [d for d in walk(card["body"]) if d.get("type") == "TextRun"]
    # Shown as typed (the <at> tag broken by an invisible space, so it pairs with nothing).
    assert any(r["text"] == hostile.replace("<at>", "<\u200bat>").replace("</at>", "<\u200b/at>")
               for r in runs)
    blocks = [d["text"] for d in walk(card["body"]) if d.get("type") == "TextBlock"]
    assert not any("evil" in b for b in blocks)
    assert all(e["text"] != "<at>Boss</at>" for e in card["msteams"]["entities"])


# --------------------------------------------------------------------------- no-names

TYPED = "We are worried. Mum says Kyra Smith lives at 12 High Street, CB1 2AB; call 07700 900123."
UNSURE = "I am worried about Destiny, she seems low."


def test_a_refusal_names_the_kind_and_place_never_the_text() -> None:
    findings = nonames.scan(TYPED)
    assert findings and all(not f.confirm for f in findings)
    act = refusals.refusal(TYPED, findings, question="What are the worries?")
    assert_teams_activity(act)
    said = json.dumps(act, ensure_ascii=False)
    for f in findings:
        assert TYPED[f.start:f.end] not in said
    for piece in ("Kyra", "Smith", "High Street", "CB1", "07700"):
        assert piece not in said
    text = words(act)
    assert "a name in your second sentence, word 3" in text
    assert "a postcode in your second sentence" in text
    assert "a phone number in your second sentence" in text


def test_is_this_a_name_asks_where_never_what() -> None:
    findings = nonames.scan(UNSURE)
    assert [f.confirm for f in findings] == [True]
    step = make_step(version=9)
    act = refusals.name_question(UNSURE, findings, step, pending="p-1")
    assert_teams_activity(act)
    said = json.dumps(act, ensure_ascii=False)
    assert "Destiny" not in said and "destiny" not in said
    assert "a word that may be a name in your answer, word 5" in words(act)
    data = [a["data"] for a in walk(cards_of(act)[0]["actions"]) if "data" in a]
    assert {d[verbs.ACTION] for d in data} == {verbs.NONAMES_REPHRASE, verbs.NONAMES_ORDINARY}
    assert all(d[verbs.FLOW] == 7 and d[verbs.VERSION] == 9 for d in data)
    # Without a place to hold the answer, only rephrasing is offered.
    only = refusals.name_question(UNSURE, findings, step, pending=None)
    assert len(cards_of(only)[0]["actions"]) == 1


def test_the_schema_check_catches_a_broken_card() -> None:
    """The validator is real: a card with an unknown element fails it."""
    with pytest.raises(AssertionError):
        assert_valid_card({"type": "AdaptiveCard", "version": "1.5",
                           "body": [{"type": "section", "text": "Slack's, not a card's"}]})


def test_a_redraw_and_a_note_find_the_card_where_teams_has_it(engine: Engine,
                                                               policy: Policy) -> None:
    """A council on both platforms (during a move) has a card in Slack and in Teams: a
    Teams row redraws, and notes under, the Teams message, never the Slack one."""
    queue_every_intent(engine, policy)  # the card is in Slack at "1:card"
    with session_scope(engine) as s:
        tx = Tx.of(s)
        delivered.remember(tx, intents.TRIAGE_CARD, "card", 42, CARDS, "1:teams-card",
                           platform="teams")
        for intent in (intents.TRIAGE_CARD_UPDATE, intents.CARD_NOTE):
            intents.queue(s, intent, key=f"teams:{intent}", to=intents.conversation(CARDS),
                          data={"text": "A note."} if intent == intents.CARD_NOTE else {},
                          subject_type="card", subject_id=42, platform="teams")
    renderer = TeamsRenderer(policy, clock=lambda: NOW, directory=NAMES)
    with session_scope(engine) as s:
        rows = {intents.intent_of(r): r for r in s.exec(select(OutboxMessage)).scalars()  # type: ignore[call-overload]
                if r.platform == "teams"}
        update = renderer.prepare(sql.Cx.of(s), rows[intents.TRIAGE_CARD_UPDATE], NOW)
        note = renderer.prepare(sql.Cx.of(s), rows[intents.CARD_NOTE], NOW)
    assert update is not None and update.activity_id == "1:teams-card"
    assert note is not None and note.reply_to == "1:teams-card"


def test_a_ratings_emoji_is_shown_as_itself_and_an_old_short_code_translated() -> None:
    """The shipped policies give each rating's emoji as itself; a council's own policy in
    the earlier form (a Slack short code) still shows the emoji in Teams, never its code."""
    red = load_policy("camden").ratings["red"].emoji
    assert red == "\U0001f534" and ac.emoji(red) == red
    assert ac.emoji(":large_green_circle:") == "\U0001f7e2"
    assert ac.emoji(":no_such_code:") == "" and ac.emoji(None) == ""

