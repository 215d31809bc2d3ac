"""A CAF on Teams (issue 19, "Must show"): the overdue Team Around the Child nudge reaches
the lead professional's Teams chat, its "Meeting held on…" dialog records the meeting, and
the nudge card loses its buttons.

The real Teams endpoint receives the clicks (``tests/test_teams_inbound.py``'s TeamsEnv);
the real sender, Teams renderer and transport deliver the outbox to the local fake Bot
Connector (``tests/teamsenv.py``), whose stored activities are what Teams would show.
Fictional people; a CAF is only ever its EHM reference.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.engine import Engine

from bot import intents
from bot.flows.caf.models import NewEpisode
from bot.handlers.teams.cafdialogs import NOT_YOURS
from bot.handlers.teams.cafqa import MANAGERS_ONLY
from bot.handlers.teams.cards import verbs
from bot.handlers.teams.render import TeamsRenderer
from bot.reminders import ReminderSweep
from bot.sandbox.botconnector import FakeBotConnector
from tests.adaptive import assert_valid_activity, assert_valid_card
from tests.teamsenv import ALEX, BLAKE, Rig, build, seed
from tests.test_teams_inbound import (
    ADVISOR,
    CHANNEL,
    HEALTH,
    MANAGER,
    OUTSIDER,
    TEACHER,
    TeamsEnv,
    _audits,
    teams_env,
)

COMPLETED = dt.date(2026, 11, 24)  # the day TeamsEnv's clock starts
CARD = "application/vnd.microsoft.card.adaptive"


def chat(fake: FakeBotConnector, aad: str) -> list[dict[str, Any]]:
    """What the person with Entra id ``aad`` sees in their chat with the bot."""
    return fake.activities(f"a:1{aad.replace('-', '')}")


def dialog_buttons(activity: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A card's dialog buttons (Action.Submit opening a task module), by action."""
    [attachment] = activity["attachments"]
    return {a["data"][verbs.ACTION]: a["data"] for a in attachment["content"].get("actions", [])
            if a["type"] == "Action.Submit" and a["data"].get("msteams") == {
                "type": "task/fetch"}}


def latest_in(activities: list[dict[str, Any]], words: str) -> dict[str, Any]:
    """The newest activity saying ``words``."""
    found = [a for a in activities if words in json.dumps(a, ensure_ascii=False)]
    assert found, f"nothing says {words!r}"
    return found[-1]


def all_valid(fake: FakeBotConnector) -> int:
    """Every activity Teams holds validates; how many there are."""
    seen = [a for c in fake.conversations.values() for a in c.activities]
    for activity in seen:
        assert_valid_activity(activity)
    return len(seen)


async def deliver(rig: Rig) -> None:
    """One sweep of the real sender: the queued Teams messages go to the fake."""
    await rig.sender.run_once()


@contextlib.asynccontextmanager
async def delivering(env: TeamsEnv) -> AsyncIterator[tuple[FakeBotConnector, Rig]]:
    """The fake Bot Connector, with the tests' people and channel, and the real sender,
    Teams renderer and transport delivering the outbox to it (``deliver``)."""
    async with FakeBotConnector() as fake:
        seed(fake)
        for aad in (TEACHER, HEALTH, MANAGER, ADVISOR, OUTSIDER):
            fake.add_person(f"29:{aad}", "A Person", aad)
        fake.add_channel(CHANNEL)
        renderer = TeamsRenderer(env.sv.policy, env.clock)
        rig = build(fake, env.sv.engine, env.http, clock=env.clock, renderer=renderer)
        # The bot's own sender delivers Teams' rows too (as the server wires it): what a
        # listener claims to send at once goes at once.
        env.sv.sender.add_platform(renderer, rig.transport)
        yield fake, dataclasses.replace(rig, sender=env.sv.sender)


def form_of(task: dict[str, Any]) -> dict[str, Any]:
    """The card a dialog shows (validated)."""
    assert task["type"] == "continue", task
    card = task["value"]["card"]
    assert card["contentType"] == CARD
    assert_valid_card(card["content"])
    return card["content"]  # type: ignore[no-any-return]


async def registered(env: TeamsEnv, *, agree: bool = True) -> int:
    """A CAF registered on Teams (ALEX leads, BLAKE co-ordinates), and (``agree``) its plan
    agreed by a manager clicking "Agree the plan" on its QA card; its id."""
    sv = env.sv
    result = await sv.caf.aregister(NewEpisode("EHM-20417", ALEX, BLAKE, COMPLETED, True,
                                               platform="teams"),
                                    ADVISOR, effects=sv.caf_messaging)
    assert result.ok and result.episode is not None, result.message
    assert result.episode.platform == "teams"
    if agree:
        [card] = env.rows(intents.CAF_QA_CARD)
        answer = await env.execute(MANAGER, verbs.CAF_QA_AGREE, {verbs.QA: card.payload[
            "qa"]["id"]})
        assert answer["value"].startswith("Agreed: the plan is agreed"), answer
    return result.episode.id or 0


async def test_overdue_tac_nudge_its_meeting_held_dialog_and_the_card_losing_its_buttons(
    engine: Engine, db_url: str,
) -> None:
    async with teams_env(engine, db_url) as env, delivering(env) as (fake, rig):
        sv = env.sv
        episode_id = await registered(env, agree=False)
        await deliver(rig)
        assert [r.platform for r in env.rows(intents.CAF_REGISTERED)] == ["teams", "teams"]
        assert (await sv.caf.aget(episode_id)).next_meeting_due is None, "awaiting its QA"

        # A CAF manager agrees the plan on the QA card in the CAF team's channel (anyone
        # else is refused, audited): the first meeting's clock starts.
        qa_card = latest_in(fake.activities(CHANNEL), "CAF quality assurance")
        [agree] = [a for a in qa_card["attachments"][0]["content"]["actions"]
                   if a.get("verb") == verbs.CAF_QA_AGREE]
        answer = await env.execute(OUTSIDER, verbs.CAF_QA_AGREE, agree["data"])
        assert answer["value"] == MANAGERS_ONLY
        assert [a.actor for a in _audits(engine, "denied.caf_qa.agree")] == [OUTSIDER]
        answer = await env.execute(MANAGER, verbs.CAF_QA_AGREE, agree["data"])
        assert answer["value"].startswith("Agreed: the plan is agreed"), answer
        await deliver(rig)
        assert not latest_in(fake.activities(CHANNEL), "CAF quality assurance")["attachments"][
            0]["content"].get("actions"), "the QA card answered: no buttons"

        # The sweep at the moment the first meeting is overdue: one nudge each, to the
        # lead professional's and the co-ordinator's Teams chats.
        ep = await sv.caf.aget(episode_id)
        due = ep.next_meeting_due
        overdue = sv.caf.overdue_at(due)
        ReminderSweep(sv).run(overdue - dt.timedelta(minutes=1))
        assert not env.rows(intents.CAF_TAC_OVERDUE)
        env.clock.now = overdue
        ReminderSweep(sv).run(overdue)
        nudges = env.rows(intents.CAF_TAC_OVERDUE)
        assert sorted(intents.Address.of(r).id for r in nudges) == sorted([ALEX, BLAKE])
        assert {r.platform for r in nudges} == {"teams"}
        await deliver(rig)
        nudge = chat(fake, ALEX)[-1]
        assert "EHM-20417: the first family planning meeting is overdue" in json.dumps(nudge)
        buttons = dialog_buttons(nudge)
        assert list(buttons) == [verbs.CAF_HELD, verbs.CAF_REARRANGED, verbs.CAF_STUCK,
                                 verbs.CAF_CLOSE]
        held = buttons[verbs.CAF_HELD]

        # Someone else: refused before anything is looked up, audited, nothing changed.
        task = await env.dialog(OUTSIDER, "task/fetch", held)
        assert task == {"type": "message", "value": NOT_YOURS}
        assert [a.actor for a in _audits(engine, "denied.caf.held")] == [OUTSIDER]

        # The lead professional opens it; a date in the future is an error in the dialog.
        form = form_of(await env.dialog(ALEX, "task/fetch", held))
        [date_input] = [el for el in form["body"] if el.get("id") == verbs.IN_DATE]
        assert date_input["type"] == "Input.Date" and date_input["value"] == due.isoformat()
        tomorrow = (overdue + dt.timedelta(days=1)).date().isoformat()
        form = form_of(await env.dialog(ALEX, "task/submit", {**held, verbs.IN_DATE: tomorrow}))
        assert "in the future" in json.dumps(form)
        assert (await sv.caf.aget(episode_id)).next_meeting_due == due, "nothing saved"

        # Held the day it was due: recorded once, however often Teams delivers the submit.
        submit = {**held, verbs.IN_DATE: due.isoformat()}
        invoke_id = f"f:{uuid.uuid4().hex}"
        for _ in range(2):
            task = await env.dialog(ALEX, "task/submit", submit, activity_id=invoke_id)
            assert task["type"] == "message", task
        assert len(_audits(engine, "caf.meeting_held")) == 1
        ep = await sv.caf.aget(episode_id)
        assert ep.last_meeting_on == due and ep.next_meeting_due > due

        # The nudge cards are redrawn without their buttons; one fresh card with the
        # buttons for the next meeting goes to each of them.
        assert {r.platform for r in env.rows(intents.CAF_DONE)} == {"teams"}
        assert len(env.rows(intents.CAF_DONE)) >= 2
        await deliver(rig)
        for person in (ALEX, BLAKE):
            shown = {a["id"]: a for a in chat(fake, person)}
            assert len(shown) == 4, "registered, plan agreed, nudged, updated: no copies"
            live = [a for a in shown.values() if dialog_buttons(a)]
            assert [dialog_buttons(a)[verbs.CAF_HELD][verbs.DUE] for a in live] == [
                ep.next_meeting_due.isoformat()], "one live set, for the next meeting"
        was = {a["id"]: a for a in chat(fake, ALEX)}[nudge["id"]]
        assert not dialog_buttons(was), "the nudge card lost its buttons"
        assert "was recorded by" in json.dumps(was, ensure_ascii=False)
        assert not any("is overdue" in json.dumps(a) for a in chat(fake, ALEX))

        # The old button, clicked again by the co-ordinator: told it moved on.
        task = await env.dialog(BLAKE, "task/fetch", held)
        assert task["type"] == "message" and "was updated already" in task["value"]
        assert all_valid(fake) >= 6
