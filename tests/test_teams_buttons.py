"""Every button on every Teams card works (issue 19): each is clicked as Teams shows it
(the card the real sender, renderer and transport delivered to the fake Bot Connector),
through the real SDK endpoint. For each: the dialog opens for the right person, is refused
for the wrong one (audited where Slack audits), acts once however often Teams delivers
it, and the card is redrawn (its update queued for Teams). Every card and dialog form
validates against the Adaptive Card 1.5 schema. Fictional people only.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import intents
from bot.flows.caf.models import NewEpisode
from bot.flows.caf.qa import NFA
from bot.flows.caf.service import NOT_ROUTABLE
from bot.flows.triage.models import CLOSE_REASONS
from bot.handlers.teams.actions import NOT_HERE as ACTION_NOT_HERE
from bot.handlers.teams.actions import PROFESSIONAL_ONLY, REFUSED
from bot.handlers.teams.cafdialogs import NOT_YOURS
from bot.handlers.teams.cafqa import MANAGERS_ONLY as QA_MANAGERS_ONLY
from bot.handlers.teams.cafroute import MANAGERS_ONLY
from bot.handlers.teams.cards import verbs
from bot.handlers.teams.dialogs import NOT_HERE, REFERRER_ONLY
from bot.handlers.teams.tasks import continue_with
from bot.policy import load_policy
from bot.reminders import ReminderSweep
from bot.sandbox.botconnector import FakeBotConnector
from store.db import session_scope
from store.models import Consultation, TriageCard
from tests.adaptive import assert_valid_card
from tests.teamsenv import ALEX, BLAKE, Rig
from tests.test_teams_caf import (
    COMPLETED,
    all_valid,
    chat,
    deliver,
    delivering,
    dialog_buttons,
    form_of,
    latest_in,
    registered,
)
from tests.test_teams_inbound import (
    ADVISOR,
    CHANNEL,
    HEALTH,
    MANAGER,
    OUTSIDER,
    PLAIN,
    TEACHER,
    TeamsEnv,
    _audits,
    teams_env,
)
from tests.test_teams_inbound import (
    REFUSED as IDENTIFYING,
)
from tests.test_teams_render import drawn, walk

CARD = "application/vnd.microsoft.card.adaptive"


def errors_in(task: dict[str, Any]) -> str:
    """The words a dialog shows, its inputs (what was typed, in the dialog only) aside."""
    return json.dumps([el for el in form_of(task)["body"] if "id" not in el],
                      ensure_ascii=False)


async def twice(env: TeamsEnv, user: str, data: dict[str, Any]) -> dict[str, Any]:
    """``user`` sends a dialog, and Teams delivers it again; the first answer."""
    invoke = f"f:{uuid.uuid4().hex}"
    first = await env.dialog(user, "task/submit", data, activity_id=invoke)
    await env.dialog(user, "task/submit", data, activity_id=invoke)
    return first


async def test_triage_card_dialogs_for_managers_and_the_referrers_reply(
    engine: Engine, db_url: str,
) -> None:
    async with teams_env(engine, db_url) as env, delivering(env) as (fake, rig):
        card_id = await env.referral_card(HEALTH)
        await deliver(rig)
        with session_scope(engine) as s:
            reference = s.get(TriageCard, card_id).reference
        posted = latest_in(fake.activities(CHANNEL), reference)
        buttons = dialog_buttons(posted)
        assert set(buttons) == {verbs.CARD_CHANGE, verbs.CARD_REQUEST_INFO, verbs.CARD_CLOSE}

        # Every dialog: refused for anyone but a manager (audited), opened for a manager.
        for action, (what, audited) in {
                verbs.CARD_CHANGE: ("change a rating", "change"),
                verbs.CARD_REQUEST_INFO: ("ask for more information", "request_info"),
                verbs.CARD_CLOSE: ("close cards", "close")}.items():
            task = await env.dialog(OUTSIDER, "task/fetch", buttons[action])
            assert task == {"type": "message", "value": REFUSED.format(what=what)}
            assert [a.actor for a in _audits(engine, f"denied.{audited}")] == [OUTSIDER]
            form_of(await env.dialog(MANAGER, "task/fetch", buttons[action]))

        # Request more information: once, however often Teams delivers it; the card is
        # redrawn and the referrer asked in their chat.
        ask = {**buttons[verbs.CARD_REQUEST_INFO], verbs.IN_TEXT: "Is anyone else at home?"}
        updates = len(env.rows(intents.TRIAGE_CARD_UPDATE))
        assert (await twice(env, MANAGER, ask))["type"] == "message"
        [asked] = env.rows(intents.REFERRER_INFO_REQUEST)
        assert intents.Address.of(asked) == intents.Address(HEALTH, True)
        assert [r.platform for r in env.rows(intents.TRIAGE_CARD_UPDATE)][updates:] == ["teams"]
        await deliver(rig)

        # The referrer's Reply: theirs alone; an identifier is an error in the dialog.
        reply = dialog_buttons(latest_in(chat(fake, HEALTH), "needs more information"))[
            verbs.INFO_REPLY]
        for someone in (MANAGER, OUTSIDER):
            assert await env.dialog(someone, "task/fetch", reply) == {
                "type": "message", "value": REFERRER_ONLY}
        form_of(await env.dialog(HEALTH, "task/fetch", reply))
        env.typed.append(IDENTIFYING)
        task = await env.dialog(HEALTH, "task/submit", {**reply, verbs.IN_TEXT: IDENTIFYING})
        assert "a name in your first sentence" in errors_in(task)
        with session_scope(engine) as s:
            assert s.get(TriageCard, card_id).info_requested, "nothing saved"
        notes = len(env.rows(intents.CARD_NOTE))
        assert (await twice(env, HEALTH, {**reply, verbs.IN_TEXT: PLAIN}))["type"] == "message"
        assert len(env.rows(intents.CARD_NOTE)) == notes + 1, "on the card's thread, once"
        assert len(_audits(engine, "card.info_reply")) == 1

        # Close: a reason from those offered, or an error in the dialog; then the card is
        # redrawn without buttons, and its old buttons say it is closed.
        close = buttons[verbs.CARD_CLOSE]
        task = await env.dialog(MANAGER, "task/submit", {**close, verbs.IN_OUTCOME: "Gone"})
        assert "Choose one of the reasons offered." in errors_in(task)
        assert (await twice(env, MANAGER, {**close, verbs.IN_OUTCOME: CLOSE_REASONS[0]}))[
            "type"] == "message"
        with session_scope(engine) as s:
            assert s.get(TriageCard, card_id).status == "closed"
        assert len(_audits(engine, "card.close")) == 1
        await deliver(rig)
        assert not latest_in(fake.activities(CHANNEL), reference).get("attachments")[0][
            "content"].get("actions"), "a closed card has no buttons"
        assert await env.dialog(MANAGER, "task/fetch", buttons[verbs.CARD_CHANGE]) == {
            "type": "message", "value": "This card is closed."}
        all_valid(fake)


async def test_advice_dialogs_and_change_my_answer(engine: Engine, db_url: str) -> None:
    async with teams_env(engine, db_url) as env, delivering(env) as (fake, rig):
        await env.say(TEACHER, "consult")
        await env.play(TEACHER)
        await deliver(rig)
        with session_scope(engine) as s:
            [c] = s.exec(select(Consultation)).all()
        give = dialog_buttons(latest_in(fake.activities(CHANNEL), c.reference))[
            verbs.CONSULT_ADVISE]
        assert (await env.dialog(OUTSIDER, "task/fetch", give))["value"] == (
            "Only duty advisors can answer consultations.")
        form_of(await env.dialog(ADVISOR, "task/fetch", give))
        advised = {**give, verbs.IN_OUTCOME: "early_help", verbs.IN_TEXT: PLAIN}
        assert (await twice(env, ADVISOR, advised))["type"] == "message"
        assert len(env.rows(intents.ADVICE)) == 1
        assert [r.platform for r in env.rows(intents.CONSULTATION_CARD_UPDATE)] == ["teams"]
        await deliver(rig)

        # "I'm doing something else": a dialog for the professional who asked.
        advice = latest_in(chat(fake, TEACHER), f"Advice on your consultation {c.reference}")
        other = dialog_buttons(advice)[verbs.ADVICE_NOT_FOLLOWED]
        assert (await env.dialog(ADVISOR, "task/fetch", other))["value"] == PROFESSIONAL_ONLY
        form_of(await env.dialog(TEACHER, "task/fetch", other))
        assert (await twice(env, TEACHER, {**other, verbs.IN_TEXT: PLAIN}))["type"] == "message"
        with session_scope(engine) as s:
            assert s.get(Consultation, c.id).followed_advice is False
        assert len(_audits(engine, "consultation.response")) == 1
        await deliver(rig)

        # "Change my answer" (Action.Execute): the card comes back with both answers, for
        # the professional who asked only; the answer stands until they choose.
        redrawn = latest_in(chat(fake, TEACHER), f"Advice on your consultation {c.reference}")
        [change] = [a for a in redrawn["attachments"][0]["content"]["actions"]
                    if a.get("verb") == verbs.ADVICE_CHANGE]
        answer = await env.execute(OUTSIDER, verbs.ADVICE_CHANGE, change["data"])
        assert answer["value"] == PROFESSIONAL_ONLY
        answer = await env.execute(TEACHER, verbs.ADVICE_CHANGE, change["data"])
        assert answer["type"] == CARD
        assert_valid_card(answer["value"])
        again = continue_with("", answer["value"])["task"]["value"]["card"]
        both = dialog_buttons({"attachments": [again]})
        assert both[verbs.ADVICE_NOT_FOLLOWED]["change"] is True
        assert len(_audits(engine, "consultation.change_asked")) == 1
        followed = [a for a in answer["value"]["actions"]
                    if a.get("verb") == verbs.ADVICE_FOLLOWED]
        answer = await env.execute(TEACHER, verbs.ADVICE_FOLLOWED, followed[0]["data"])
        assert "recorded" in answer["value"]
        with session_scope(engine) as s:
            assert s.get(Consultation, c.id).followed_advice is True
        all_valid(fake)


async def test_caf_stuck_and_close_dialogs(engine: Engine, db_url: str) -> None:
    async with teams_env(engine, db_url) as env, delivering(env) as (fake, rig):
        episode_id = await registered(env)
        await deliver(rig)
        buttons = dialog_buttons(latest_in(chat(fake, ALEX), "is registered with Front Door"))

        # Stuck: the lead professional asks; it goes to the co-ordinator, once.
        stuck = buttons[verbs.CAF_STUCK]
        assert (await env.dialog(OUTSIDER, "task/fetch", stuck))["value"] == NOT_YOURS
        assert [a.actor for a in _audits(engine, "denied.caf.stuck")] == [OUTSIDER]
        assert "the CAF co-ordinator" in json.dumps(
            form_of(await env.dialog(ALEX, "task/fetch", stuck)))
        env.typed.append(IDENTIFYING)
        task = await env.dialog(ALEX, "task/submit", {**stuck, verbs.IN_TEXT: IDENTIFYING})
        assert "a name in your first sentence" in errors_in(task)
        assert not env.rows(intents.CAF_STUCK_COORDINATOR), "nothing sent"
        note = "The family planning meeting keeps being cancelled."
        task = await twice(env, ALEX, {**stuck, verbs.IN_TEXT: note})
        assert task["value"].startswith("Thank you: CAF EHM-20417 went to the CAF co-ordinator")
        assert len(_audits(engine, "caf.stuck")) == 1, "once: not on up the route"
        assert not env.rows(intents.CAF_STUCK_DUTY)
        [told] = env.rows(intents.CAF_STUCK_COORDINATOR)
        assert (intents.Address.of(told), told.platform) == (intents.Address(BLAKE, True),
                                                             "teams")
        await deliver(rig)

        # Rearranged: by the co-ordinator; a date passed is an error in the dialog.
        rearranged = buttons[verbs.CAF_REARRANGED]
        due = (await env.sv.caf.aget(episode_id)).next_meeting_due
        task = await env.dialog(BLAKE, "task/submit", {**rearranged, verbs.IN_DATE: "2026-11-01"})
        assert "That date has passed" in errors_in(task)
        later = (due + dt.timedelta(days=7)).isoformat()
        task = await twice(env, BLAKE, {**rearranged, verbs.IN_DATE: later})
        assert task["type"] == "message", task
        assert (await env.sv.caf.aget(episode_id)).next_meeting_due.isoformat() == later
        assert len(_audits(engine, "caf.meeting_rearranged")) == 1
        await deliver(rig)
        buttons = dialog_buttons(latest_in(chat(fake, ALEX), "rearranged the family planning"))

        # Close: the CAF team (a manager) may; a reason from those offered. With no further
        # action a CAF manager is asked to agree instead, and the CAF stays open.
        close = buttons[verbs.CAF_CLOSE]
        form_of(await env.dialog(MANAGER, "task/fetch", close))
        task = await env.dialog(MANAGER, "task/submit", close)
        assert "Choose why the CAF is closing." in errors_in(task)
        task = await env.dialog(ALEX, "task/submit", {**close, verbs.IN_OUTCOME: NFA})
        assert task["value"].startswith("Sent to a CAF manager"), task
        assert (await env.sv.caf.aget(episode_id)).status == "open"
        assert len(env.rows(intents.CAF_QA_CARD)) == 2, "the plan's, then the closure's"
        task = await twice(env, MANAGER, {**close, verbs.IN_OUTCOME: "plan_complete"})
        assert task["type"] == "message", task
        assert (await env.sv.caf.aget(episode_id)).status == "closed"
        assert [r.platform for r in env.rows(intents.CAF_CLOSED)] == ["teams"]
        assert len(_audits(engine, "caf.close")) == 1
        assert await env.dialog(ALEX, "task/fetch", buttons[verbs.CAF_HELD]) == {
            "type": "message", "value": "CAF EHM-20417 is closed."}
        await deliver(rig)
        assert not any(dialog_buttons(a) for a in chat(fake, ALEX)), "no live buttons left"
        all_valid(fake)



async def test_record_the_lead_professional_with_teams_people_picker(
    engine: Engine, db_url: str,
) -> None:
    async with teams_env(engine, db_url) as env, delivering(env) as (fake, rig):
        sv = env.sv
        result = await sv.caf.aregister(NewEpisode("EHM-20418", None, BLAKE, COMPLETED, True,
                                                   platform="teams"),
                                        ADVISOR, effects=sv.caf_messaging)
        assert result.ok and result.episode is not None, result.message
        episode_id = result.episode.id
        ReminderSweep(sv).run(env.clock())  # the no-lead route's first step is due at once
        posted = env.rows(intents.CAF_NO_LEAD)
        assert posted and {r.platform for r in posted} == {"teams"}
        await deliver(rig)
        set_lead = dialog_buttons(latest_in(fake.activities(CHANNEL), "has no lead professional"))[
            verbs.CAF_SET_LEAD]

        # The co-ordinator or the CAF team; anyone else is refused, audited.
        assert (await env.dialog(ALEX, "task/fetch", set_lead))["value"] == NOT_YOURS
        assert [a.actor for a in _audits(engine, "denied.caf.lead")] == [ALEX]
        form = form_of(await env.dialog(BLAKE, "task/fetch", set_lead))
        [picker] = [el for el in form["body"] if el.get("id") == verbs.IN_LEAD]
        assert picker["choices.data"] == {"type": "Data.Query",
                                          "dataset": "graph.microsoft.com/users"}
        task = await env.dialog(BLAKE, "task/submit", set_lead)
        assert "Choose the lead professional." in errors_in(task)
        task = await env.dialog(BLAKE, "task/submit", {**set_lead, verbs.IN_LEAD: "U0LEAD"})
        assert "must be an Entra object id" in errors_in(task), "a Slack id: no Teams person"
        task = await twice(env, BLAKE, {**set_lead, verbs.IN_LEAD: ALEX})
        assert task == {"type": "message", "value": "Saved: the lead professional now gets "
                        "this CAF's reminders."}
        assert (await sv.caf.aget(episode_id)).lead_user_id == ALEX
        assert len(_audits(engine, "caf.lead")) == 1
        [told] = env.rows(intents.CAF_REGISTERED, ALEX)
        assert told.platform == "teams"
        await deliver(rig)
        assert dialog_buttons(latest_in(chat(fake, ALEX), "you are the lead professional"))
        all_valid(fake)


async def decided_green(env: TeamsEnv, engine: Engine, fake: FakeBotConnector, rig: Rig
                        ) -> tuple[int, str, dict[str, Any]]:
    """A referral card a manager decided Green in its dialog: its id, its reference and
    the data of its *Route to a CAF* button."""
    card_id = await env.referral_card(HEALTH)
    await deliver(rig)
    with session_scope(engine) as s:
        reference = s.get(TriageCard, card_id).reference
    change = dialog_buttons(latest_in(fake.activities(CHANNEL), reference))[verbs.CARD_CHANGE]
    await env.dialog(MANAGER, "task/submit", {**change, verbs.IN_RATING: "green",
                                               verbs.IN_TEXT: PLAIN})
    await deliver(rig)
    return card_id, reference, dialog_buttons(latest_in(fake.activities(CHANNEL), reference))[
        verbs.CAF_ROUTE_CARD]


async def test_route_a_green_card_to_a_caf(engine: Engine, db_url: str) -> None:
    async with teams_env(engine, db_url) as env, delivering(env) as (fake, rig):
        card_id, reference, route = await decided_green(env, engine, fake, rig)

        # Managers only, audited; the form's people pickers validate.
        assert (await env.dialog(OUTSIDER, "task/fetch", route))["value"] == MANAGERS_ONLY
        assert [a.actor for a in _audits(engine, "denied.route_caf")] == [OUTSIDER]
        form_of(await env.dialog(MANAGER, "task/fetch", route))
        # A name where the reference goes: refused in the dialog, never repeated.
        env.typed.append("Kyra Smith")
        task = await env.dialog(MANAGER, "task/submit", {**route, verbs.IN_REFERENCE:
                                                          "Kyra Smith"})
        assert "never a name" in errors_in(task) and "Kyra" not in errors_in(task)
        fields = {**route, verbs.IN_REFERENCE: "EHM-30001", verbs.IN_LEAD: ALEX,
                  verbs.IN_DATE: COMPLETED.isoformat(), verbs.IN_CONSENT: "yes"}
        task = await env.dialog(MANAGER, "task/submit", fields)
        assert "Choose the CAF co-ordinator." in errors_in(task)
        task = await twice(env, MANAGER, {**fields, verbs.IN_COORDINATOR: BLAKE})
        assert task["value"].startswith("Registered CAF EHM-30001."), task
        ep = await env.sv.caf.afind("EHM-30001")
        assert (ep.platform, ep.lead_user_id, ep.coordinator_user_id) == ("teams", ALEX, BLAKE)
        assert len(_audits(engine, "card.route_caf")) == 1
        told = env.rows(intents.CAF_REGISTERED)
        assert sorted(intents.Address.of(r).id for r in told) == sorted([ALEX, BLAKE])
        assert {r.platform for r in told} == {"teams"}
        await deliver(rig)
        redrawn = latest_in(fake.activities(CHANNEL), reference)
        assert verbs.CAF_ROUTE_CARD not in dialog_buttons(redrawn)
        assert "Linked to an open CAF episode" in json.dumps(redrawn)
        assert (await env.dialog(MANAGER, "task/fetch", route))["value"] == NOT_ROUTABLE
        all_valid(fake)


async def test_route_under_a_closed_or_an_open_caf_reference(engine: Engine,
                                                              db_url: str) -> None:
    """The CAF domain's rule, as the dialog shows it: a closed CAF's reference is refused
    in the same words as on Slack; an open one's links the card."""
    async with teams_env(engine, db_url) as env, delivering(env) as (fake, rig):
        episode_id = await registered(env, agree=False)
        card_id, _, route = await decided_green(env, engine, fake, rig)
        assert (await env.sv.caf.aclose(episode_id, BLAKE, "stepped_down")).ok
        task = await env.dialog(MANAGER, "task/submit", {**route, verbs.IN_REFERENCE:
                                                          "ehm-20417"})
        assert ("That CAF is closed: register the new episode under its own EHM "
                "reference.") in errors_in(task)
        assert not _audits(engine, "card.route_caf")
        other = await env.sv.caf.aregister(NewEpisode("EHM-20418", ALEX, BLAKE, COMPLETED,
                                                      True, platform="teams"), ADVISOR)
        task = await env.dialog(MANAGER, "task/submit", {**route, verbs.IN_REFERENCE:
                                                          "ehm-20418"})
        assert task["value"].startswith("Linked to the open CAF EHM-20418."), task
        with session_scope(engine) as s:
            linked = s.get(TriageCard, card_id).caf_episode_id  # type: ignore[union-attr]
        assert other.episode is not None and linked == other.episode.id


async def test_no_button_on_any_card_is_left_unanswered(engine: Engine, db_url: str) -> None:
    """Every button the renderer draws, on every intent's card, reaches a handler: clicked
    by someone with no role, each is refused or answered, never "not from Teams yet"."""
    seen: dict[str, dict[str, Any]] = {}
    for _, call in drawn(engine, load_policy("cambridgeshire")):
        for attachment in call.activity.get("attachments") or []:
            for button in walk(attachment.get("content", {}).get("actions")):
                kind, data = button.get("type"), button.get("data") or {}
                if kind == "Action.Execute":
                    seen.setdefault(f"execute:{button['verb']}", data)
                elif kind == "Action.Submit" and data.get("msteams"):
                    seen.setdefault(f"dialog:{data[verbs.ACTION]}", data)
    assert {"execute:" + v for v in (verbs.CARD_APPROVE, verbs.ADVICE_FOLLOWED,
                                      verbs.CAF_QA_AGREE, verbs.CAF_QA_RETURN)} <= set(seen)
    assert {"dialog:" + v for v in (verbs.CARD_CHANGE, verbs.CAF_HELD, verbs.CAF_SET_LEAD,
                                     verbs.INFO_REPLY, verbs.ADVICE_NOT_FOLLOWED)} <= set(seen)
    async with teams_env(engine, db_url) as env:
        for key, data in seen.items():
            kind, _, verb = key.partition(":")
            if kind == "execute":
                answer = (await env.execute(OUTSIDER, verb, data))["value"]
            else:
                answer = (await env.dialog(OUTSIDER, "task/fetch", data))["value"]
            assert isinstance(answer, str) and answer != NOT_HERE and answer != ACTION_NOT_HERE, (
                key, answer)


async def test_caf_quality_assurance_returned_with_reasons_then_sent_again(
    engine: Engine, db_url: str,
) -> None:
    async with teams_env(engine, db_url) as env, delivering(env) as (fake, rig):
        await registered(env, agree=False)
        await deliver(rig)
        card = latest_in(fake.activities(CHANNEL), "CAF quality assurance")
        [back] = [a for a in walk(card["attachments"][0]["content"]["actions"])
                  if a.get("type") == "Action.Execute" and a["verb"] == verbs.CAF_QA_RETURN]
        # Managers only; the reasons typed on the card pass the no-names screen.
        assert (await env.execute(OUTSIDER, verbs.CAF_QA_RETURN, {
            **back["data"], verbs.IN_TEXT: PLAIN}))["value"] == QA_MANAGERS_ONLY
        env.typed.append(IDENTIFYING)
        said = (await env.execute(MANAGER, verbs.CAF_QA_RETURN, {
            **back["data"], verbs.IN_TEXT: IDENTIFYING}))["value"]
        assert "a name in your first sentence" in said and "Nothing was saved" in said
        assert not env.rows(intents.CAF_QA_RETURNED)
        said = (await env.execute(MANAGER, verbs.CAF_QA_RETURN, {
            **back["data"], verbs.IN_TEXT: "The plan has no review date."}))["value"]
        assert said.startswith("Returned:"), said
        returned = env.rows(intents.CAF_QA_RETURNED)
        assert sorted(intents.Address.of(r).id for r in returned) == sorted([ALEX, BLAKE, ADVISOR])
        assert {r.platform for r in returned} == {"teams"}
        await deliver(rig)

        # "Marked complete again", from the lead professional's chat: a new QA card.
        [again] = [a for a in latest_in(chat(fake, ALEX), "was returned")["attachments"][0][
            "content"]["actions"] if a.get("verb") == verbs.CAF_QA_RESUBMIT]
        answer = await env.execute(OUTSIDER, verbs.CAF_QA_RESUBMIT, again["data"])
        assert answer["value"] == NOT_YOURS
        answer = await env.execute(ALEX, verbs.CAF_QA_RESUBMIT, again["data"])
        assert answer["value"].startswith("Sent for quality assurance again"), answer
        assert len(env.rows(intents.CAF_QA_CARD)) == 2
        await deliver(rig)
        all_valid(fake)
