"""``/caf EHM-20417``, ``/caf list``, ``/caf list @lead`` and ``/caf mine``, end to end.

The real Bolt app over signed HTTP, the fake Web API and an injected clock in
Europe/London: each answer is private (ephemeral), in the words a person reads;
open CAFs come overdue first, then by the next meeting's due date; a name typed
where a reference goes is refused without being repeated.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from bot.flows.caf.models import CafResult, NewEpisode
from bot.services import Services
from tests.helpers import LONDON
from tests.slackenv import ADVISOR, OUTSIDER, Clock, SlackEnv, slack_env
from tests.test_caf import agreed
from tests.test_caf_slack import COORD, LEAD, TUESDAY
from tests.test_teams_inbound import ADVISOR as ADVISOR_TEAMS
from tests.test_teams_inbound import MANAGER, TEACHER, teams_db, teams_env  # noqa: F401
from tests.test_teams_inbound import OUTSIDER as OUTSIDER_TEAMS

OTHER_LEAD = "U0OTHERLEAD"


async def ask(env: SlackEnv, user: str, text: str) -> str:
    """``/caf text`` as ``user``; the private answer's text and blocks, as read."""
    before = len(env.fake.ephemerals_for(user))
    d = await env.sender.slash_command(user, "/caf", text, channel_id=env.dm_id(user))
    assert d.status == 200
    await env.fake.wait_for("chat.postEphemeral", count=before + 1,
                            predicate=lambda c: c.args["user"] == user)
    said = env.fake.ephemerals_for(user)[-1]
    return said["text"] + "\n" + json.dumps(said.get("blocks") or [], ensure_ascii=False)


def agree_on(sv: Services, clock: Clock, registered: CafResult, day: dt.date) -> None:
    """A CAF manager agreed the plan on ``day`` (its first TAC due four weeks later)."""
    assert registered.ok and registered.episode is not None
    now = clock.now
    clock.now = dt.datetime.combine(day, dt.time(10, 0), tzinfo=LONDON)
    try:
        agreed(sv, registered.episode)
    finally:
        clock.now = now


def seed(env: SlackEnv) -> None:
    """Four CAFs: one overdue, two due later (two leads), one closed."""
    caf = env.bot.sv.caf
    for ref, lead, completed in (("EHM-101", LEAD, dt.date(2026, 10, 1)),   # due 29 Oct
                                 ("EHM-102", LEAD, dt.date(2026, 11, 20)),  # due 18 Dec
                                 ("EHM-103", OTHER_LEAD, dt.date(2026, 11, 10)),  # due 8 Dec
                                 ("EHM-104", LEAD, dt.date(2026, 11, 2))):
        registered = caf.register(NewEpisode(ref, lead, COORD, completed, True), ADVISOR)
        agree_on(env.bot.sv, env.clock, registered, completed)
    closing = caf.find("EHM-104")
    assert closing is not None
    assert caf.close(closing.id or 0, COORD, "plan_complete").ok


async def test_lookup_and_lists_in_words(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        seed(env)
        # Everything open, overdue first, then by the next meeting's due date.
        listed = await ask(env, ADVISOR, "list")
        assert "*Open CAFs*: 3, 1 overdue, overdue first" in listed
        assert (listed.index("EHM-101") < listed.index("EHM-103") < listed.index("EHM-102"))
        assert ("*EHM-101* · :alarm_clock: *overdue*: due by Thu 29 Oct 2026 (26 days ago) "
                f"· <@{LEAD}>") in listed
        assert f"*EHM-103* · next meeting due by Tue 8 Dec 2026 · <@{OTHER_LEAD}>" in listed
        assert "EHM-104" not in listed  # closed

        # One lead professional's, picked by a mention.
        theirs = await ask(env, ADVISOR, f"list <@{OTHER_LEAD}|olu.lead>")
        assert f"*Open CAFs led by <@{OTHER_LEAD}>*: 1, overdue first" in theirs
        assert "EHM-103" in theirs and "EHM-101" not in theirs

        # One by its reference: its state, the lead professional, the next TAC due.
        one = await ask(env, ADVISOR, "ehm-101")
        assert "*CAF EHM-101*" in one
        assert ("*Overdue*: the first family planning meeting was due by *Thu 29 Oct 2026* "
                "(26 days ago) and is not recorded yet.") in one
        assert f"Lead professional: <@{LEAD}> · Co-ordinator: <@{COORD}>" in one
        later = await ask(env, ADVISOR, "EHM-102")
        assert ("The first family planning meeting is due by *Fri 18 Dec 2026*") in later
        closed = await ask(env, ADVISOR, "EHM-104")
        assert "*Closed* on Tue 24 Nov 2026: Plan complete: the family plan's actions are met." in (
            closed)
        assert "There is no CAF with the EHM reference EHM-999." in await ask(
            env, ADVISOR, "EHM-999")

        # A lead professional's own CAFs.
        mine = await ask(env, LEAD, "mine")
        assert "*Your open CAFs*: 2, 1 overdue, overdue first" in mine
        assert mine.index("EHM-101") < mine.index("EHM-102") and "EHM-103" not in mine
        assert "You are not the lead professional or co-ordinator of any open CAF." in (
            await ask(env, OUTSIDER, "mine"))

        # A name where a reference goes: plain words, never the name back.
        named = await ask(env, ADVISOR, "Jayden Smith")
        assert "That is not an EHM reference such as EHM-20417." in named
        assert "`/caf list`" in named and "Jayden" not in named
        assert "Jayden" not in json.dumps([c.args for c in env.fake.calls])
        odd = await ask(env, ADVISOR, "list Jayden")
        assert "Name the lead professional with an @mention" in odd and "Jayden" not in odd

        # Someone else's CAF, or any list, is not for everyone: same words either way.
        assert "Only the CAF team, or a CAF's lead professional or co-ordinator, can look it " \
               "up." in await ask(env, LEAD, "EHM-103")
        assert "Only the CAF team, or a CAF's lead professional or co-ordinator" in await ask(
            env, LEAD, "EHM-999")
        assert "Only the CAF team (duty advisors and managers) can list CAFs." in await ask(
            env, OUTSIDER, "list")


async def test_teams_caf_lookup_in_the_personal_chat(teams_db: tuple[Any, str]  # noqa: F811
                                                      ) -> None:
    engine, url = teams_db
    async with teams_env(engine, url) as env:
        caf = env.sv.caf
        for ref, completed in (("EHM-201", dt.date(2026, 10, 1)),
                               ("EHM-202", dt.date(2026, 11, 20))):
            new = NewEpisode(ref, TEACHER, MANAGER, completed, True, platform="teams")
            agree_on(env.sv, env.clock, caf.register(new, ADVISOR_TEAMS), completed)
        await env.say(ADVISOR_TEAMS, "caf list")
        listed = json.dumps(env.said(ADVISOR_TEAMS)[-1], ensure_ascii=False)
        assert "Open CAFs: 2, 1 overdue, overdue first" in listed
        assert listed.index("EHM-201") < listed.index("EHM-202")
        await env.say(TEACHER, "caf EHM-201")
        one = json.dumps(env.said(TEACHER)[-1], ensure_ascii=False)
        assert ("**Overdue**: the first family planning meeting was due by **Thu 29 Oct 2026** "
                "(26 days ago) and is not recorded yet.") in one
        await env.say(TEACHER, "caf Kyra Smith")
        named = env.said(TEACHER)[-1]["text"]
        assert named.startswith("That is not an EHM reference such as EHM-20417.")
        assert "Kyra" not in named
        # The consultation log's advisor filter: a mention is read as the Entra id it names.
        dee = {"type": "mention", "text": "<at>Dee Advisor</at>",
               "mentioned": {"id": "29:dee", "name": "Dee Advisor",
                             "aadObjectId": ADVISOR_TEAMS}}
        await env.say(ADVISOR_TEAMS, "caflog advisor:<at>Dee Advisor</at>", entities=[dee])
        assert f"advisor: {ADVISOR_TEAMS}: 0 of 0" in json.dumps(env.said(ADVISOR_TEAMS)[-1])
        await env.say(OUTSIDER_TEAMS, "caf EHM-201")
        assert env.said(OUTSIDER_TEAMS)[-1]["text"] == (
            "Only the CAF team, or a CAF's lead professional or co-ordinator, can look it up.")
