"""Teams: ``caf`` (the CAF team registers an episode in a dialog), the "My queue" card (the
App Home's content, refreshed on open) and roles held by membership of a named team (the
Bot Connector's roster, asked of the fake over HTTP with the bot's token).

The real SDK endpoint receives Teams-shaped activities (``test_teams_inbound.TeamsEnv``);
what the bot queues is read as outbox rows, what it says directly from the local
connector, what it asks about membership from the fake Bot Connector's calls.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import intents
from bot.handlers.teams import caf as teams_caf
from bot.handlers.teams.cards import home, verbs
from bot.handlers.teams.flows import ELSEWHERE
from bot.labels import to_utc
from bot.policy import Policy, TeamsPeople
from bot.sandbox.botconnector import FakeBotConnector
from store.db import session_scope
from store.models import AuditEntry, CafEpisode, Consultation, Referral, TriageCard
from tests.adaptive import assert_valid_activity, assert_valid_card
from tests.test_teams_inbound import (
    ADVISOR,
    CHANNEL,
    HEALTH,
    MANAGER,
    MENTION,
    OUTSIDER,
    TEACHER,
    TUESDAY,
    TeamsEnv,
    teams_db,  # noqa: F401 - the fixture, for both backends
    teams_env,
    teams_policy,
)

REGISTER = {verbs.ACTION: verbs.CAF_REGISTER}
GOOD = {verbs.IN_CAF_REFERENCE: "EHM-20417", verbs.IN_CAF_LEAD: TEACHER,
        verbs.IN_CAF_COORDINATOR: HEALTH, verbs.IN_CAF_COMPLETED: "2026-11-20",
        verbs.IN_CAF_CONSENT: "yes"}
NAME_AS_REFERENCE = "Kyra Smith"
# The managers' team and the advisors' team (its Entra group id), and who is in them.
MANAGERS_TEAM = "19:managers0team@thread.tacv2"
ADVISORS_TEAM = "19:advisors0team@thread.tacv2"
ADVISORS_GROUP = "ad000000-0000-4000-8000-0000000000ad"
LEE = "aa000000-0000-4000-8000-000000000011"  # in the managers' team
SAM = "aa000000-0000-4000-8000-000000000012"  # in the advisors' team


def _audits(engine: Engine, action: str) -> list[AuditEntry]:
    with session_scope(engine) as s:
        return [a for a in s.exec(select(AuditEntry)).all() if a.action == action]


def _form(task: dict[str, Any]) -> dict[str, Any]:
    assert task["type"] == "continue", task
    card = task["value"]["card"]["content"]
    assert_valid_card(card)
    return card


def _inputs(card: dict[str, Any]) -> dict[str, Any]:
    return {el["id"]: el.get("value", "") for el in card["body"] if "id" in el}


def _words(card: dict[str, Any]) -> str:
    """What the card says in its own words (not the inputs' values)."""
    return json.dumps([el for el in card["body"] if "id" not in el])


async def _home(env: TeamsEnv, user: str) -> dict[str, Any]:
    """``user`` types ``home`` in their chat; the card it answers with."""
    await env.say(user, "home")
    activity = env.said(user)[-1]
    assert_valid_activity(activity)
    return activity["attachments"][0]["content"]  # type: ignore[no-any-return]


def _refs(card: dict[str, Any]) -> str:
    return json.dumps(card["body"], ensure_ascii=False)


# --- caf: registering a CAF episode ---------------------------------------------------


async def test_caf_registration_dialog_for_the_caf_team_only(
    teams_db: tuple[Engine, str],  # noqa: F811 - the fixture imported above
) -> None:
    engine, url = teams_db
    async with teams_env(engine, url) as env:
        # Not the CAF team: refused in the chat and in the dialog, audited, nothing shown.
        await env.say(OUTSIDER, "caf")
        assert env.said(OUTSIDER)[-1]["text"] == teams_caf.TEAM_ONLY
        for name in ("task/fetch", "task/submit"):
            task = await env.dialog(OUTSIDER, name, {**REGISTER, **GOOD})
            assert task == {"type": "message", "value": teams_caf.TEAM_ONLY}
        assert [a.actor for a in _audits(engine, "denied.caf.register")] == [OUTSIDER] * 3
        with session_scope(engine) as s:
            assert not s.exec(select(CafEpisode)).all()

        # The CAF team: a card whose button opens the dialog.
        await env.say(ADVISOR, "caf")
        prompt = env.said(ADVISOR)[-1]
        assert_valid_activity(prompt)
        [button] = prompt["attachments"][0]["content"]["actions"]
        assert button["data"] == {"msteams": {"type": "task/fetch"}, **REGISTER}
        form = _form(await env.dialog(ADVISOR, "task/fetch", button["data"]))
        assert set(_inputs(form)) == {verbs.IN_CAF_REFERENCE, verbs.IN_CAF_LEAD,
                                      verbs.IN_CAF_COORDINATOR, verbs.IN_CAF_COMPLETED,
                                      verbs.IN_CAF_CONSENT}

        # A name where the reference goes: refused by its field, never echoed, the field
        # emptied; the other fields kept as typed.
        env.typed.append(NAME_AS_REFERENCE)
        form = _form(await env.dialog(ADVISOR, "task/submit", {
            **REGISTER, **GOOD, verbs.IN_CAF_REFERENCE: NAME_AS_REFERENCE}))
        assert "EHM reference must be the case system's number, like EHM-20417" in _words(form)
        assert "Kyra" not in json.dumps(form) and "Smith" not in json.dumps(form)
        assert _inputs(form)[verbs.IN_CAF_REFERENCE] == ""
        assert _inputs(form)[verbs.IN_CAF_COORDINATOR] == HEALTH
        # A co-ordinator who is not a Teams person's id: the example, not what was typed.
        form = _form(await env.dialog(ADVISOR, "task/submit", {
            **REGISTER, **GOOD, verbs.IN_CAF_COORDINATOR: "U0123SLACK"}))
        assert "co-ordinator must be an Entra object id such as" in _words(form)
        assert "U0123SLACK" not in _words(form)
        with session_scope(engine) as s:
            assert not s.exec(select(CafEpisode)).all(), "nothing saved"
        assert not env.rows(intents.CAF_REGISTERED)

        # A good one: registered as a Teams episode; its notices queued for Teams.
        task = await env.dialog(ADVISOR, "task/submit", {**REGISTER, **GOOD})
        assert task["type"] == "message", task
        assert task["value"].startswith("Registered CAF EHM-20417.")
        with session_scope(engine) as s:
            [ep] = s.exec(select(CafEpisode)).all()
        assert (ep.platform, ep.lead_user_id, ep.coordinator_user_id) == ("teams", TEACHER,
                                                                         HEALTH)
        notices = env.rows(intents.CAF_REGISTERED)
        assert {intents.Address.of(r) for r in notices} == {
            intents.Address(TEACHER, True), intents.Address(HEALTH, True)}
        assert {r.platform for r in env.rows() if r.subject_type == "caf"} == {"teams"}
        # The same reference again: said in the dialog, nothing more queued.
        queued = len(env.rows())
        form = _form(await env.dialog(ADVISOR, "task/submit", {**REGISTER, **GOOD}))
        assert "registered already" in _words(form)
        assert len(env.rows()) == queued

        # The lead professional's My queue has it, as App Home's data for Teams does, with
        # the CAF's own buttons.
        [lead_caf] = env.sv.overview.items(TEACHER, False, False, platform="teams")["my_cafs"]
        assert lead_caf.id == ep.id
        card = await _home(env, TEACHER)
        assert "Your CAFs as lead professional (1)" in _refs(card)
        assert "**CAF EHM-20417**" in _refs(card)
        [buttons] = [el for el in card["body"] if el["type"] == "ActionSet"]
        assert {a["data"][verbs.EPISODE] for a in buttons["actions"]} == {ep.id}

        # "@Front Door caf" in a channel: the card goes to the personal chat.
        before = len(env.said(ADVISOR))
        await env.say(ADVISOR, "<at>Front Door</at> caf", personal=False, entities=[MENTION])
        assert env.connector.to(CHANNEL)[-1]["text"] == ELSEWHERE
        assert len(env.said(ADVISOR)) == before + 1
        assert env.said(ADVISOR)[-1]["attachments"][0]["content"]["actions"] == [button]


# --- My queue -------------------------------------------------------------------------


async def test_my_queue_shows_what_app_home_shows_and_refreshes(
    teams_db: tuple[Engine, str],  # noqa: F811 - the fixture imported above
) -> None:
    engine, url = teams_db
    async with teams_env(engine, url) as env:
        # Opened for the first time (the app installed for them): their queue, empty.
        status, _ = await env.post(env.activity(TEACHER, kind="installationUpdate",
                                                action="add"))
        assert status in (200, 202)
        [first] = env.said(TEACHER)
        assert_valid_activity(first)
        assert "You have no open consultations or referrals." in _refs(
            first["attachments"][0]["content"])
        # Teams tells of it twice (the chat begun too): one card.
        await env.post(env.activity(TEACHER, kind="conversationUpdate",
                                    membersAdded=[env.activity(TEACHER)["recipient"]]))
        assert len(env.said(TEACHER)) == 1
        env.clock.advance(minutes=11)  # an upgrade of the app, later: not a first opening
        await env.post(env.activity(TEACHER, kind="installationUpdate", action="add-upgrade"))
        assert len(env.said(TEACHER)) == 1

        # A professional with an open consultation sees it, as App Home's data has it.
        await env.say(TEACHER, "consult")
        await env.play(TEACHER)
        mine = env.sv.overview.items(TEACHER, False, False, platform="teams")["my_items"]
        [item] = mine
        card = await _home(env, TEACHER)
        body = _refs(card)
        assert f"**{item['reference']}** · Consultation · open" in body
        assert "Suggested:" in body and "(not yet advised)" in body
        assert "Open triage cards" not in body and "Open consultations" not in body
        assert card["refresh"] == {
            "action": {"type": "Action.Execute", "title": "Refresh", "verb": verbs.HOME_REFRESH,
                       "data": {"verb": verbs.HOME_REFRESH}},
            "userIds": [f"29:{TEACHER}"]}

        # A manager: the open triage cards and the open consultations, as App Home's.
        await env.say(HEALTH, "refer")
        await env.play(HEALTH)
        data = env.sv.overview.items(MANAGER, True, True, platform="teams")
        [(open_card, _)] = data["open_cards"]
        [open_consultation] = data["open_consultations"]
        body = _refs(await _home(env, MANAGER))
        assert "Open triage cards (1)" in body and f"**{open_card.reference}**" in body
        # Its due time as the cards say it, then how long from now (as App Home).
        iso = to_utc(open_card.due_at).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert f"Due {{{{DATE({iso}, SHORT)}}}} {{{{TIME({iso})}}}} · in " in body
        assert "Open consultations (1)" in body and f"**{open_consultation.reference}**" in body
        assert "You have no open consultations or referrals." in body
        # "my queue" is the same card.
        await env.say(MANAGER, "my queue")
        assert "Open triage cards (1)" in _refs(env.said(MANAGER)[-1]["attachments"][0][
            "content"])

        # The card shown again: Teams asks for it, and gets it redrawn as things now are.
        await env.say(OUTSIDER, "consult")
        await env.play(OUTSIDER)
        answer = await env.execute(MANAGER, verbs.HOME_REFRESH, {"verb": verbs.HOME_REFRESH})
        assert answer["type"] == "application/vnd.microsoft.card.adaptive"
        assert_valid_card(answer["value"])
        assert "Open consultations (2)" in _refs(answer["value"])
        assert answer["value"]["refresh"]["userIds"] == [f"29:{MANAGER}"]
        # The personal chat begun (the bot added to it): the queue again.
        said = len(env.said(ADVISOR))
        await env.post(env.activity(ADVISOR, kind="conversationUpdate",
                                    membersAdded=[{"id": "28:" + "0" * 8}]))
        assert len(env.said(ADVISOR)) == said, "someone else added: nothing"
        bot = env.activity(ADVISOR)["recipient"]
        await env.post(env.activity(ADVISOR, kind="conversationUpdate", membersAdded=[bot]))
        assert "Open consultations (2)" in _refs(env.said(ADVISOR)[-1]["attachments"][0][
            "content"])


def test_a_long_queue_stays_under_teams_limit_and_says_how_many_more() -> None:
    # Every list far past its cap, every line as long as it gets, a different assignee
    # (a mention each) on every card.
    many = [Consultation(id=i, reference=f"CONS-2026-{i:05d}", professional_id=1,
                         suggested_outcome="early_help", age_band="5_to_11", repeat_count=2,
                         status="open", created_at=TUESDAY - timedelta(minutes=i))
            for i in range(1, 301)]
    cards = [(TriageCard(id=i, referral_id=i, reference=f"FD-2026-{i:06d}",
                         suggested_rating="amber_cin", status="new", clock="amber_cin",
                         due_at=TUESDAY + timedelta(hours=i - 5), received_at=TUESDAY,
                         assignee_user_id=f"aa000000-0000-4000-8000-{i:012d}",
                         info_requested=True), Referral(id=i, kind="urgent"))
             for i in range(1, 201)]
    mine = [{"reference": f"FD-2026-{i:06d}", "kind": "referral (urgent)", "status": "decided",
             "outcome": "amber_cin", "created_at": TUESDAY} for i in range(100)]
    cafs = [CafEpisode(id=i, ehm_reference=f"EHM-{i:05d}", platform="teams", status="open",
                       lead_user_id=TEACHER, coordinator_user_id=f"aa000000-0000-4000-8000-"
                       f"{i:012d}", completed_on=TUESDAY.date() - timedelta(days=60),
                       consent=True, next_meeting_due=TUESDAY.date() - timedelta(days=i))
            for i in range(1, 41)]
    activity = home.home_activity(
        user_mri="29:x", is_manager=True, is_advisor=True, my_items=mine, open_cards=cards,
        open_consultations=many, policy=teams_policy(), now=TUESDAY, my_cafs=cafs)
    assert_valid_activity(activity)
    said = json.dumps(activity, ensure_ascii=False)
    assert "Open triage cards (200, 4 overdue)" in said and "Open consultations (300)" in said
    # Each list shows what fits and counts the rest.
    body = activity["attachments"][0]["content"]["body"]
    shown = [sum(1 for el in body if f"**{ref}" in el.get("text", ""))
             for ref in ("FD-", "CONS-", "CAF EHM-")]
    more = [int(n) for n in re.findall(r"… and (\d+) more not shown", said)]
    assert len(more) == 4 and sum(more) == 100 + 200 + 300 + 40 - sum(shown), (shown, more)
    assert "Your CAFs as lead professional (40, 40 overdue)" in said


# --- roles by membership of a team ------------------------------------------------------


def _membership_policy() -> Policy:
    """Managers: MANAGER by id, and the managers' team; advisors: the advisors' team, by
    its Entra group id."""
    pol = teams_policy()
    teams = TeamsPeople.model_validate({
        "channels": pol.teams.channels.model_dump(),
        "roles": {"managers": {"users": [MANAGER], "usergroups": [MANAGERS_TEAM]},
                  "advisors": {"usergroups": [ADVISORS_GROUP]}}})
    return pol.model_copy(update={"teams": teams})


async def test_roles_by_membership_of_a_team_fail_closed(
    sqlite_engine: Engine, sqlite_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeBotConnector() as fake:
        for aad in (LEE, SAM, OUTSIDER, MANAGER):
            fake.add_person(f"29:{aad}", "A Person", aad)
        fake.add_team(MANAGERS_TEAM, [f"29:{LEE}"])
        fake.add_team(ADVISORS_TEAM, [f"29:{SAM}"], group_id=ADVISORS_GROUP)
        async with teams_env(sqlite_engine, sqlite_url, policy=_membership_policy(),
                             roster=fake) as env:
            card_id = await env.referral_card(HEALTH)
            data = {verbs.CARD: card_id, verbs.VERSION: 1}
            change = {verbs.ACTION: verbs.CARD_CHANGE, verbs.CARD: card_id}

            # Not in the managers' team: refused, audited, nothing changed.
            answer = await env.execute(OUTSIDER, verbs.CARD_APPROVE, data)
            assert answer["value"].startswith("Only the front door's managers can approve")
            assert [a.actor for a in _audits(sqlite_engine, "denied.approve")] == [OUTSIDER]
            # In it (the roster says so, asked with the bot's token): may approve.
            answer = await env.execute(LEE, verbs.CARD_APPROVE, data)
            assert answer["type"] == "application/vnd.microsoft.card.adaptive", answer
            asked = [c for c in fake.calls_to("member") if c.ok]
            assert {c.conversation for c in asked} == {MANAGERS_TEAM}
            # The advisors' team named by its Entra group id: its member may advise.
            await env.say(SAM, "caflog")
            assert env.said(SAM)[-1]["text"] == "CAF consultation log"
            await env.say(SAM, "caf list")  # the CAF team's lookup (cafops') too
            assert "There are no open CAFs." in json.dumps(env.said(SAM)[-1])
            # A manager named by id is never asked about.
            asked_before = len(fake.calls_to("member"))
            assert (await env.dialog(MANAGER, "task/fetch", change))["type"] == "continue"
            assert len(fake.calls_to("member")) == asked_before

            # Kept for five minutes by the clock: out of the team, still a manager until
            # then, and not asked again; then asked, and refused.
            fake.conversations[MANAGERS_TEAM].members.remove(f"29:{LEE}")
            assert (await env.dialog(LEE, "task/fetch", change))["type"] == "continue"
            assert len(fake.calls_to("member")) == asked_before
            env.clock.advance(minutes=6)
            assert (await env.dialog(LEE, "task/fetch", change))["type"] == "message"

            # The roster failing: not a member (failing closed), said in the log by status
            # alone; not kept, so the next question asks again.
            fake.conversations[MANAGERS_TEAM].members.append(f"29:{LEE}")
            env.clock.advance(minutes=6)
            fake.fail("member", status=500)
            task = await env.dialog(LEE, "task/fetch", change)
            assert task["value"].startswith("Only the front door's managers can change")
            assert "teams roster: answered 500; taken as not a member" in caplog.text
            assert LEE not in caplog.text and MANAGERS_TEAM not in caplog.text
            assert (await env.dialog(LEE, "task/fetch", change))["type"] == "continue"


def test_a_policy_may_name_a_team_by_its_id_or_its_group_id() -> None:
    roles = _membership_policy().people("teams").roles
    assert roles.managers.usergroups == (MANAGERS_TEAM,)
    assert roles.advisors.usergroups == (ADVISORS_GROUP,)
    with pytest.raises(ValueError, match="a team's id"):
        TeamsPeople.model_validate({"channels": teams_policy().teams.channels.model_dump(),
                                    "roles": {"managers": {"usergroups": ["Managers"]},
                                              "advisors": {"users": [ADVISOR]}}})

