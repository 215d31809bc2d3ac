"""The Slack app end to end: signed requests to the real Bolt app over HTTP, a fake Web API,
and assertions on the calls the fake received."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.handlers.slack.blocks import ids
from store.db import make_engine, session_scope
from store.models import AuditEntry, Consultation, Decision, TriageCard
from tests.slackenv import (
    ADVISOR,
    HEALTH,
    MANAGER,
    MANAGER2,
    OUTSIDER,
    TEACHER,
    SlackEnv,
    slack_env,
)

LONDON = ZoneInfo("Europe/London")
# A Tuesday morning inside Cambridgeshire's office hours.
TUESDAY = dt.datetime(2026, 11, 24, 10, 0, tzinfo=LONDON)
MAX_STEPS = 40
# Not in immediate danger, and a situation where early help fits (SCENARIOS.md 4).
SAFE = {"danger": "no", "lado": "no", "before": "no", "suspended_check": "no", "phoned": "no"}


async def play(env: SlackEnv, user: str, choose: dict[str, object] | None = None) -> list[str]:
    """Answer questions until the flow ends; returns the question ids seen."""
    seen: list[str] = []
    choose = {**SAFE, **(choose or {})}
    for _ in range(MAX_STEPS):
        await env.drain()
        before = _mark(env, user)
        q = env.last_question(user)
        if q is None or (seen and _is_answered(env, user, q, seen)):
            break
        seen.append(await env.answer(user, choose))
        await _settle(env, user, before)
    await env.drain()
    return seen


def _is_answered(env: SlackEnv, user: str, q: dict, seen: list[str]) -> bool:
    # The flow ended when the newest DM message is not a question any more.
    return env.dm(user)[-1]["ts"] != q["ts"]


def _mark(env: SlackEnv, user: str) -> tuple[int, int]:
    """How many DM messages and private notes ``user`` has now (before an action)."""
    return len(env.dm(user)), len(env.fake.ephemerals_for(user))


SETTLE_S = 10.0  # far longer than any answer takes; only a bot that never answers waits it out


async def _settle(env: SlackEnv, user: str, before: tuple[int, int]) -> None:
    """Wait until the bot has answered the last action: a new DM message or a new private
    note for ``user``. Fails loudly when it has not within ``SETTLE_S`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_S
    while _mark(env, user)[0] <= before[0] and _mark(env, user)[1] <= before[1]:
        if loop.time() > deadline:
            raise AssertionError(f"no answer to {user}'s last action in {SETTLE_S} s")
        await env.drain()
        await asyncio.sleep(0.005)  # the listener task still running after its ack
    await env.drain()


def _posts_to(env: SlackEnv, channel: str) -> list[dict]:
    return [
        c.args
        for c in env.fake.calls_to("chat.postMessage")
        if c.ok and c.args.get("channel") == channel
    ]


async def test_full_consult_reaches_the_advisor_and_back(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        d = await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        assert d.status == 200
        await env.fake.wait_for("chat.postMessage")
        seen = await play(env, TEACHER)
        assert len(seen) >= 10, seen
        # The consultation card in the consultation duty channel.
        duty = env.policy.channel("consultation_duty")
        cards = _posts_to(env, duty)
        assert len(cards) == 1, [c.method for c in env.fake.calls]
        card_msg = env.fake.history(duty)[-1]
        # The advisor answers it through a modal.
        d = await env.click_card(ADVISOR, duty, card_msg["ts"], ids.CONSULT_ADVISE)
        assert d.status == 200
        opened = await env.fake.wait_for("views.open")
        view = opened[-1].args["view"]
        assert view["callback_id"] == ids.MODAL_ADVICE
        d = await env.sender.view_submission(
            ADVISOR,
            view,
            {
                ids.IN_OUTCOME[1]: "early_help",
                ids.IN_ADVICE[1]: "Start an Early Help Assessment with the family.",
            },
        )
        assert d.status == 200
        await env.fake.wait_for("chat.update", predicate=lambda c: c.args.get("channel") == duty)
        await env.drain()
        # The professional gets the advice by DM, with buttons to say whether they follow it.
        advice = [
            m
            for m in env.dm(TEACHER)
            if "Early Help Assessment with the family" in json.dumps(m.get("blocks"))
        ]
        assert advice, env.dm(TEACHER)[-1]
        with session_scope(make_engine(db_file)) as s:
            c = s.exec(select(Consultation)).scalar_one()  # type: ignore[call-overload]
            assert (c.status, c.advice_outcome, c.advisor_user_id) == (
                "advised",
                "early_help",
                ADVISOR,
            )


def _is_text_question(q: dict) -> bool:
    """A question answered by typing: no answer buttons, selects or date pickers."""
    answer_ids = (ids.FLOW_ANSWER, ids.FLOW_MULTI, ids.FLOW_DATE)
    return not any(
        str(el.get("action_id", "")).startswith(answer_ids)
        for b in q["blocks"]
        for el in b.get("elements") or []
    )


async def to_first_text_question(env: SlackEnv, user: str) -> dict:
    """Start /consult in ``user``'s DM and answer safely up to the first typed question."""
    await env.sender.slash_command(user, "/consult", channel_id=env.dm_id(user))
    await env.fake.wait_for("chat.postMessage")
    for _ in range(MAX_STEPS):
        await env.drain()
        q = env.last_question(user)
        if q and _is_text_question(q):
            break
        before = _mark(env, user)
        await env.answer(user, SAFE)
        await _settle(env, user, before)
    return env.last_question(user)


def _count(db_file: str, model: type, *where: object) -> int:
    eng = make_engine(db_file)
    try:
        with session_scope(eng) as s:
            stmt = select(func.count()).select_from(model)
            for w in where:
                stmt = stmt.where(w)  # type: ignore[arg-type]
            return int(s.exec(stmt).scalar_one())  # type: ignore[call-overload]
    finally:
        eng.dispose()


def _card(db_file: str) -> TriageCard:
    eng = make_engine(db_file)
    try:
        with session_scope(eng) as s:
            return s.exec(select(TriageCard)).scalar_one()  # type: ignore[call-overload]
    finally:
        eng.dispose()


# A child in need: parent struggling, consent given (SCENARIOS.md 3).
CHILD_IN_NEED = {
    "level": "statutory",
    "consent": "given",
    "ref_type": "concern",
    "categories": ["parental_learning_disability"],
}


async def _refer(env: SlackEnv, user: str = HEALTH) -> TriageCard:
    await env.sender.slash_command(user, "/refer", channel_id=env.dm_id(user))
    await env.fake.wait_for("chat.postMessage")
    await play(env, user, CHILD_IN_NEED)
    await env.drain()
    return _card(env.database_url)


async def test_full_refer_card_approve_and_change(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        assert card.status == "new" and env.posted(card)[1], card
        mash = env.policy.channel("mash_managers")
        assert env.posted(card)[0] == mash
        posted = env.fake.message(mash, env.posted(card)[1])
        text = json.dumps(posted["blocks"])
        assert card.reference in text and "Suggested" in text
        # The referrer hears nothing about a rating before a manager decides.
        assert not [m for m in env.dm(HEALTH) if "Rating:" in json.dumps(m.get("blocks"))]
        # A manager approves: one decision, the card is redrawn, the referrer is told.
        d = await env.click_card(MANAGER, mash, env.posted(card)[1], ids.CARD_APPROVE)
        assert d.status == 200
        await env.fake.wait_for("chat.update",
            predicate=lambda c: c.args.get("ts") == env.posted(card)[1])
        await env.drain()
        decided = _card(db_file)
        assert (decided.status, decided.rating, decided.decided_by) == (
            "decided",
            card.suggested_rating,
            MANAGER,
        )
        redrawn = json.dumps(env.fake.message(mash, env.posted(card)[1])["blocks"])
        assert ids.CARD_APPROVE not in redrawn  # decided: no Approve any more
        outcome = [m for m in env.dm(HEALTH) if card.reference in json.dumps(m)]
        assert len(outcome) >= 2  # the thank-you and the outcome
        # Change rating through the modal, with a reason.
        await env.click_card(MANAGER, mash, env.posted(card)[1], ids.CARD_CHANGE)
        view = (await env.fake.wait_for("views.open"))[-1].args["view"]
        assert view["callback_id"] == ids.MODAL_CHANGE_RATING
        d = await env.sender.view_submission(
            MANAGER,
            view,
            {
                ids.IN_RATING[1]: "amber_sh",
                ids.IN_REASON[1]: "Police information shows a risk of significant harm.",
            },
        )
        assert d.status == 200
        await env.fake.wait_for(
            "chat.update", count=2, predicate=lambda c: c.args.get("ts") == env.posted(card)[1]
        )
        await env.drain()
        changed = _card(db_file)
        assert changed.rating == "amber_sh" and changed.clock == "amber_sh"
        assert _count(db_file, Decision) == 2
        eng = make_engine(db_file)
        with session_scope(eng) as s:
            entry = s.exec(
                select(AuditEntry).where(  # type: ignore[call-overload]
                    AuditEntry.action == "rating.change"
                )
            ).scalar_one()
        eng.dispose()
        assert (entry.actor, entry.old_value, entry.new_value) == (
            MANAGER,
            card.suggested_rating,
            "amber_sh",
        )
        assert entry.reason and "significant harm" in entry.reason
        assert "Amber (significant harm)" in json.dumps(env.dm(HEALTH)[-1])


async def test_non_manager_approve_is_refused_and_audited(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        d = await env.click_card(OUTSIDER, *env.posted(card), ids.CARD_APPROVE)
        assert d.status == 200
        await env.fake.wait_for(
            "chat.postEphemeral", predicate=lambda c: c.args.get("user") == OUTSIDER
        )
        assert "Only the front door's managers" in env.fake.ephemerals_for(OUTSIDER)[-1]["text"]
        after = _card(db_file)
        assert (after.status, after.rating, after.version) == ("new", None, card.version)
        assert _count(db_file, Decision) == 0
        assert _count(db_file, AuditEntry, AuditEntry.action == "denied.approve") == 1


async def test_user_group_manager_may_approve(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        await env.click_card(MANAGER2, *env.posted(card), ids.CARD_APPROVE)
        await env.fake.wait_for("chat.update")
        assert _card(db_file).decided_by == MANAGER2
        assert env.fake.calls_to("usergroups.users.list")


async def test_two_approvals_at_once_make_one_decision(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        ch, ts = env.posted(card)
        await asyncio.gather(
            env.click_card(MANAGER, ch, ts, ids.CARD_APPROVE),
            env.click_card(MANAGER2, ch, ts, ids.CARD_APPROVE),
        )
        await env.fake.wait_for("chat.postEphemeral")
        await env.drain()
        assert _count(db_file, Decision) == 1
        winner = _card(db_file).decided_by
        loser = MANAGER2 if winner == MANAGER else MANAGER
        told = env.fake.ephemerals_for(loser)[-1]["text"]
        assert f"<@{winner}> already decided" in told
        # The referrer hears the one decision once.
        outcome_dms = [m for m in env.dm(HEALTH)
                       if "The front door has decided on your referral" in json.dumps(m)]
        assert len(outcome_dms) == 1, outcome_dms


async def test_same_event_three_times_is_one_answer(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        question = await to_first_text_question(env, TEACHER)
        before = _mark(env, TEACHER)
        for retry in (None, 1, 2):
            d = (
                await env.sender.message_im(
                    TEACHER,
                    env.dm_id(TEACHER),
                    "Worried about low mood and missed meals.",
                    event_id="Ev0SAMEEVENT",
                )
                if retry is None
                else await env.sender.event(
                    {
                        "type": "message",
                        "channel_type": "im",
                        "user": TEACHER,
                        "channel": env.dm_id(TEACHER),
                        "text": "Worried about low mood and missed meals.",
                        "ts": "1795000000.000100",
                    },
                    event_id="Ev0SAMEEVENT",
                    retry_num=retry,
                )
            )
            assert d.status == 200
        await _settle(env, TEACHER, before)
        for _ in range(20):
            await env.drain()
            await asyncio.sleep(0.01)
        new = env.dm(TEACHER)[before[0]:]
        assert len(new) == 1, [m.get("text") for m in new]  # one next question, not three
        assert new[0]["ts"] != question["ts"]


async def test_forged_and_stale_requests_get_401(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        forged = await env.sender.slash_command(TEACHER, "/consult", forged=True)
        import time as _time

        stale = await env.sender.slash_command(
            TEACHER, "/consult", timestamp=int(_time.time()) - 6 * 60
        )
        assert (forged.status, stale.status) == (401, 401)
        await env.drain()
        assert not env.fake.calls_to("chat.postMessage")
        from store.models import FlowSession

        assert _count(db_file, FlowSession) == 0


async def test_refused_answer_is_private_and_never_stored(db_file: str, tmp_path: Path) -> None:
    name, nhs, postcode = "Tyler Brookes", "943 476 5919", "CB4 1XY"
    async with slack_env(db_file, start=TUESDAY) as env:
        await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        await env.fake.wait_for("chat.postMessage")
        refused = f"{name}, NHS number {nhs}, lives near {postcode} and is often hungry."
        # The first text question gets the identifying answer, then a clean one.
        seen = await play(env, TEACHER, {"worried": refused})
        assert seen.count("worried") >= 1
        eph = env.fake.ephemerals_for(TEACHER)
        assert eph, "the professional was told privately"
        told = json.dumps(eph[0])
        assert "NHS" in told and "postcode" in told.lower()
        # Nothing identifying went to any channel or into a posted message.
        for call in env.fake.calls:
            if call.method in ("chat.postMessage", "chat.update"):
                dumped = json.dumps(call.args)
                assert name not in dumped and postcode not in dumped and nhs not in dumped
    # ... nor into the database file (including the write-ahead log).
    raw = await asyncio.to_thread(
        lambda: b"".join(p.read_bytes() for p in tmp_path.glob("frontdoor.db*"))
    )
    for secret in (name, nhs, nhs.replace(" ", ""), postcode):
        assert secret.encode() not in raw, secret


async def test_app_home_for_a_professional_and_a_manager(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        await env.sender.app_home_opened(HEALTH)
        home = (await env.fake.wait_for("views.publish"))[-1].args
        assert home["user_id"] == HEALTH and card.reference in json.dumps(home["view"])
        await env.sender.app_home_opened(MANAGER)
        published = await env.fake.wait_for(
            "views.publish", predicate=lambda c: c.args.get("user_id") == MANAGER
        )
        view = json.dumps(published[-1].args["view"])
        assert card.reference in view
        assert env.fake.home_views[MANAGER]["type"] == "home"


async def test_request_more_information_round_trip(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        await env.click_card(MANAGER, *env.posted(card), ids.CARD_REQUEST_INFO)
        view = (await env.fake.wait_for("views.open"))[-1].args["view"]
        await env.sender.view_submission(
            MANAGER, view, {ids.IN_QUESTION[1]: "Has the school nurse seen the child this term?"}
        )
        await env.fake.wait_for(
            "chat.postMessage",
            predicate=lambda c: (
                "school nurse" in json.dumps(c.args) and c.args.get("channel") == env.dm_id(HEALTH)
            ),
        )
        await env.drain()
        ask = next(
            m for m in reversed(env.dm(HEALTH)) if "seen the child this term" in json.dumps(m)
        )
        # The referrer answers from the DM; the answer lands in the card's thread.
        btn = next(
            el
            for b in ask["blocks"]
            for el in b.get("elements") or []
            if el.get("action_id") == ids.INFO_REPLY
        )
        await env.sender.block_action(
            HEALTH, ids.INFO_REPLY, btn["value"], channel_id=env.dm_id(HEALTH), message_ts=ask["ts"]
        )
        reply_view = (await env.fake.wait_for("views.open", count=2))[-1].args["view"]
        d = await env.sender.view_submission(
            HEALTH, reply_view, {ids.IN_REPLY[1]: "Tyler Brookes saw her on Monday."}
        )
        assert d.status == 200 and "errors" in d.body  # a name: refused inside the modal
        await env.sender.view_submission(
            HEALTH, reply_view, {ids.IN_REPLY[1]: "Yes, the nurse saw her on Monday."}
        )
        await env.fake.wait_for(
            "chat.postMessage",
            predicate=lambda c: (
                c.args.get("thread_ts") == env.posted(card)[1]
                and "nurse saw her" in json.dumps(c.args)
            ),
        )
        await env.drain()
        thread = env.fake.thread(*env.posted(card))
        assert any("nurse saw her" in json.dumps(m) for m in thread)
        assert not any("Tyler" in json.dumps(c.args) for c in env.fake.calls)


async def test_a_slack_error_is_told_in_plain_words(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        env.fake.fail("views.open", status=200, error="internal_error", times=1)
        await env.click_card(MANAGER, *env.posted(card), ids.CARD_CHANGE)
        told = await env.fake.wait_for(
            "chat.postEphemeral", predicate=lambda c: c.args.get("user") == MANAGER
        )
        text = told[-1].args["text"]
        assert "Something went wrong on our side" in text
        assert "Traceback" not in text and "Error" not in text


async def test_mentions_typed_by_a_professional_are_escaped(db_file: str) -> None:
    typed = "<!channel> please look <@U0MANAGER> and <https://evil.example|click>"
    async with slack_env(db_file, start=TUESDAY) as env:
        await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        await env.fake.wait_for("chat.postMessage")
        await play(env, TEACHER, {"worried": typed})
        duty = env.policy.channel("consultation_duty")
        card = json.dumps(env.fake.history(duty)[-1]["blocks"])
        assert "&lt;!channel&gt;" in card
        assert "<!channel>" not in card and "<https://evil" not in card


async def advised(env: SlackEnv) -> dict:
    """A consultation by TEACHER that the advisor answered ("food bank"); returns the advice
    DM as it was first posted."""
    await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
    await env.fake.wait_for("chat.postMessage")
    await play(env, TEACHER)
    duty = env.policy.channel("consultation_duty")
    await env.click_card(ADVISOR, duty, env.fake.history(duty)[-1]["ts"], ids.CONSULT_ADVISE)
    view = (await env.fake.wait_for("views.open"))[-1].args["view"]
    await env.sender.view_submission(
        ADVISOR,
        view,
        {ids.IN_OUTCOME[1]: "signpost", ids.IN_ADVICE[1]: "Signpost to the food bank."},
    )
    await env.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: (
            "food bank" in json.dumps(c.args) and c.args.get("channel") == env.dm_id(TEACHER)
        ),
    )
    await env.drain()
    return copy.deepcopy(next(m for m in env.dm(TEACHER) if "food bank" in json.dumps(m)))


async def test_professional_records_why_advice_was_not_followed(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        advice = await advised(env)
        await env.sender.block_action(
            TEACHER,
            ids.ADVICE_NOT_FOLLOWED,
            None,
            channel_id=env.dm_id(TEACHER),
            message_ts=advice["ts"],
        )
        why = (await env.fake.wait_for("views.open", count=2))[-1].args["view"]
        await env.sender.view_submission(
            TEACHER, why, {ids.IN_REASON[1]: "The family asked for a referral themselves."}
        )
        await env.fake.wait_for(
            "chat.postEphemeral", predicate=lambda c: c.args.get("user") == TEACHER
        )
        eng = make_engine(db_file)
        with session_scope(eng) as s:
            c = s.exec(select(Consultation)).scalar_one()  # type: ignore[call-overload]
        eng.dispose()
        assert c.followed_advice is False
        assert c.not_followed_reason == "The family asked for a referral themselves."
