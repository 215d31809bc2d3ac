"""The sandbox's Teams view without a browser: the page and Microsoft's renderer are
served to the page alone, and what the page sends reaches the real bot as Teams sends it
(``bot.sandbox.teamsview``), through ``POST /api/messages``, with the bot's answers read
back from the fake Bot Connector. Typed identifiers are kept nowhere.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.sandbox import demo
from bot.sandbox.pageguard import TOKEN_HEADER
from tests.slackenv import assert_nowhere, refused_identifiers

ADA = demo.teams_id(demo.TEACHER)
OLI = demo.teams_id(demo.OUTSIDER)
REFUSED = "Kacey Thornbury lives at 14 Larch Close, CB4 1XY, phone 07700 900461"


@pytest.fixture
async def sb(tmp_path: Path) -> AsyncIterator[Any]:
    from bot.sandbox.run import sandbox

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'frontdoor-sandbox.db'}", port=0)
    async with sandbox(settings, port=0, platform="teams") as running:
        yield running


def root(sb: Any) -> str:
    return sb.url.rsplit("/teams", 1)[0]


async def token(http: aiohttp.ClientSession, sb: Any) -> str:
    async with http.get(sb.url) as r:
        page = await r.text()
    found = re.search(r'<meta name="frontdoor-token" content="([^"{}]+)">', page)
    assert found, "the Teams page carries no token"
    return found.group(1)


async def call(http: aiohttp.ClientSession, sb: Any, path: str, body: Any = None,
               *, with_token: bool = True) -> tuple[int, Any]:
    url = f"{root(sb)}{path}"
    if body is None:
        async with http.get(url) as r:
            return r.status, await r.json()
    headers = {TOKEN_HEADER: await token(http, sb)} if with_token else {}
    async with http.post(url, json=body, headers=headers) as r:
        return r.status, await r.json()


async def test_the_teams_page_and_microsofts_renderer_are_served(sb: Any) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(sb.url) as r:
            assert r.status == 200
            page = await r.text()
        assert '<script src="/vendor/adaptivecards.min.js"' in page
        assert '<a href="/"' in page  # the switch to the Slack view
        for name in ("adaptivecards.min.js", "adaptivecards.LICENSE"):
            async with http.get(f"{root(sb)}/vendor/{name}") as r:
                assert r.status == 200, name
        async with http.get(f"{root(sb)}/") as r:
            assert '<a href="/teams"' in await r.text()  # and back
        # A write without this start's token changes nothing.
        status, answer = await call(http, sb, "/ui/teams/send",
                                    {"user": ADA, "conversation": "personal", "text": "hi"},
                                    with_token=False)
        assert (status, answer["error"]) == (403, "token_missing")
        status, ws = await call(http, sb, "/ui/teams/workspace")
        assert status == 200
        assert {p["name"] for p in ws["people"]} >= {"Ada Teacher", "Sam Manager"}
        assert "mash-managers" in {c["name"] for c in ws["channels"]}


async def test_a_typed_message_is_answered_in_the_persons_chat(sb: Any) -> None:
    """The page's message is an activity to the bot; the bot's answer in the turn goes to
    the fake Bot Connector, and the chat shows both in order."""
    async with aiohttp.ClientSession() as http:
        status, sent = await call(http, sb, "/ui/teams/send",
                                  {"user": ADA, "conversation": "personal", "text": "caf"})
        assert status == 200 and sent["ok"], sent
        _, chat = await call(http, sb, f"/ui/teams/messages?user={ADA}&conversation=personal")
    said = [(m["from"], m["text"]) for m in chat["messages"]]
    assert said[0] == ("Ada Teacher", "caf")
    assert said[1][0] == "Front Door" and "register a CAF" in said[1][1]


async def test_a_card_click_goes_to_the_bot_as_an_invoke_and_its_answer_comes_back(
        sb: Any) -> None:
    """Action.Execute on a triage card by someone who is not a manager: Teams' invoke,
    refused by the bot before anything is looked up, the words shown to them alone."""
    mash = next(cid for cid, name in sb.teams.channels if name == "mash-managers")
    async with aiohttp.ClientSession() as http:
        status, answer = await call(http, sb, "/ui/teams/action", {
            "user": OLI, "conversation": mash, "activity_id": "1764000000001",
            "type": "Action.Execute", "verb": "card.approve", "data": {"card": 1}})
    assert status == 200 and answer["kind"] == "message", answer
    assert answer["message"].startswith("Only the front door's managers can approve")


async def test_typed_identifiers_are_kept_nowhere(tmp_path: Path) -> None:
    """Typed in the Teams view, refused or not: not in the workspace file nor the
    database (what people type stays in the page's memory)."""
    from bot.sandbox.run import sandbox

    db = tmp_path / "frontdoor-sandbox.db"
    settings = Settings(database_url=f"sqlite:///{db}", port=0)
    async with sandbox(settings, port=0, platform="teams") as running, \
            aiohttp.ClientSession() as http:
        for text in ("consult", REFUSED):
            status, sent = await call(http, running, "/ui/teams/send",
                                      {"user": ADA, "conversation": "personal", "text": text})
            assert status == 200 and sent["ok"], sent
        assert running.state_file == Path(f"{db}.sandbox.json")
    found = refused_identifiers([REFUSED])
    assert found
    # The database, its write-ahead log and the workspace file beside them (saved on exit).
    assert await asyncio.to_thread(running.state_file.exists)
    await asyncio.to_thread(assert_nowhere, found, settings.database_url, [])


async def test_a_restart_keeps_the_bots_teams_messages_and_goes_on_after_them(
        tmp_path: Path) -> None:
    """The workspace file keeps what the bot said in Teams (never what people typed), and
    the restarted fake's new activities do not take the ids of the kept ones."""
    from bot.sandbox.run import sandbox

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'frontdoor-sandbox.db'}", port=0)
    chat = f"/ui/teams/messages?user={ADA}&conversation=personal"
    said: list[list[tuple[str, str]]] = []
    for _ in range(2):
        async with sandbox(settings, port=0, platform="teams") as running, \
                aiohttp.ClientSession() as http:
            status, sent = await call(http, running, "/ui/teams/send",
                                      {"user": ADA, "conversation": "personal", "text": "caf"})
            assert status == 200 and sent["ok"], sent
            _, read = await call(http, running, chat)
            said.append([(m["from"], m["id"]) for m in read["messages"]])
    first, second = said
    bot_first = [i for who, i in first if who == "Front Door"]
    bot_second = [i for who, i in second if who == "Front Door"]
    assert len(bot_first) == 1 and len(bot_second) == 2, said
    assert bot_second[0] == bot_first[0] and bot_second[1] != bot_first[0]
    # After the restart the person's own "caf" of the first run is gone, the bot's kept.
    assert [who for who, _ in second] == ["Front Door", "Ada Teacher", "Front Door"]
