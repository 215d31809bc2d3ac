"""Tests for bot.handlers.slack.blocks: pure renderers from state to Block Kit.

Every payload is run through the sandbox's Block Kit checker (Slack's limits and
wording), and a property test feeds hostile text (10,000 characters, ``<!channel>``,
``<@U1>``, ``&``, emoji, right-to-left, zero-width) into every renderer. Fictional
people only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.flows.guided.models import Finding, Kind, Option, Prompt, Reason, Status, Step, Suggestion
from bot.handlers.slack.blocks import cards, flow, home, ids, modals
from bot.handlers.slack.blocks.text import (
    cap_blocks,
    clip,
    due_in_words,
    escape,
    mention,
    section_text,
    sections,
    split_text,
)
from bot.policy import Policy, load_policy
from bot.sandbox.blockcheck import check_blocks, check_view
from store.models import Consultation, Professional, Referral, TriageCard

LONDON = ZoneInfo("Europe/London")
MANAGER = "U0MANAGER"
ADVISOR = "U0ADVISOR"
REFERRER = "U0TEACHER"
OUR_IDS = {MANAGER, ADVISOR, REFERRER}
# A Tuesday in October 2026, 10:00 BST: the front door is open.
NOW = datetime(2026, 10, 13, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy("cambridgeshire")


# --------------------------------------------------------------------------- helpers


def walk(obj: Any) -> Iterator[dict[str, Any]]:
    """Every dict inside a payload."""
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk(v)


def elements(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Every interactive element (anything with an action_id)."""
    return [d for d in walk(payload.get("blocks", [])) if "action_id" in d]


def by_action(payload: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    return [e for e in elements(payload) if e["action_id"] == action_id]


def all_text(payload: dict[str, Any]) -> str:
    return "\n".join(
        d["text"] for d in walk(payload) if d.get("type") in ("mrkdwn", "plain_text")
    )


_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
# A time drawn for each reader (``text.live_date``): our words only, never typed text.
_LIVE_DATE = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[A-Za-z0-9 :]+>")


def assert_no_raw_markup(payload: dict[str, Any], extra_ids: tuple[str, ...] = ()) -> None:
    """No ``<`` reaches mrkdwn (or the fallback) except mentions of the Slack IDs we set."""
    allowed = OUR_IDS | {i for i in extra_ids if _SLACK_ID.match(i)}
    texts = [d["text"] for d in walk(payload) if d.get("type") == "mrkdwn"]
    if isinstance(payload.get("text"), str):
        texts.append(payload["text"])
    for t in texts:
        stripped = _LIVE_DATE.sub("", t)
        for user_id in allowed:
            stripped = stripped.replace(f"<@{user_id}>", "")
        assert "<" not in stripped, t[:300]
        # Entities are never cut in half by clipping.
        for m in re.finditer("&", stripped):
            assert re.match(r"&(amp|lt|gt);", stripped[m.start():]), stripped[m.start():][:10]


def assert_message_ok(payload: dict[str, Any], extra_ids: tuple[str, ...] = ()) -> None:
    assert set(payload) >= {"text", "blocks"}
    assert payload["text"].strip()
    assert len(payload["text"]) <= 3000
    issues = check_blocks(payload["blocks"])
    assert not issues, [str(i) for i in issues][:5]
    assert_no_raw_markup(payload, extra_ids)


def assert_view_ok(view: dict[str, Any], extra_ids: tuple[str, ...] = ()) -> None:
    issues = check_view(view)
    assert not issues, [str(i) for i in issues][:5]
    assert_no_raw_markup(view, extra_ids)


def make_step(prompt: Prompt | None = None, **kw: Any) -> Step:
    base: dict[str, Any] = dict(
        status=Status.ASKING, flow_id=7, flow_kind="consult", prompt=prompt,
        step_no=4, step_total=11,
    )
    base.update(kw)
    return Step(**base)


def make_card(**kw: Any) -> TriageCard:
    base: dict[str, Any] = dict(
        id=42, referral_id=9, reference="FD-2026-000123", referrer_user_id=REFERRER,
        suggested_rating="amber_cin",
        suggested_reasons=[{"rule": "R-cin", "text": "Needs a statutory service",
                            "source": "Camden contact service: Amber"}],
        status="new", received_at=NOW - timedelta(hours=2),
        due_at=NOW + timedelta(hours=3, minutes=40), clock="contact_decision",
    )
    base.update(kw)
    return TriageCard(**base)


def make_referral(**kw: Any) -> Referral:
    base: dict[str, Any] = dict(
        id=9, reference="FD-2026-000123", kind="checklist", professional_id=1,
        age_band="5-10", categories=["neglect", "parental_mental_health"],
        summary={
            "answers": {"danger": "no", "worried": "Often hungry at school",
                        "risks": "Growing weight loss", "why_now": "Disclosed no food at home",
                        "eha": "not_offered", "consent": "given", "age_band": "5_10"},
            "suggestion": {"outcome": "referral", "rating": "amber_cin", "notes": []},
        },
        consent_status="given", completeness=70, gaps=["voice of the child"],
    )
    base.update(kw)
    return Referral(**base)


def make_consultation(**kw: Any) -> Consultation:
    base: dict[str, Any] = dict(
        id=5, reference="FD-2026-000200", professional_id=1, age_band="11-15",
        categories=["emotional_abuse"],
        summary={"answers": {"worried": "Withdrawn", "consent": "not_sought"},
                 "suggestion": {"outcome": "early_help", "rating": None, "notes": []}},
        suggested_outcome="early_help",
        suggested_reasons=[{"rule": "R-eh", "text": "Below threshold", "source": "Camden: Green"}],
        status="open", created_at=NOW - timedelta(minutes=30),
    )
    base.update(kw)
    return Consultation(**base)


def make_professional(**kw: Any) -> Professional:
    base: dict[str, Any] = dict(
        id=1, user_id=REFERRER, name="Ada Teacher", role="Designated safeguarding lead",
        agency="Fenland Primary", contact="ada.teacher@example.org",
    )
    base.update(kw)
    return Professional(**base)


CHOICES = (Option("under_1", "Under 1"), Option("1_4", "1 to 4"), Option("5_10", "5 to 10"))
MANY = tuple(Option(f"c{i}", f"Category {i}") for i in range(8))


# --------------------------------------------------------------------------- text.py


def test_escape_neutralises_mentions_and_links() -> None:
    assert escape("<!channel> & <@U123> <http://x|y>") == (
        "&lt;!channel&gt; &amp; &lt;@U123&gt; &lt;http://x|y&gt;"
    )
    assert escape("&lt;") == "&amp;lt;"  # an entity someone typed is shown as typed
    assert escape("a\x00b\x07c\nd") == "ab" + "c\nd"  # control characters dropped


def test_clip_never_splits_an_entity() -> None:
    s = escape("&" * 50)
    for limit in range(1, 60):
        out = clip(s, limit)
        assert len(out) <= limit
        body = out.removesuffix("…")
        assert re.fullmatch(r"(&amp;)*", body), (limit, out)
    assert clip("short", 10) == "short"
    assert clip("abcdef", 4) == "abc…"
    assert clip("abc", 0) == ""


@given(st.text(max_size=300), st.integers(min_value=1, max_value=320))
def test_clip_property(s: str, limit: int) -> None:
    out = clip(escape(s), limit)
    assert len(out) <= limit
    for m in re.finditer("&", out):
        assert re.match(r"&(amp|lt|gt);", out[m.start():])


def test_split_text_and_sections() -> None:
    text = "\n".join(f"line {i} " + "x" * 200 for i in range(60))
    chunks = split_text(text, 3000)
    assert all(len(c) <= 3000 for c in chunks)
    assert "\n".join(chunks) == text
    one_long_line = escape("&" * 10_000)
    chunks = split_text(one_long_line, 3000)
    assert all(len(c) <= 3000 for c in chunks)
    assert "".join(chunks) == one_long_line  # no entity was split across chunks
    blocks = sections(one_long_line, max_sections=3)
    assert len(blocks) == 3
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks)
    assert section_text("x" * 5000)["text"]["text"].endswith("…")
    assert section_text("")["text"]["text"]  # never an empty text object


def test_mention_only_for_real_ids() -> None:
    assert mention("U0MANAGER") == "<@U0MANAGER>"
    assert mention(None) == "nobody"
    assert mention("<!channel>") == "&lt;!channel&gt;"
    assert mention("U1> <!here") == "U1&gt; &lt;!here"


def _read(s: str) -> str:
    """What a Slack client that cannot format ``<!date^…>`` shows: its fallback."""
    return re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", s)


def test_due_in_words_examples() -> None:
    now = datetime(2026, 6, 9, 10, 52, tzinfo=LONDON)  # Tuesday
    due = datetime(2026, 6, 9, 14, 32, tzinfo=LONDON)
    assert due_in_words(due, now, LONDON) == (
        f"Due <!date^{int(due.timestamp())}^{{date_short_pretty}} {{time}}|Tue 9 Jun 14:32>"
        " · in 3 h 40 min")
    now = datetime(2026, 6, 9, 15, 10, tzinfo=LONDON)
    assert _read(due_in_words(datetime(2026, 6, 10, 9, 15, tzinfo=LONDON), now, LONDON)) == (
        "Due Wed 10 Jun 09:15 · in 18 h 5 min"
    )
    now = datetime(2026, 12, 26, 5, 15, tzinfo=LONDON)  # Saturday
    assert _read(due_in_words(datetime(2026, 12, 28, 9, 15, tzinfo=LONDON), now, LONDON)) == (
        "Due Mon 28 Dec 09:15 · in 2 days 4 h"
    )
    now = datetime(2026, 6, 9, 15, 37, tzinfo=LONDON)
    assert _read(due_in_words(datetime(2026, 6, 9, 14, 32, tzinfo=LONDON), now, LONDON)) == (
        "Due Tue 9 Jun 14:32 · overdue by 1 h 5 min"
    )
    now = datetime(2026, 6, 10, 9, 0, tzinfo=LONDON)
    assert _read(due_in_words(datetime(2026, 6, 9, 16, 0, tzinfo=LONDON), now, LONDON)) == (
        "Due Tue 9 Jun 16:00 · overdue by 17 h"
    )
    # Inputs in UTC are shown in local time.
    due_utc = datetime(2026, 6, 9, 13, 32, tzinfo=UTC)
    assert _read(due_in_words(due_utc, datetime(2026, 6, 9, 9, 52, tzinfo=UTC), LONDON)) == (
        "Due Tue 9 Jun 14:32 · in 3 h 40 min"
    )
    assert _read(due_in_words(
        datetime(2027, 1, 4, 9, 15, tzinfo=LONDON), datetime(2026, 12, 31, 9, 0, tzinfo=LONDON),
        LONDON,
    )) == "Due Mon 4 Jan 09:15 · in 4 days"


def test_due_in_words_across_the_october_clock_change() -> None:
    # Sunday 25 October 2026: 02:00 BST becomes 01:00 GMT. A 4-hour Red clock started
    # at 00:30 BST runs to 03:30 GMT: 4 real hours, though only 3 on the wall clock.
    now = datetime(2026, 10, 25, 0, 30, tzinfo=LONDON)
    due = datetime(2026, 10, 25, 3, 30, tzinfo=LONDON)
    assert due - now == timedelta(hours=3)  # the trap: Python subtracts by wall clock
    assert _read(due_in_words(due, now, LONDON)) == "Due Sun 25 Oct 03:30 · in 4 h"
    # A 24-hour clock from 23:00 BST Saturday ends at 22:00 GMT Sunday.
    now = datetime(2026, 10, 24, 23, 0, tzinfo=LONDON)
    due = (now.astimezone(UTC) + timedelta(hours=24)).astimezone(LONDON)
    assert _read(due_in_words(due, now, LONDON)) == "Due Sun 25 Oct 22:00 · in 1 day"
    # Overdue across the change.
    assert _read(due_in_words(
        datetime(2026, 10, 25, 0, 30, tzinfo=LONDON), datetime(2026, 10, 25, 3, 30, tzinfo=LONDON),
        LONDON,
    )) == "Due Sun 25 Oct 00:30 · overdue by 4 h"


def test_due_in_words_across_the_march_clock_change() -> None:
    now = datetime(2026, 3, 29, 0, 30, tzinfo=LONDON)  # GMT; 01:00 GMT becomes 02:00 BST
    due = (now.astimezone(UTC) + timedelta(hours=4)).astimezone(LONDON)
    assert _read(due_in_words(due, now, LONDON)) == "Due Sun 29 Mar 05:30 · in 4 h"


def test_cap_blocks_trims_with_a_note_and_keeps_the_tail() -> None:
    blocks = [section_text(f"b{i}") for i in range(60)]
    out = cap_blocks(blocks, 50, keep_last=1)
    assert len(out) == 50
    assert out[-1] == blocks[-1]
    assert out[-2]["type"] == "context"
    assert "11 more not shown" in out[-2]["elements"][0]["text"]
    assert cap_blocks(blocks[:10], 50) == blocks[:10]
    assert len(cap_blocks(blocks * 2, 100)) == 100


# --------------------------------------------------------------------------- flow.py


def answer_block(msg: dict[str, Any]) -> dict[str, Any]:
    found = [b for b in msg["blocks"] if b.get("block_id", "").startswith("q:")]
    assert len(found) == 1
    return found[0]


def test_choice_question_uses_buttons_with_unique_action_ids() -> None:
    prompt = Prompt("age", "How old is the child?", Kind.CHOICE, CHOICES, help="An age band")
    msg = flow.question_message(make_step(prompt))
    assert_message_ok(msg)
    block = answer_block(msg)
    assert block["block_id"] == "q:7:age"
    answers = [e for e in block["elements"] if flow.ANSWER_ACTION_RE.match(e["action_id"])]
    assert [e["value"] for e in answers] == ["under_1", "1_4", "5_10"]
    assert len({e["action_id"] for e in block["elements"]}) == len(block["elements"])
    assert "Step 4 of 11" in all_text(msg)
    assert "*How old is the child?*" in all_text(msg)
    # Not optional, cannot go back: no Skip, no Back; Cancel is there with a confirm.
    assert not by_action(msg, ids.FLOW_SKIP) and not by_action(msg, ids.FLOW_BACK)
    (cancel,) = by_action(msg, ids.FLOW_CANCEL)
    assert cancel["style"] == "danger" and "confirm" in cancel


def test_back_skip_and_previous_answer_marked() -> None:
    prompt = Prompt("age", "How old?", Kind.CHOICE, CHOICES, optional=True)
    step = make_step(prompt, can_go_back=True, answers={"age": "1_4"})
    msg = flow.question_message(step)
    assert_message_ok(msg)
    block = answer_block(msg)
    actions_in_block = {e["action_id"] for e in block["elements"]}
    assert {ids.FLOW_BACK, ids.FLOW_SKIP, ids.FLOW_CANCEL} <= actions_in_block
    chosen = [e for e in block["elements"] if e.get("style") == "primary"]
    assert [e["value"] for e in chosen] == ["1_4"]
    assert "(your previous answer: 1 to 4)" in all_text(msg)


def test_long_choice_uses_a_static_select_with_initial_option() -> None:
    prompt = Prompt("cat", "What is the main worry?", Kind.CHOICE, MANY)
    msg = flow.question_message(make_step(prompt, answers={"cat": "c3"}))
    assert_message_ok(msg)
    (select,) = by_action(msg, ids.FLOW_ANSWER)
    assert select["type"] == "static_select"
    assert len(select["options"]) == 8
    assert select["initial_option"]["value"] == "c3"
    assert answer_block(msg)["block_id"] == "q:7:cat"


def test_yesno_question() -> None:
    prompt = Prompt("danger", "Is a child in immediate danger?", Kind.YESNO)
    msg = flow.question_message(make_step(prompt, answers={"danger": False}))
    assert_message_ok(msg)
    buttons = [e for e in elements(msg) if flow.ANSWER_ACTION_RE.match(e["action_id"])]
    assert [(b["text"]["text"], b["value"]) for b in buttons] == [("Yes", "yes"), ("No", "no")]
    assert [b["value"] for b in buttons if b.get("style") == "primary"] == ["no"]


def test_multi_question() -> None:
    prompt = Prompt("cats", "Which apply?", Kind.MULTI, MANY)
    msg = flow.question_message(make_step(prompt, answers={"cats": ["c1", "c4"]}))
    assert_message_ok(msg)
    block = answer_block(msg)
    kinds = {e["action_id"]: e for e in block["elements"]}
    assert kinds[ids.FLOW_MULTI]["type"] == "multi_static_select"
    assert [o["value"] for o in kinds[ids.FLOW_MULTI]["initial_options"]] == ["c1", "c4"]
    assert ids.FLOW_MULTI_DONE in kinds  # in the same block, so its state travels with it


def test_date_question() -> None:
    prompt = Prompt("when", "When did this happen?", Kind.DATE, placeholder="Pick a day")
    msg = flow.question_message(make_step(prompt, answers={"when": "2026-10-01"}))
    assert_message_ok(msg)
    (picker,) = by_action(msg, ids.FLOW_DATE)
    assert picker["type"] == "datepicker" and picker["initial_date"] == "2026-10-01"
    msg = flow.question_message(make_step(prompt, answers={"when": date(2026, 9, 30)}))
    assert by_action(msg, ids.FLOW_DATE)[0]["initial_date"] == "2026-09-30"


def test_text_question_and_escaped_previous_answer() -> None:
    prompt = Prompt("worries", "What are you worried about?", Kind.TEXT)
    step = make_step(prompt, can_go_back=True, answers={"worries": "<!channel> hungry & cold"})
    msg = flow.question_message(step)
    assert_message_ok(msg)
    text = all_text(msg)
    assert "Type your answer as a message here." in text
    assert "&lt;!channel&gt; hungry &amp; cold" in text
    assert answer_block(msg)["block_id"] == "q:7:worries"  # Back/Cancel still carry the id


def test_refused_message_lists_findings_escaped() -> None:
    prompt = Prompt("worries", "What are you worried about?", Kind.TEXT)
    step = make_step(
        prompt, status=Status.REFUSED,
        findings=(Finding("name", 'a name: "<@U1> Tom"'), Finding("postcode", "a postcode")),
    )
    msg = flow.refused_message(step)
    assert_message_ok(msg)
    text = all_text(msg)
    assert "details that could identify a child" in text
    assert "• a name: \"&lt;@U1&gt; Tom\"" in text
    assert "NHS or NI numbers" in text
    assert "Tom" not in msg["text"]  # findings never reach the notification text
    errs = flow.refused_message(make_step(prompt, status=Status.REFUSED, errors=("Too short",)))
    assert_message_ok(errs)
    assert "Too short" in all_text(errs)


def test_urgent_message_in_and_out_of_hours(policy: Policy) -> None:
    step = make_step(None, status=Status.URGENT, reference="FD-2026-000321")
    open_now = datetime(2026, 10, 13, 10, 0, tzinfo=LONDON)  # Tuesday morning
    assert policy.calendar.is_open(open_now)
    msg = flow.urgent_message(step, policy, open_now)
    assert_message_ok(msg)
    text = all_text(msg)
    assert "If a child is in immediate danger, call 999 now." in text
    assert policy.phones.front_door in text
    assert policy.phones.edt not in text
    assert "FD-2026-000321" in text
    saturday_evening = datetime(2026, 10, 17, 19, 0, tzinfo=LONDON)
    msg = flow.urgent_message(step, policy, saturday_evening)
    assert_message_ok(msg)
    assert policy.phones.edt in all_text(msg)
    assert "Emergency Duty Team" in all_text(msg)


def test_completed_consultation(policy: Policy) -> None:
    suggestion = Suggestion(
        outcome="referral", rating=None,
        reasons=(Reason("R-repeat", "Repeated worry is itself a signal", "NOTES: Devon"),),
        notes=("third consultation about this situation",),
    )
    step = make_step(None, status=Status.COMPLETED, reference="FD-2026-000200",
                     suggestion=suggestion)
    msg = flow.completed_message(step, policy)
    assert_message_ok(msg)
    text = all_text(msg)
    assert "Suggested (not a decision)" in text and "Make a referral" in text
    assert "A duty advisor will reply here" in text
    assert "third consultation about this situation" in text
    reason_ctx = [b for b in msg["blocks"] if b["type"] == "context"
                  and "Repeated worry" in b["elements"][0]["text"]]
    assert reason_ctx and "NOTES: Devon" in reason_ctx[0]["elements"][1]["text"]


def test_completed_referral_with_gaps(policy: Policy) -> None:
    suggestion = Suggestion("referral", "amber_cin", (Reason("R", "Needs a service", "Camden"),))
    step = make_step(None, status=Status.COMPLETED, flow_kind="refer",
                     reference="FD-2026-000123", suggestion=suggestion)
    msg = flow.completed_message(step, policy, make_referral())
    assert_message_ok(msg)
    text = all_text(msg)
    assert "Amber (child in need)" in text
    assert "70%" in text and "voice of the child" in text
    assert "A manager will decide; you'll hear the outcome here." in text
    assert "secure referral form" in text and "FD-2026-000123" in text


def test_end_messages() -> None:
    for fn in (flow.redirected_message, flow.cancelled_message, flow.expired_message):
        msg = fn(make_step(None, message="Send EHCP requests to the SEND team <!here>."))
        assert_message_ok(msg)
    assert_message_ok(flow.status_message("You already have a consultation running <@U1>."))


# --------------------------------------------------------------------------- cards.py


def test_new_triage_card(policy: Policy) -> None:
    msg = cards.triage_card(make_card(), make_referral(), policy, NOW)
    assert_message_ok(msg)
    assert msg["blocks"][0]["type"] == "header"
    assert "Suggested: Amber (child in need)" in msg["blocks"][0]["text"]["text"]
    text = all_text(msg)
    assert "not a decision" in text
    assert "Often hungry at school" in text and "Camden contact service: Amber" in text
    # 09:00 UTC + 3:40: in each reader's own zone, else in the policy's (BST); no "in 3 h".
    due = int((NOW + timedelta(hours=3, minutes=40)).timestamp())
    assert (f"Due <!date^{due}^{{date_short_pretty}} {{time}}|Tue 13 Oct 13:40> · on time"
            in text), text
    assert "today" not in text and " in 3 h" not in text
    assert "70%" in text and "voice of the child" in text
    for action_id in (ids.CARD_APPROVE, ids.CARD_CHANGE, ids.CARD_REQUEST_INFO,
                      ids.CARD_ASSIGN, ids.CARD_CLOSE):
        (el,) = by_action(msg, action_id)
        assert el["value"] == "42"
    assert by_action(msg, ids.CARD_APPROVE)[0]["style"] == "primary"
    close = by_action(msg, ids.CARD_CLOSE)[0]
    assert close["style"] == "danger" and "confirm" in close
    (snooze,) = by_action(msg, ids.CARD_SNOOZE)
    assert [o["value"] for o in snooze["options"]] == ["42:30", "42:60", "42:120"]


def test_decided_card_has_no_approve(policy: Policy) -> None:
    card = make_card(rating="red", status="decided", decided_by=MANAGER,
                     decided_at=NOW - timedelta(minutes=5), clock="red")
    msg = cards.triage_card(card, make_referral(), policy, NOW)
    assert_message_ok(msg)
    assert not by_action(msg, ids.CARD_APPROVE)
    assert by_action(msg, ids.CARD_CHANGE)
    text = all_text(msg)
    assert "Rating: Red" in msg["blocks"][0]["text"]["text"]
    assert f"by <@{MANAGER}>" in text and "changed from Amber (child in need)" in text
    approved = make_card(rating="amber_cin", status="decided", decided_by=MANAGER)
    assert "approved by <@U0MANAGER>" in all_text(
        cards.triage_card(approved, make_referral(), policy, NOW)
    )


def test_closed_card_has_no_buttons(policy: Policy) -> None:
    card = make_card(status="closed", rating="blue", decided_by=MANAGER,
                     closed_at=NOW, close_reason="Signposted: <!channel> housing advice")
    msg = cards.triage_card(card, make_referral(), policy, NOW)
    assert_message_ok(msg)
    assert elements(msg) == []
    assert not [b for b in msg["blocks"] if b["type"] == "actions"]
    assert "&lt;!channel&gt; housing advice" in all_text(msg)


def test_breached_card_and_missing_summary_keys(policy: Policy) -> None:
    card = make_card(breached=True, due_at=NOW - timedelta(hours=1, minutes=5),
                     assignee_user_id=MANAGER, info_requested=True)
    referral = make_referral(summary={}, gaps=[], categories=[], age_band="",
                             consent_status="", consent_reason=None)
    msg = cards.triage_card(card, referral, policy, NOW)
    assert_message_ok(msg)
    text = all_text(msg)
    assert "SLA BREACHED" in msg["blocks"][1]["text"]["text"]
    assert "|Tue 13 Oct 08:55> · overdue since <!date^" in text, text
    assert f"<@{MANAGER}>" in text and "Requested from the referrer" in text
    assert "(SLA breached)" in msg["text"]


def test_summary_shapes(policy: Policy) -> None:
    # Flat answers (hand-made rows) render too, with the same labels.
    flat = make_referral(summary={"worried": "Flat worry", "tried": "Talked to mum"})
    text = all_text(cards.triage_card(make_card(), flat, policy, NOW))
    assert "What are the worries*\nFlat worry" in text and "What has been tried" in text
    # The stored shape: option values read as words; routing answers are not repeated.
    text = all_text(cards.triage_card(make_card(), make_referral(), policy, NOW))
    assert "Early Help Assessment offered or done*\nNot offered" in text
    assert "Danger" not in text and "5_10" not in text
    # The urgent item carries only the suggestion: its notes are shown.
    urgent = make_referral(kind="urgent", summary={
        "safety_gate": True, "flow": "consult",
        "suggestion": {"outcome": "urgent_referral", "rating": "red",
                       "notes": ["Out of hours: the Emergency Duty Team is told now."]},
    })
    msg = cards.triage_card(make_card(suggested_rating="red", clock="red"), urgent, policy, NOW)
    assert_message_ok(msg)
    assert "Emergency Duty Team is told now" in all_text(msg)
    assert "Urgent (safety gate)" in all_text(msg)
    # A repeat consultation's note is said once.
    note = "This is the third consultation about this situation."
    c = make_consultation(repeat_count=3, summary={
        "answers": {"worried": "Again"}, "suggestion": {"notes": [note]}})
    text = all_text(cards.consultation_card(c, make_professional(), policy, NOW))
    assert text.count("third consultation about this situation") == 1


def test_huge_card_stays_within_50_blocks_and_keeps_buttons(policy: Policy) -> None:
    summary = {f"extra_{i}": "x" * 5000 for i in range(80)}
    msg = cards.triage_card(make_card(), make_referral(summary=summary), policy, NOW)
    assert_message_ok(msg)
    assert len(msg["blocks"]) <= 50
    assert msg["blocks"][-1]["type"] == "actions"


def test_consultation_card_open_and_advised(policy: Policy) -> None:
    c = make_consultation(repeat_count=3, linked_reference="FD-2026-000150")
    msg = cards.consultation_card(c, make_professional(), policy, NOW)
    assert_message_ok(msg)
    text = all_text(msg)
    assert "third consultation about this situation" in text
    assert "Ada Teacher" in text and "Fenland Primary" in text
    assert "FD-2026-000150" in text and "Start an Early Help Assessment" in text
    assert "Consent not sought" in text
    (advise,) = by_action(msg, ids.CONSULT_ADVISE)
    assert advise["value"] == "5"

    advised = make_consultation(
        status="advised", advisor_user_id=ADVISOR, advice_outcome="referral",
        advice_text="Please refer <!here> & call", advised_at=NOW,
        followed_advice=False, not_followed_reason="Family moving away",
    )
    msg = cards.consultation_card(advised, make_professional(), policy, NOW)
    assert_message_ok(msg)
    assert not by_action(msg, ids.CONSULT_ADVISE)
    text = all_text(msg)
    assert f"<@{ADVISOR}>" in text and "Please refer &lt;!here&gt; &amp; call" in text
    assert "Family moving away" in text


def test_advice_dm(policy: Policy) -> None:
    c = make_consultation(status="advised", advisor_user_id=ADVISOR,
                          advice_outcome="early_help", advice_text="Offer an EHA")
    msg = cards.advice_dm(c, policy)
    assert_message_ok(msg)
    assert by_action(msg, ids.ADVICE_FOLLOWED)[0]["value"] == "5"
    assert by_action(msg, ids.ADVICE_NOT_FOLLOWED)[0]["value"] == "5"
    assert "Start an Early Help Assessment (with consent)" in all_text(msg)
    answered = cards.advice_dm(make_consultation(advice_outcome="signpost",
                                                 followed_advice=True), policy)
    # Answered: no follow buttons, only the way to change the answer on purpose.
    assert [e["action_id"] for e in elements(answered)] == [ids.ADVICE_CHANGE]
    changing = cards.advice_dm(make_consultation(advice_outcome="signpost",
                                                 followed_advice=True), policy, changing=True)
    assert_message_ok(changing)
    assert by_action(changing, ids.ADVICE_FOLLOWED)[0]["value"] == "5:change"


def test_outcome_info_request_and_thread_note(policy: Policy) -> None:
    card = make_card(rating="green", status="decided", decided_by=MANAGER)
    msg = cards.outcome_dm(card, make_referral(phone_referral=True), policy)
    assert_message_ok(msg)
    text = all_text(msg)
    rating = policy.ratings["green"]
    assert rating.label in text and rating.meaning in text and rating.route in text
    assert "in writing" in text
    undecided = cards.outcome_dm(make_card(), make_referral(), policy)
    assert "no decision" in all_text(undecided).lower()

    msg = cards.info_request_dm(card, "Has early help been offered? <@U1>")
    assert_message_ok(msg)
    assert by_action(msg, ids.INFO_REPLY)[0]["value"] == "42"
    assert_message_ok(cards.thread_note("Assigned to <@U1> & checked"))


def test_outcome_labels() -> None:
    assert set(cards.OUTCOME_LABELS) == {
        "urgent_referral", "referral", "early_help", "continue_caf", "signpost", "lado",
        "advice_only", "redirect", "returned",
    }
    assert cards.OUTCOME_LABELS["lado"] == "Refer to the LADO"


# --------------------------------------------------------------------------- modals.py


def input_block(view: dict[str, Any], pair: tuple[str, str]) -> dict[str, Any]:
    (block,) = [b for b in view["blocks"] if b.get("block_id") == pair[0]]
    assert block["type"] == "input" and block["element"]["action_id"] == pair[1]
    return block


def test_change_rating_modal(policy: Policy) -> None:
    view = modals.change_rating_modal(make_card(rating="red", status="decided"), policy)
    assert_view_ok(view)
    assert view["callback_id"] == ids.MODAL_CHANGE_RATING
    assert view["private_metadata"] == "42"
    select = input_block(view, ids.IN_RATING)["element"]
    assert [o["value"] for o in select["options"]] == [
        "red", "amber_sh", "amber_cin", "green", "blue"
    ]
    assert select["initial_option"]["value"] == "red"
    reason = input_block(view, ids.IN_REASON)
    assert reason["element"]["multiline"] and not reason.get("optional")
    fresh = modals.change_rating_modal(make_card(), policy)
    assert input_block(fresh, ids.IN_RATING)["element"]["initial_option"]["value"] == "amber_cin"


def test_other_modals(policy: Policy) -> None:
    card = make_card()
    close = modals.close_modal(card)
    assert_view_ok(close)
    assert close["callback_id"] == ids.MODAL_CLOSE and close["private_metadata"] == "42"
    reasons = [o["value"] for o in input_block(close, ids.IN_OUTCOME)["element"]["options"]]
    assert reasons == ["Signposted", "No further action", "Duplicate",
                       "Passed to another authority", "Other"]
    input_block(close, ids.IN_REASON)

    req = modals.request_info_modal(card)
    assert_view_ok(req)
    assert req["callback_id"] == ids.MODAL_REQUEST_INFO
    input_block(req, ids.IN_QUESTION)

    c = make_consultation()
    advice = modals.advice_modal(c, policy)
    assert_view_ok(advice)
    assert advice["callback_id"] == ids.MODAL_ADVICE and advice["private_metadata"] == "5"
    outcome = input_block(advice, ids.IN_OUTCOME)["element"]
    assert outcome["initial_option"]["value"] == "early_help"
    assert [o["value"] for o in outcome["options"]] == [
        "urgent_referral", "referral", "early_help", "continue_caf", "signpost", "lado",
        "advice_only",
    ]
    input_block(advice, ids.IN_ADVICE)

    nf = modals.not_followed_modal(c)
    assert_view_ok(nf)
    assert nf["callback_id"] == ids.MODAL_NOT_FOLLOWED
    input_block(nf, ids.IN_REASON)

    reply = modals.info_reply_modal(card)
    assert_view_ok(reply)
    assert reply["callback_id"] == ids.MODAL_INFO_REPLY
    input_block(reply, ids.IN_REPLY)

    err = modals.error_modal("the card <!channel> was already closed")
    assert_view_ok(err)
    assert "Something went wrong: the card &lt;!channel&gt;" in all_text(err)
    assert "submit" not in err


# --------------------------------------------------------------------------- home.py


def test_home_for_a_professional(policy: Policy) -> None:
    items = [
        {"reference": "FD-2026-000001", "kind": "consultation", "status": "advised",
         "outcome": "early_help", "created_at": NOW - timedelta(days=2)},
        {"reference": "FD-2026-000002", "kind": "referral (checklist)", "status": "decided",
         "outcome": "amber_cin", "created_at": NOW - timedelta(hours=1)},
    ]
    view = home.home_view(user_id=REFERRER, is_manager=False, is_advisor=False, my_items=items,
                          open_cards=[], open_consultations=[], policy=policy, now=NOW)
    assert view["type"] == "home"
    assert_view_ok(view)
    text = all_text(view)
    assert text.index("FD-2026-000002") < text.index("FD-2026-000001")  # newest first
    assert "Amber (child in need)" in text and "Start an Early Help Assessment" in text
    assert "Open triage cards" not in text
    # A person's decision and advice say what they are; nothing is called an "Outcome".
    assert "Decision: " in text and "Advice: " in text and "Outcome" not in text


def test_home_labels_a_suggestion_as_a_suggestion(policy: Policy) -> None:
    items = [{"reference": "FD-2026-000003", "kind": "consultation", "status": "open",
              "outcome": "early_help", "suggested": True, "created_at": NOW},
             {"reference": "FD-2026-000004", "kind": "referral (checklist)", "status": "new",
              "outcome": None, "created_at": NOW}]
    view = home.home_view(user_id=REFERRER, is_manager=False, is_advisor=False, my_items=items,
                          open_cards=[], open_consultations=[], policy=policy, now=NOW)
    text = all_text(view)
    assert "Suggested: Start an Early Help Assessment" in text and "not yet advised" in text
    assert "Not decided yet" in text and "Outcome" not in text


def test_home_for_a_manager_sorts_overdue_first(policy: Policy) -> None:
    soon = make_card(id=1, reference="FD-2026-000011", due_at=NOW + timedelta(hours=1))
    late = make_card(id=2, reference="FD-2026-000012", due_at=NOW - timedelta(hours=2),
                     breached=True)
    later = make_card(id=3, reference="FD-2026-000013", due_at=NOW + timedelta(days=2))
    none = make_card(id=4, reference="FD-2026-000014", due_at=None)
    # Same instant written in two zones must compare as instants.
    bst = make_card(id=5, reference="FD-2026-000015",
                    due_at=(NOW + timedelta(minutes=30)).astimezone(LONDON))
    pairs = [(c, make_referral()) for c in (soon, none, later, late, bst)]
    view = home.home_view(user_id=MANAGER, is_manager=True, is_advisor=True, my_items=[],
                          open_cards=pairs, open_consultations=[make_consultation()],
                          policy=policy, now=NOW)
    assert_view_ok(view)
    text = all_text(view)
    order = [text.index(f"FD-2026-0000{n}") for n in (12, 15, 11, 13, 14)]
    assert order == sorted(order)
    assert "1 overdue" in text
    assert "FD-2026-000200" in text  # the advisor's queue


def test_home_stays_within_100_blocks(policy: Policy) -> None:
    pairs = [(make_card(id=i, reference=f"FD-2026-{i:06d}",
                        due_at=NOW + timedelta(minutes=i)), make_referral()) for i in range(300)]
    items = [{"reference": f"FD-2026-{i:06d}", "kind": "consultation", "status": "open",
              "outcome": None, "created_at": NOW} for i in range(300)]
    consults = [make_consultation(id=i, reference=f"FD-2026-{i:06d}") for i in range(300)]
    view = home.home_view(user_id=MANAGER, is_manager=True, is_advisor=True, my_items=items,
                          open_cards=pairs, open_consultations=consults, policy=policy, now=NOW)
    assert_view_ok(view)
    assert len(view["blocks"]) <= 100
    assert "more not shown" in all_text(view)


# --------------------------------------------------------------------------- property test

HOSTILE = [
    "<!channel>", "<!here|here>", "<!everyone>", "<@U1>", "<@W123ABC|boss>", "<#C0123>",
    "<http://evil.example|click here>", "<!subteam^S123>", "&", "&amp;", "&lt;", "a & b < c > d",
    "😀👩‍👩‍👧‍👦🏴󠁧󠁢󠁳󠁣󠁴󠁿", "\u202eevil override\u202c", "עברית العربية",
    "zero\u200bwidth\u200djoiner\ufeff",
    "*bold* _it_ ~s~ `code` ```block```", "\n\n\n", "   ", "", ":red_circle:", "\x00\x1b[31m",
    ">quote", "&#60;!channel&#62;",
]


def _long(s: str) -> str:
    return (s * (10_000 // max(len(s), 1) + 1))[:10_000] if s else "x" * 10_000


hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from(HOSTILE).map(_long),
    st.lists(st.sampled_from(HOSTILE), max_size=6).map("".join),
    st.text(max_size=300),
    st.text(min_size=1, max_size=8).map(_long),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(t=st.lists(hostile_text, min_size=12, max_size=12), odd_id=hostile_text)
def test_every_renderer_survives_hostile_text(t: list[str], odd_id: str) -> None:
    pol = load_policy("cambridgeshire")
    reasons = (Reason("R-x", t[0], t[1]),) * 3
    suggestion = Suggestion("referral", "amber_sh", reasons, notes=(t[2],))
    opts = tuple(Option(f"o{i}", t[i % 12]) for i in range(12))
    prompts = [
        Prompt("q1", t[3], Kind.CHOICE, opts[:4], help=t[4], optional=True, placeholder=t[5]),
        Prompt("q2", t[3], Kind.CHOICE, opts, help=t[4], placeholder=t[5]),
        Prompt("q3", t[3], Kind.MULTI, opts, help=t[4], placeholder=t[5]),
        Prompt("q4", t[3], Kind.TEXT, help=t[4], placeholder=t[5]),
        Prompt("q5", t[3], Kind.DATE, help=t[4], placeholder=t[5]),
        Prompt("q6", t[3], Kind.YESNO, help=t[4]),
    ]
    answers = {"q1": "o1", "q2": t[6], "q3": ["o2", t[7]], "q4": t[8], "q5": t[9], "q6": True}
    findings = tuple(Finding("name", x) for x in t[:5])
    for prompt in prompts:
        step = make_step(prompt, can_go_back=True, answers=answers, message=t[10],
                         findings=findings, errors=(t[11],), suggestion=suggestion,
                         reference="FD-2026-000999")
        assert_message_ok(flow.question_message(step))
        assert_message_ok(flow.refused_message(step))
    step = make_step(None, flow_kind="refer", message=t[10], suggestion=suggestion,
                     reference="FD-2026-000999")
    answers = {"worried": t[0], "risks": t[1], "why_now": t[2], t[3][:50] or "k": t[4],
               "consent": t[7], "eha": "not_offered"}
    summary = {"answers": answers, "suggestion": {"notes": [t[5], t[6]]}}
    referral = make_referral(summary=summary, categories=[t[8], t[9]], age_band=t[10][:32],
                             consent_reason=t[11], gaps=list(t), suspended_type=t[0][:64])
    for msg in (
        flow.urgent_message(step, pol, NOW),
        flow.urgent_message(step, pol, datetime(2026, 10, 17, 19, 0, tzinfo=UTC)),
        flow.completed_message(step, pol, referral),
        flow.completed_message(make_step(None, suggestion=suggestion, message=t[1]), pol),
        flow.redirected_message(step),
        flow.cancelled_message(step),
        flow.expired_message(step),
        flow.status_message(t[0]),
    ):
        assert_message_ok(msg)

    card_reasons = [{"rule": "r", "text": x, "source": y} for x, y in zip(t, t[1:], strict=False)]
    base = dict(suggested_reasons=card_reasons, close_reason=t[2])
    cards_under_test = [
        make_card(**base),
        make_card(**base, rating="red", status="decided", decided_by=MANAGER, breached=True,
                  assignee_user_id=odd_id[:32], info_requested=True),
        make_card(**base, status="closed", rating="blue", decided_by=odd_id, closed_at=NOW),
    ]
    odd = (odd_id, odd_id[:32])
    for card in cards_under_test:
        assert_message_ok(cards.triage_card(card, referral, pol, NOW), odd)
        assert_message_ok(cards.outcome_dm(card, referral, pol))
        assert_message_ok(cards.info_request_dm(card, t[3]))
        for view in (modals.change_rating_modal(card, pol), modals.close_modal(card),
                     modals.request_info_modal(card), modals.info_reply_modal(card)):
            assert_view_ok(view)
    assert_message_ok(cards.thread_note(t[4]))
    assert_view_ok(modals.error_modal(t[5]))

    prof = make_professional(name=t[0], role=t[1], agency=t[2], contact=t[3],
                             user_id=odd_id[:32] or REFERRER)
    for c in (
        make_consultation(summary={**answers, "notes": [t[5]]}, categories=[t[4]],
                          age_band=t[5][:32],
                          suggested_reasons=card_reasons, linked_reference=t[6][:32],
                          repeat_count=3),
        make_consultation(summary=summary, status="advised", advisor_user_id=ADVISOR,
                          advice_outcome="lado", advice_text=t[7], advised_at=NOW,
                          followed_advice=False, not_followed_reason=t[8],
                          suggested_outcome=t[9][:32]),
    ):
        assert_message_ok(cards.consultation_card(c, prof, pol, NOW), odd)
        assert_message_ok(cards.advice_dm(c, pol))
        assert_view_ok(modals.advice_modal(c, pol))
        assert_view_ok(modals.not_followed_modal(c))

    items = [{"reference": t[0], "kind": t[1], "status": t[2], "outcome": t[3],
              "created_at": NOW}] * 40
    view = home.home_view(
        user_id=odd_id, is_manager=True, is_advisor=True, my_items=items,
        open_cards=[(card, referral) for card in cards_under_test] * 20,
        open_consultations=[make_consultation(age_band=t[4][:32])] * 40, policy=pol, now=NOW,
    )
    assert_view_ok(view, odd)
