"""The sandbox page's API (``bot/sandbox/ui.py``), without a browser.

Most tests put a small stub Bolt app behind the page (``tests/sandbox_stub.py``)
so the page's side of the Slack protocol is tested on its own; the last ones
start ``frontdoor sandbox`` itself with the real bot.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.policy import load_policy
from bot.sandbox import demo
from bot.sandbox.pageguard import TOKEN_HEADER
from bot.sandbox.ui import COMMANDS, STATIC, WorkspaceClock
from bot.sandbox.webapi import FakeSlack
from tests.sandbox_stub import CHANNEL, StubSandbox, stub_sandbox

ROOT = Path(__file__).resolve().parents[1]
TEACHER, HEALTH, ADVISOR = demo.TEACHER, demo.HEALTH, demo.ADVISOR


@pytest.fixture
async def sb() -> AsyncIterator[StubSandbox]:
    async with stub_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str,
              headers: dict[str, str] | None = None) -> dict[str, Any]:
    async with http.get(url, headers=headers) as r:
        return {"status": r.status, **(await r.json())}


async def page_token(http: aiohttp.ClientSession, url: str) -> str:
    """This start's token, read off the page as the browser gets it."""
    async with http.get(url.split("/ui/")[0].rstrip("/") + "/") as r:
        page = await r.text()
    found = re.search(r'<meta name="frontdoor-token" content="([^"{}]+)">', page)
    assert found, "the page carries no token"
    return found.group(1)


async def post(http: aiohttp.ClientSession, url: str, body: Any,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    """POST as the page does: with the token it read off the page."""
    sent = {TOKEN_HEADER: await page_token(http, url), **(headers or {})}
    async with http.post(url, json=body, headers=sent) as r:
        return {"status": r.status, **(await r.json())}


def dm(sb: StubSandbox, user: str) -> str:
    return sb.fake.dm_channel(user)


def question(sb: StubSandbox, user: str) -> dict[str, Any]:
    return next(m for m in sb.fake.history(dm(sb, user)) if m.get("blocks"))


# ------------------------------------------------------------------ the page itself


async def test_page_and_its_files_are_served(sb: StubSandbox, http: aiohttp.ClientSession) -> None:
    async with http.get(sb.url) as r:
        assert r.status == 200
        page = await r.text()
    for name in ("style.css", "blockkit.js", "app.js"):
        assert f"/static/{name}" in page
        async with http.get(f"{sb.url}static/{name}") as r:
            assert r.status == 200, name
    # Where the clock is shown, the page says whose clock it is.
    start = page.index('<section id="clock"')
    clock = page[start:page.index("</section>", start)]
    assert "own clock, not real time" in " ".join(clock.split())


def test_the_page_works_offline_and_never_uses_inner_html() -> None:
    """No CDN, no remote fonts or scripts, and user text is never parsed as HTML."""
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", text), path.name
        assert "@import" not in text and "url(http" not in text, path.name
        if path.suffix == ".js":
            assert "innerHTML" not in text and "outerHTML" not in text, path.name
            assert "insertAdjacentHTML" not in text and "document.write" not in text, path.name


def test_commands_are_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))
    assert {c["command"] for c in manifest["features"]["slash_commands"]} == set(COMMANDS)


async def test_workspace_lists_people_channels_and_the_clock(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    ws = await get(http, f"{sb.url}ui/workspace")
    assert ws["ready"] is True
    titles = {p["id"]: p["title"] for p in ws["people"]}
    for who in (demo.TEACHER, demo.HEALTH, demo.MANAGER, demo.ADVISOR, demo.LEAD, demo.COORD):
        assert who in titles
    assert {c["id"] for c in ws["channels"]} == {
        "C0CONSULT", "C0MASHMGR", "C0EARLYHELP", "C0ESCALATE", "C0EDTDUTY"}
    teacher = next(p for p in ws["people"] if p["id"] == TEACHER)
    assert teacher["dm"] == sb.fake.dm_channel(TEACHER)
    assert ws["usergroups"] == {"S0MASHMGRS": "mash-managers"}
    assert ws["clock"]["now"] == "2026-03-09T10:00:00+00:00"
    assert ws["commands"] == list(COMMANDS)


# ------------------------------------------------------------------ only the page itself


def port_of(sb: StubSandbox) -> int:
    return int(sb.fake.root_url.rsplit(":", 1)[1])


def untouched(sb: StubSandbox) -> None:
    """Nothing reached the app, the workspace or the clock."""
    assert sb.record.seen == []
    assert sb.fake.history(CHANNEL) == [] and sb.fake.history(dm(sb, TEACHER)) == []
    assert sb.fake.ephemerals_for(TEACHER) == []
    assert sb.swept == [] and sb.clock.offset == timedelta(0)


def writes(sb: StubSandbox) -> list[tuple[str, dict[str, Any]]]:
    """One request of each kind that changes something (or asks the app to)."""
    return [
        ("ui/send", {"user": TEACHER, "channel": dm(sb, TEACHER), "text": "/consult"}),
        ("ui/send", {"user": ADVISOR, "channel": CHANNEL, "text": "posted"}),
        ("ui/clock", {"minutes": 60}),
        ("ui/home/open", {"user": TEACHER}),
        ("ui/action", {"user": TEACHER, "channel": CHANNEL, "ts": "1.000001",
                       "action_id": "stub.cancel"}),
    ]


async def refused(http: aiohttp.ClientSession, method: str, url: str,
                  headers: dict[str, str], body: Any = None) -> str:
    """The error of a request that must be refused with a 403."""
    async with http.request(method, url, json=body, headers=headers) as r:
        assert r.status == 403, (method, url, headers, r.status)
        answer = await r.json()
    assert answer["ok"] is False
    return str(answer["error"])


async def test_a_foreign_host_is_refused_everywhere(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    """DNS rebinding: another site's name pointed at 127.0.0.1 reads and writes nothing."""
    port = port_of(sb)
    token = await page_token(http, sb.url)
    reads = ["", "static/app.js", "ui/workspace", f"ui/messages?channel={CHANNEL}&user={TEACHER}",
             f"ui/events?user={TEACHER}", "api/auth.test"]
    for host in (f"rebound.example:{port}", f"127.0.0.1:{port % 65535 + 1}", "127.0.0.1",
                 f"localhost.rebound.example:{port}"):
        headers = {"Host": host, TOKEN_HEADER: token}
        for path in reads:
            assert await refused(http, "GET", sb.url + path, headers) == "host_not_allowed"
        for path, body in writes(sb):
            assert await refused(http, "POST", sb.url + path, headers, body) == "host_not_allowed"
    untouched(sb)


async def test_a_cross_site_request_is_refused(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    """A page on another site (or another port of this machine) can neither drive nor read."""
    port = port_of(sb)
    token = await page_token(http, sb.url)
    foreign = [
        {"Origin": "https://attacker.example"},
        {"Origin": "null"},
        {"Origin": f"http://127.0.0.1:{port % 65535 + 1}"},
        {"Origin": f"http://localhost:{port}"},  # not the Host this page was loaded from
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ]
    for extra in foreign:
        headers = {TOKEN_HEADER: token, **extra}
        for path in ("ui/workspace", f"ui/messages?channel={CHANNEL}&user={TEACHER}",
                     f"ui/thread?channel={CHANNEL}&ts=1.000001&user={TEACHER}",
                     f"ui/home?user={TEACHER}", f"ui/events?user={TEACHER}"):
            assert await refused(http, "GET", sb.url + path, headers) == "cross_origin_request"
        for path, body in writes(sb):
            assert await refused(http, "POST", sb.url + path, headers,
                                 body) == "cross_origin_request"
    untouched(sb)


async def test_writes_need_this_starts_token(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    origin = {"Origin": sb.url.rstrip("/")}
    for headers, error in (({}, "token_missing"), ({TOKEN_HEADER: ""}, "token_missing"),
                           ({TOKEN_HEADER: "not-the-token"}, "token_invalid"),
                           ({TOKEN_HEADER: sb.ui.guard.token[:-1]}, "token_invalid")):
        for path, body in writes(sb):
            assert await refused(http, "POST", sb.url + path, {**origin, **headers},
                                 body) == error
    untouched(sb)
    # The token the page carries works (and a same-origin Origin is fine).
    sent = await post(http, f"{sb.url}ui/send",
                      {"user": ADVISOR, "channel": CHANNEL, "text": "posted"}, origin)
    assert sent["ok"] is True
    assert [m["text"] for m in sb.fake.history(CHANNEL)] == ["posted"]


async def test_the_page_on_each_loopback_name_works(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    port = port_of(sb)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
        same = {"Host": host, "Origin": f"http://{host.lower()}", "Sec-Fetch-Site": "same-origin"}
        async with http.get(sb.url, headers=same) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
        ws = await get(http, f"{sb.url}ui/workspace", same)
        assert ws["ok"] is True, host
        sent = await post(http, f"{sb.url}ui/send",
                          {"user": ADVISOR, "channel": CHANNEL, "text": host}, same)
        assert sent["ok"] is True, (host, sent)
    assert len(sb.fake.history(CHANNEL)) == 4


# ------------------------------------------------------------------ typing and commands


async def test_slash_command_reaches_the_app_and_its_message_shows(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    sent = await post(http, f"{sb.url}ui/send",
                      {"user": TEACHER, "channel": dm(sb, TEACHER), "text": "/consult please"})
    assert sent["ok"] is True
    assert ("command", "please") in sb.record.seen
    shown = await get(http, f"{sb.url}ui/messages?channel={dm(sb, TEACHER)}&user={TEACHER}")
    assert [m["text"] for m in shown["messages"]] == ["A question"]
    assert shown["messages"][0]["blocks"][0]["type"] == "header"


async def test_unknown_command_gets_slackbots_answer(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    sent = await post(http, f"{sb.url}ui/send",
                      {"user": TEACHER, "channel": dm(sb, TEACHER), "text": "/nonsense"})
    assert sent == {"status": 200, "ok": False, "error": "invalid_command"}
    notes = sb.fake.ephemerals_for(TEACHER)
    assert notes[-1]["user"] == "USLACKBOT"
    assert "/nonsense is not a valid command" in notes[-1]["text"]


async def test_an_acked_text_is_ephemeral_for_that_person_only(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    await post(http, f"{sb.url}ui/send", {"user": TEACHER, "channel": CHANNEL, "text": "/refer"})
    mine = await get(http, f"{sb.url}ui/messages?channel={CHANNEL}&user={TEACHER}")
    theirs = await get(http, f"{sb.url}ui/messages?channel={CHANNEL}&user={HEALTH}")
    assert [(m["text"], m.get("ephemeral")) for m in mine["messages"]] == [
        ("I've started this in our direct messages.", True)]
    assert theirs["messages"] == []


async def test_typing_in_the_dm_is_message_im(sb: StubSandbox, http: aiohttp.ClientSession) -> None:
    sent = await post(http, f"{sb.url}ui/send",
                      {"user": TEACHER, "channel": dm(sb, TEACHER), "text": "A worry"})
    assert sent["ok"] is True
    assert ("dm", "A worry") in sb.record.seen
    history = sb.fake.history(dm(sb, TEACHER))
    assert [(m.get("user"), m["text"]) for m in history] == [
        (TEACHER, "A worry"), (sb.fake.bot_user_id, "Thanks, noted.")]


async def test_typing_in_a_channel_only_posts(sb: StubSandbox, http: aiohttp.ClientSession) -> None:
    sent = await post(http, f"{sb.url}ui/send",
                      {"user": ADVISOR, "channel": CHANNEL, "text": "On it"})
    assert sent["ok"] is True
    assert sb.record.seen == []
    assert [m["text"] for m in sb.fake.history(CHANNEL)] == ["On it"]


async def test_bad_requests_are_refused(sb: StubSandbox, http: aiohttp.ClientSession) -> None:
    nobody = await post(http, f"{sb.url}ui/send", {"user": "U0NOBODY", "channel": CHANNEL,
                                                   "text": "hi"})
    assert nobody["status"] == 400
    bot = await post(http, f"{sb.url}ui/send", {"user": sb.fake.bot_user_id, "channel": CHANNEL,
                                                "text": "hi"})
    assert bot["status"] == 400
    nowhere = await post(http, f"{sb.url}ui/send", {"user": TEACHER, "channel": "C0NONE",
                                                    "text": "hi"})
    assert nowhere["status"] == 400
    async with http.post(f"{sb.url}ui/send", data="not json",
                         headers={TOKEN_HEADER: sb.ui.guard.token}) as r:
        assert r.status == 400
    empty = await post(http, f"{sb.url}ui/send", {"user": TEACHER, "channel": CHANNEL,
                                                  "text": "  "})
    assert empty["status"] == 400


# ------------------------------------------------------------------ clicks and selections


async def test_a_button_click_is_a_block_action_on_that_message(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    await post(http, f"{sb.url}ui/send", {"user": TEACHER, "channel": dm(sb, TEACHER),
                                          "text": "/consult"})
    msg = question(sb, TEACHER)
    clicked = await post(http, f"{sb.url}ui/action", {
        "user": TEACHER, "channel": dm(sb, TEACHER), "ts": msg["ts"],
        "action_id": "stub.answer:1", "block_id": "q:1:danger", "value": "no"})
    assert clicked["ok"] is True
    assert ("answer", "no") in sb.record.seen
    updated = sb.fake.message(dm(sb, TEACHER), msg["ts"])
    assert updated is not None and updated["text"] == "You answered *no*"
    thread = await get(http, f"{sb.url}ui/thread?channel={dm(sb, TEACHER)}&ts={msg['ts']}"
                       f"&user={TEACHER}")
    assert [m["text"] for m in thread["messages"]] == ["You answered *no*",
                                                       "A reply in the thread"]
    # The channel view shows the parent with its reply count, not the reply.
    shown = await get(http, f"{sb.url}ui/messages?channel={dm(sb, TEACHER)}&user={TEACHER}")
    assert [(m["text"], m.get("reply_count")) for m in shown["messages"]] == [
        ("You answered *no*", 1)]


async def test_selects_dates_overflow_and_message_state(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    await post(http, f"{sb.url}ui/send", {"user": TEACHER, "channel": dm(sb, TEACHER),
                                          "text": "/consult"})
    msg = question(sb, TEACHER)
    base = {"user": TEACHER, "channel": dm(sb, TEACHER), "ts": msg["ts"]}
    await post(http, f"{sb.url}ui/action", {**base, "action_id": "stub.select",
                                            "block_id": "choices", "selected_option": "11-15"})
    await post(http, f"{sb.url}ui/action", {**base, "action_id": "stub.overflow",
                                            "block_id": "intro", "selected_option": "120"})
    await post(http, f"{sb.url}ui/action", {**base, "action_id": "stub.date",
                                            "block_id": "choices",
                                            "selected_date": "2026-03-02"})
    await post(http, f"{sb.url}ui/action", {
        **base, "action_id": "stub.multi_done", "block_id": "choices", "value": "next",
        "state": {"choices": {"stub.multi": ["neglect", "emotional"]}}})
    assert sb.record.seen[1:] == [("stub.select", "11-15"), ("stub.overflow", "120"),
                              ("date", "2026-03-02"), ("multi", ["neglect", "emotional"])]


async def test_an_unhandled_action_is_reported(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    await post(http, f"{sb.url}ui/send", {"user": TEACHER, "channel": dm(sb, TEACHER),
                                          "text": "/consult"})
    msg = question(sb, TEACHER)
    clicked = await post(http, f"{sb.url}ui/action", {
        "user": TEACHER, "channel": dm(sb, TEACHER), "ts": msg["ts"],
        "action_id": "nobody.listens", "block_id": "x", "value": "1"})
    assert clicked["ok"] is False and "404" in clicked["error"]
    gone = await post(http, f"{sb.url}ui/action", {
        "user": TEACHER, "channel": dm(sb, TEACHER), "ts": "1.000001",
        "action_id": "stub.cancel"})
    assert gone["status"] == 404


# ------------------------------------------------------------------ modals


async def test_modal_opens_for_the_clicker_refuses_then_submits(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    await post(http, f"{sb.url}ui/send", {"user": TEACHER, "channel": dm(sb, TEACHER),
                                          "text": "/consult"})
    msg = question(sb, TEACHER)
    await post(http, f"{sb.url}ui/action", {
        "user": TEACHER, "channel": dm(sb, TEACHER), "ts": msg["ts"],
        "action_id": "stub.open_modal", "block_id": "choices", "value": "modal"})
    (view_id, view), = sb.fake.views.items()
    assert sb.fake.view_users[view_id] == TEACHER
    assert view["callback_id"] == "stub.modal"

    refused = await post(http, f"{sb.url}ui/submit", {
        "user": TEACHER, "view_id": view_id,
        "state": {"outcome": {"outcome": "early_help"}, "advice": {"advice": "Tyler is sad"}}})
    assert refused["action"] == "errors"
    assert refused["errors"] == {"advice": "That looks like a name."}
    assert sb.fake.history(CHANNEL) == []

    done = await post(http, f"{sb.url}ui/submit", {
        "user": TEACHER, "view_id": view_id,
        "state": {"outcome": {"outcome": "early_help"}, "advice": {"advice": "Offer early help"}}})
    assert done["action"] == "close"
    assert ("advice", ("early_help", "Offer early help")) in sb.record.seen
    assert [m["text"] for m in sb.fake.history(CHANNEL)] == ["Advice given: early_help"]

    closed = await post(http, f"{sb.url}ui/close", {"user": TEACHER, "view_id": view_id})
    assert closed["notified"] is False


async def test_response_action_update_and_push_keep_the_fakes_views(
    sb: StubSandbox,
) -> None:
    view = sb.fake.push_view(TEACHER, {"type": "modal", "title": {"type": "plain_text",
                                                                  "text": "One"}, "blocks": []},
                             root_view_id="V0ROOT")
    updated = sb.fake.set_view(view["id"], {"type": "modal", "title": {
        "type": "plain_text", "text": "Two"}, "blocks": []})
    assert updated["title"]["text"] == "Two"
    assert sb.fake.view_users[view["id"]] == TEACHER
    too_many = [{"type": "divider"}] * 101
    from bot.sandbox.webapi import SlackError

    with pytest.raises(SlackError, match="invalid_arguments"):
        sb.fake.set_view(view["id"], {"type": "modal", "title": {"type": "plain_text",
                                                                 "text": "X"},
                                      "blocks": too_many})


async def test_app_home(sb: StubSandbox, http: aiohttp.ClientSession) -> None:
    before = await get(http, f"{sb.url}ui/home?user={TEACHER}")
    assert before["view"] is None
    opened = await post(http, f"{sb.url}ui/home/open", {"user": TEACHER})
    assert opened["ok"] is True
    after = await get(http, f"{sb.url}ui/home?user={TEACHER}")
    assert after["view"]["type"] == "home"
    assert after["view"]["blocks"][0]["text"]["text"] == "Your front door"


# ------------------------------------------------------------------ the clock


async def test_clock_moves_forward_only_and_runs_the_sweep(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    moved = await post(http, f"{sb.url}ui/clock", {"minutes": 60 * 25})
    assert moved["now"] == "2026-03-10T11:00:00+00:00"
    assert moved["swept"] == {"reminders": {"sent": 1}, "posted": 1}
    assert sb.swept == [datetime(2026, 3, 10, 11, 0, tzinfo=UTC)]
    assert [m["text"] for m in sb.fake.history(CHANNEL)] == ["Swept as of 2026-03-10 11:00"]
    # New messages carry the workspace's time.
    assert float(sb.fake.history(CHANNEL)[0]["ts"]) == pytest.approx(
        datetime(2026, 3, 10, 11, 0, tzinfo=UTC).timestamp(), abs=1)

    back = await post(http, f"{sb.url}ui/clock", {"minutes": -5})
    assert back["status"] == 400
    to_past = await post(http, f"{sb.url}ui/clock", {"to": "2026-03-01T09:00"})
    assert to_past["status"] == 400
    # A datetime-local value is the workspace's local time (GMT in March, BST from the 29th).
    summer = await post(http, f"{sb.url}ui/clock", {"to": "2026-04-01T09:00"})
    assert summer["now"] == "2026-04-01T08:00:00+00:00"
    assert (await get(http, f"{sb.url}ui/clock"))["offset_seconds"] == pytest.approx(
        timedelta(days=22, hours=22).total_seconds())


def test_workspace_clock_limits() -> None:
    clock = WorkspaceClock(base=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(0))
    with pytest.raises(ValueError, match="year"):
        clock.advance(timedelta(days=400))
    with pytest.raises(ValueError, match="time zone"):
        clock.advance_to(datetime(2026, 2, 1))
    assert clock.advance(timedelta(hours=1)) == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert clock.timestamp() == datetime(2026, 1, 1, 1, tzinfo=UTC).timestamp()


# ------------------------------------------------------------------ live updates


async def read_events(response: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while len(events) < count:
            line = (await response.content.readline()).decode().strip()
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    return events


async def subscribed(response: aiohttp.ClientResponse) -> None:
    """Wait until the stream is subscribed: the server writes ``retry:`` just after."""
    async with asyncio.timeout(5):
        while True:
            line = await response.content.readline()
            assert line, "the event stream ended before it was subscribed"
            if line.startswith(b"retry:"):
                return


async def test_events_are_filtered_for_the_person(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{sb.url}ui/events?user={TEACHER}") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        await subscribed(stream)
        # Someone else's ephemeral and modal are not the teacher's to see.
        sb.fake.notice(CHANNEL, HEALTH, "for the health visitor")
        sb.fake.push_view(HEALTH, {"type": "modal", "title": {"type": "plain_text",
                                                               "text": "Theirs"},
                                   "blocks": []}, root_view_id="V0ROOT")
        sb.fake.notice(CHANNEL, TEACHER, "for the teacher")
        sb.fake.add_message(CHANNEL, ADVISOR, "for everyone")
        await post(http, f"{sb.url}ui/send", {"user": TEACHER, "channel": dm(sb, TEACHER),
                                              "text": "missing piece"})
        events = await read_events(stream, 5)
    kinds = [(e["type"], e.get("channel")) for e in events]
    assert kinds[:2] == [("ephemeral", CHANNEL), ("message", CHANNEL)]
    assert ("api_error", None) in kinds
    error = next(e for e in events if e["type"] == "api_error")
    assert error == {"type": "api_error", "method": "chat.scheduleMessage",
                     "error": "unknown_method"}


async def test_view_events_go_to_the_person_who_clicked(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    await post(http, f"{sb.url}ui/send", {"user": TEACHER, "channel": dm(sb, TEACHER),
                                          "text": "/consult"})
    msg = question(sb, TEACHER)
    async with http.get(f"{sb.url}ui/events?user={TEACHER}") as stream:
        await subscribed(stream)
        await post(http, f"{sb.url}ui/action", {
            "user": TEACHER, "channel": dm(sb, TEACHER), "ts": msg["ts"],
            "action_id": "stub.open_modal", "block_id": "choices", "value": "modal"})
        events = await read_events(stream, 1)
    assert events[0]["type"] == "view_opened"
    assert events[0]["view"]["callback_id"] == "stub.modal"


async def test_clock_event_reaches_every_page(
    sb: StubSandbox, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{sb.url}ui/events?user={HEALTH}") as stream:
        await subscribed(stream)
        await post(http, f"{sb.url}ui/clock", {"minutes": 60})
        events = await read_events(stream, 2)
    assert [e["type"] for e in events] == ["message", "clock"]
    assert events[1]["now"] == "2026-03-09T11:00:00+00:00"


# ------------------------------------------------------------------ demo people and saving


def test_demo_seed_has_every_role_the_policy_names() -> None:
    for name in ("cambridgeshire", "camden"):
        policy = load_policy(name)
        fake = FakeSlack()
        demo.seed(fake, policy)
        for uid in (*policy.roles.managers.users, *policy.roles.advisors.users):
            assert uid in fake.users
        for group in policy.roles.managers.usergroups:
            assert fake.usergroups[group].users
        for cid, _ in demo.policy_channels(policy):
            assert cid in fake.channels
        people = demo.people_for(fake)
        assert [p.id for p in people][:6] == [demo.TEACHER, demo.HEALTH, demo.MANAGER,
                                              demo.ADVISOR, demo.LEAD, demo.COORD]


async def test_workspace_snapshot_round_trip() -> None:
    policy = load_policy("cambridgeshire")
    async with FakeSlack() as fake:
        demo.seed(fake, policy)
        client = AsyncWebClient(token=next(iter(fake.tokens)), base_url=fake.base_url)
        await client.chat_postMessage(channel=TEACHER, text="hello from the bot")
        fake.add_message(fake.dm_channel(TEACHER), TEACHER, "typed by a person")
        card = (await client.chat_postMessage(channel=CHANNEL, text="a card"))["message"]
        await client.chat_postMessage(channel=CHANNEL, text="in the thread", thread_ts=card["ts"])
        fake.add_message(CHANNEL, ADVISOR, "a person's reply", thread_ts=card["ts"])
        fake.home_views[TEACHER] = {"id": "V0HOME", "type": "home", "blocks": []}
        data = json.loads(json.dumps(fake.snapshot()))
    again = FakeSlack()
    demo.seed(again, policy)
    again.restore(data)
    # What people typed is never saved (it may be a refused answer); the bot's messages are.
    assert [m["text"] for m in again.history(again.dm_channel(TEACHER))] == ["hello from the bot"]
    assert [m["text"] for m in again.thread(CHANNEL, card["ts"])] == ["a card", "in the thread"]
    assert again.message(CHANNEL, card["ts"])["reply_count"] == 1
    assert again.view("V0HOME") is not None
    assert again.add_message(CHANNEL, ADVISOR, "later")["ts"] > card["ts"]
    with pytest.raises(ValueError):
        again.restore({"version": 99})


def test_sandbox_never_uses_a_postgres_database_nor_serves(tmp_path: Path) -> None:
    from bot.config import SERVE_DATABASE_URL
    from bot.sandbox.run import SANDBOX_DB, sandbox_database, state_path

    pg = Settings(database_url="postgresql://u:p@db/frontdoor")
    assert sandbox_database(pg) == SANDBOX_DB
    # No DATABASE_URL, or serve's own file by another spelling: the sandbox's own file.
    assert SANDBOX_DB != SERVE_DATABASE_URL
    assert sandbox_database(Settings()) == SANDBOX_DB
    assert sandbox_database(Settings(database_url="sqlite:///./frontdoor.db")) == SANDBOX_DB
    lite = Settings(database_url=f"sqlite:///{tmp_path / 'fd.db'}")
    assert sandbox_database(lite) == lite.database_url
    assert state_path(lite.database_url) == Path(f"{tmp_path / 'fd.db'}.sandbox.json")
    assert state_path("sqlite://") is None


# ------------------------------------------------------------------ frontdoor sandbox itself


async def wait_for_message(fake: FakeSlack, channel: str, predicate: Any) -> dict[str, Any]:
    """The first message of ``channel`` matching ``predicate``, waiting on the workspace's
    events for it (at most 10 s, then an error saying what the channel holds)."""
    events = fake.subscribe()
    try:
        async with asyncio.timeout(10):
            while True:
                for msg in fake.history(channel):
                    if predicate(msg):
                        return msg
                await events.get()
    except TimeoutError:
        texts = [m.get("text") for m in fake.history(channel)]
        raise AssertionError(f"no such message in {channel} within 10 s: {texts}") from None
    finally:
        fake.unsubscribe(events)


async def test_sandbox_runs_the_real_bot_and_keeps_the_workspace(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """``frontdoor sandbox``: one server for page and Web API, the bot behind it, state kept."""
    from bot.sandbox.run import sandbox

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'frontdoor.db'}", port=0)
    async with sandbox(settings, port=0) as sb:
        assert sb.url.startswith("http://127.0.0.1:")
        assert sb.fake.base_url == f"{sb.url}api/"
        assert sb.bot.sv.settings.api_url == sb.fake.base_url
        async with http.get(sb.url) as r:
            assert r.status == 200
        async with http.post(f"{sb.url}api/chat.nonsense", data={"token": "x"}) as r:
            assert (await r.json())["error"] == "unknown_method"
        sent = await post(http, f"{sb.url}ui/send", {
            "user": TEACHER, "channel": sb.fake.dm_channel(TEACHER), "text": "/consult"})
        assert sent["ok"] is True, sent
        first = await wait_for_message(sb.fake, sb.fake.dm_channel(TEACHER),
                                       lambda m: bool(m.get("blocks")))
        moved = await post(http, f"{sb.url}ui/clock", {"minutes": 90})
        assert moved["ok"] is True and "reminders" in moved["swept"]
        offset = sb.clock.offset
        old_token = await page_token(http, sb.url)
    assert sb.state_file is not None and sb.state_file.exists()

    async with sandbox(settings, port=0) as again:
        kept = again.fake.message(again.fake.dm_channel(TEACHER), first["ts"])
        assert kept is not None and kept["text"] == first["text"]
        assert again.clock.offset == offset
        # Each start has its own token: a page kept open from the last one must reload.
        assert await page_token(http, again.url) != old_token
        stale = await refused(http, "POST", f"{again.url}ui/clock", {TOKEN_HEADER: old_token},
                              {"minutes": 60})
        assert stale == "token_invalid" and again.clock.offset == offset


async def test_sandbox_port_in_use(tmp_path: Path) -> None:
    from bot.sandbox.run import run_sandbox

    async with FakeSlack() as busy:
        port = int(busy.root_url.rsplit(":", 1)[1])
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'fd.db'}", port=port)
        assert await run_sandbox(settings) == 1
