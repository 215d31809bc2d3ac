"""CAF people are user ids of the episode's own platform, checked by the policy's shapes.

The CAF domain knows no platform's ids: a Slack episode takes Slack user ids, a Teams
episode Entra object ids, and the words refusing a wrong one show the policy's example
for that platform (never what was typed). The consultation log's advisor filter is a
plain id that the platform's listener parsed from its mention.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.flows.caf.importer import Directory, columns_help, import_text
from bot.flows.consultation import log as caflog
from bot.handlers.slack import caflog as slack_caflog
from bot.handlers.slack.directory import directory as slack_directory
from bot.policy import id_example
from store.db import session_scope
from store.models import CafEpisode
from tests.test_caf import ADVISOR, LEAD, Env, caf_env, new, register
from tests.test_caf_import import clock
from tests.test_teams_inbound import teams_policy


@pytest.fixture
async def env(engine: Engine) -> AsyncIterator[Env]:
    """The CAF services with a policy naming people on Slack and on Teams."""
    async with caf_env(engine, teams_policy()) as found:
        yield found


# Fictional Entra object ids.
TEAMS_LEAD = "6f1c2a9e-0b7d-4c1e-9a3f-2d5e8b7c4a10"
TEAMS_COORD = "0a4b8c2d-3e5f-4a6b-8c7d-9e0f1a2b3c4d"


async def test_a_teams_episode_takes_entra_ids_and_says_so(env: Env) -> None:
    sv, _, caf, _ = env
    teams = dataclasses.replace(new("EHM-31"), lead_user_id=TEAMS_LEAD,
                                coordinator_user_id=TEAMS_COORD, platform="teams")
    ep = register(env, teams)
    assert (ep.platform, ep.lead_user_id) == ("teams", TEAMS_LEAD)
    # A Slack id on a Teams episode is refused in Teams' words, with the policy's example.
    wrong = caf.register(dataclasses.replace(teams, ehm_reference="EHM-32",
                                             lead_user_id=LEAD), ADVISOR)
    assert wrong.status == "invalid"
    assert wrong.message == ("The lead professional must be an Entra object id such as "
                             f"{id_example('teams')[1]}.")
    # And the other way round: a Slack episode keeps its words exactly.
    slack = caf.register(new("EHM-33", lead=TEAMS_LEAD), ADVISOR)
    assert slack.message == "The lead professional must be a Slack user ID such as U0123ABCD."
    # Recording a lead later checks the episode's own platform too.
    bad = caf.set_lead(ep.id or 0, TEAMS_COORD, "Jayden Smith")
    assert bad.status == "invalid" and "Jayden" not in bad.message
    assert bad.message.startswith("The lead professional must be an Entra object id")
    assert caf.set_lead(ep.id or 0, TEAMS_COORD, TEAMS_COORD).ok


def test_the_log_filter_takes_the_plain_id_its_listener_parsed() -> None:
    # Slack: a mention in /caflog's text becomes the plain id before the domain reads it.
    assert slack_caflog.plain_ids(f"advisor:<@{ADVISOR}|dee> attendance") == (
        f"advisor:{ADVISOR} attendance")
    assert slack_caflog.parse(f"advisor:<@{ADVISOR}>").advisor == ADVISOR
    # The domain does not read Slack's markup: a mention is not an id.
    with pytest.raises(caflog.FilterError):
        caflog.parse_query(f"advisor:<@{ADVISOR}>", platform="slack")
    # Teams: an Entra object id; a Slack id is refused with the Teams example, not echoed.
    assert caflog.parse_query(f"advisor:{TEAMS_LEAD}", platform="teams").advisor == TEAMS_LEAD
    with pytest.raises(caflog.FilterError) as err:
        caflog.parse_query("advisor:Jayden", platform="teams")
    assert err.value.problems == [
        f"advisor: must be an Entra object id such as {id_example('teams')[1]}; the Filter… "
        "button has a people picker"]
    assert "Jayden" not in json.dumps(err.value.problems)


def test_import_help_shows_the_policy_example() -> None:
    what, example = id_example("slack")
    shown = columns_help(slack_directory())
    assert f"{what} ({example}) or their e-mail address" in shown
    assert "looked up in Slack's directory (needs SLACK_BOT_TOKEN" in shown
    what, example = id_example("teams")
    assert f"{what} ({example}) or their e-mail address" in columns_help(Directory("teams"))


# A directory of another platform than Slack, in its own (made-up) words.
TEAMS_DIRECTORY = Directory("teams", members="the organisation's directory",
                            needs="Microsoft Graph to look it up")


def test_an_import_takes_the_directorys_platform_and_words(engine: Engine) -> None:
    """The importer knows no platform: the ids, and the words for an address, are those
    of the directory the caller hands it."""
    policy = teams_policy()
    header = "ehm_reference,lead_professional,coordinator,completed_on,consent\n"
    wrong = import_text(engine, policy, header + (
        f"EHM-4101,{LEAD},{TEAMS_COORD},2026-10-01,yes\n"
        f"EHM-4102,{TEAMS_LEAD},cora.coord@council.example,2026-10-01,yes\n"),
        clock=clock, directory=TEAMS_DIRECTORY)
    assert wrong.errors == [
        f"line 2: the lead professional must be an Entra object id such as "
        f"{id_example('teams')[1]}",
        f"line 3: the co-ordinator must be an Entra object id such as "
        f"{id_example('teams')[1]}: an e-mail address needs Microsoft Graph to look it up"]
    nobody = dataclasses.replace(TEAMS_DIRECTORY, resolve=lambda emails: {})
    missing = import_text(engine, policy, header + (
        f"EHM-4102,{TEAMS_LEAD},gone.away@council.example,2026-10-01,yes\n"),
        clock=clock, directory=nobody)
    assert missing.errors == [
        "line 2: the co-ordinator (column coordinator): no one in the organisation's "
        f"directory has that e-mail address; check it, or give their Entra object id "
        f"({id_example('teams')[1]})"]
    found = dataclasses.replace(TEAMS_DIRECTORY, resolve=lambda emails: {
        e: TEAMS_COORD for e in emails})
    ok = import_text(engine, policy, header + (
        f"EHM-4103,{TEAMS_LEAD},Cora.Coord@Council.Example,2026-10-01,yes\n"),
        clock=clock, directory=found)
    assert ok.imported == ["EHM-4103"], ok.errors
    with session_scope(engine) as s:
        ep = s.exec(select(CafEpisode)).scalars().one()  # type: ignore[call-overload]
    assert (ep.platform, ep.lead_user_id, ep.coordinator_user_id) == (
        "teams", TEAMS_LEAD, TEAMS_COORD)
