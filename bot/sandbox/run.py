"""``frontdoor sandbox``: the bot and a local Slack workspace and Teams tenant in one process.

One aiohttp server on ``http://127.0.0.1:PORT/`` serves the fake Slack Web API
(``/api/``), the workspace page (``/``) and its Teams view (``/teams``). The Teams
view's fake Bot Connector and token endpoint (:mod:`bot.sandbox.botconnector`) listen on
loopback ports of their own; the bot's Teams endpoint takes the view's activities
anonymously (the sandbox has no Entra app), and its replies go to the fake with a token
the fake issued. The real bot runs beside it in HTTP
mode on SQLite, on a free loopback port, with a generated token and signing
secret: the page's clicks reach it as signed Slack requests, and everything it
sends goes through the Web API. Nothing leaves the machine.

The database is the sandbox's own SQLite file (never ``serve``'s), marked as a
sandbox database on first use; one marked (or used) by ``serve`` is refused
before anything is touched (``store.dbrole``). The workspace (messages, App
Home views, the clock's offset) is kept in a JSON file beside it, so a restart
finds the cards the database still knows about.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import signal
import webbrowser
from collections.abc import AsyncIterator, Sized
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.engine import make_url

from bot.config import SERVE_DATABASE_URL, Settings
from bot.handlers.teams import Connector
from bot.policy import Policy, load_policy
from bot.sandbox import demo
from bot.sandbox.botconnector import FakeBotConnector
from bot.sandbox.signing import SlackSender
from bot.sandbox.teamsview import TeamsView
from bot.sandbox.ui import SandboxUI, WorkspaceClock
from bot.sandbox.webapi import FakeSlack
from store import dbrole

log = logging.getLogger("frontdoor.sandbox")

HOST = "127.0.0.1"  # the page has no login: it is served on loopback only
PLATFORMS = ("slack", "teams")  # the views; each is at its own path of the one page server
VIEW_PATH = {"slack": "/", "teams": "/teams"}
SANDBOX_DB = "sqlite:///frontdoor-sandbox.db"
SAVE_EVERY = 2.0  # seconds between saves of a changed workspace
QUIET = 0.4  # after a sweep, the workspace is settled once no call came for this long
SETTLE_MAX = 15.0


class PortInUse(RuntimeError):
    """The page's port cannot be listened on."""


@dataclass
class Sandbox:
    """A running sandbox: the page's address and the parts behind it."""

    url: str
    fake: FakeSlack
    ui: SandboxUI
    clock: WorkspaceClock
    bot: Any  # bot.server.Running (imported lazily: the sandbox needs no bot to import)
    sender: SlackSender
    database_url: str
    state_file: Path | None
    teams: TeamsView | None = None  # the Teams view (when the policy can name Teams people)
    connector: FakeBotConnector | None = None

    async def advance(self, delta: timedelta) -> dict[str, Any]:
        """Move the workspace clock forward and run the reminder sweep as of the new time."""
        self.clock.advance(delta)
        assert self.ui.on_clock is not None
        return await self.ui.on_clock(self.clock())


def sandbox_database(settings: Settings) -> str:
    """The sandbox's database: ``DATABASE_URL`` if it names another SQLite file than
    ``serve``'s default, else the sandbox's own file.

    Demo people and made-up worries never go into a PostgreSQL database or
    ``serve``'s ``frontdoor.db``, which may hold real work (and a SQLite file that
    ``serve`` has used is refused on start: ``store.dbrole``).
    """
    url = settings.database_url or SANDBOX_DB
    if make_url(url).get_backend_name() != "sqlite":
        return SANDBOX_DB
    mine, serves = dbrole.sqlite_file(url), dbrole.sqlite_file(SERVE_DATABASE_URL)
    if mine is not None and serves is not None and mine.resolve() == serves.resolve():
        return SANDBOX_DB
    return url


def state_path(database_url: str) -> Path | None:
    """Where the workspace is kept: ``<database file>.sandbox.json`` (None for in-memory)."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return None
    return Path(f"{database}.sandbox.json")


def _load_state(path: Path | None, fake: FakeSlack, clock: WorkspaceClock,
                teams: TeamsView | None = None) -> bool:
    if path is None or not path.exists():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        fake.restore(data["workspace"])
        clock.offset = timedelta(seconds=float(data.get("clock_offset_seconds") or 0))
        if teams is not None and data.get("teams"):
            teams.restore(data["teams"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("could not read the saved workspace %s (%s): starting empty", path, exc)
        return False
    return True


def _save_state(path: Path, fake: FakeSlack, clock: WorkspaceClock,
                teams: TeamsView | None = None) -> None:
    data = {
        "workspace": fake.snapshot(),
        "clock_offset_seconds": clock.offset.total_seconds(),
        **({"teams": teams.snapshot()} if teams is not None else {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


async def _settled(calls: Sized) -> None:
    """Wait until the bot has stopped calling a fake (the Web API's or the Bot Connector's
    ``calls``) for a moment (at most SETTLE_MAX)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_MAX
    while loop.time() < deadline:
        seen = len(calls)
        await asyncio.sleep(QUIET)
        if len(calls) == seen:
            return


async def _keep_saved(path: Path, fake: FakeSlack, clock: WorkspaceClock,
                      teams: TeamsView | None = None) -> None:
    """Save the workspace a moment after it changes, until cancelled (then once more).
    The Teams view's activities are saved with it (and, changed alone, every
    ``SAVE_EVERY``)."""
    events = fake.subscribe()
    teams_seen = len(teams.fake.calls) if teams is not None else 0
    try:
        while True:
            try:
                await asyncio.wait_for(events.get(), timeout=SAVE_EVERY)
            except TimeoutError:
                if teams is None or len(teams.fake.calls) == teams_seen:
                    continue
            await asyncio.sleep(SAVE_EVERY)
            while not events.empty():
                events.get_nowait()
            teams_seen = len(teams.fake.calls) if teams is not None else 0
            await asyncio.to_thread(_save_state, path, fake, clock, teams)
    finally:
        fake.unsubscribe(events)
        with contextlib.suppress(OSError):
            _save_state(path, fake, clock, teams)


@contextlib.asynccontextmanager
async def sandbox(
    settings: Settings,
    *,
    port: int | None = None,
    policy: Policy | None = None,
    reminders: bool = True,
    clock: WorkspaceClock | None = None,
    persist: bool = True,
    platform: str = "slack",
) -> AsyncIterator[Sandbox]:
    """Start the workspace, the page and the bot; stop them all on exit.

    ``port`` (else ``settings.port``; 0 picks a free one) is the page's and the
    Web API's. Raises :class:`PortInUse` when it cannot be listened on. The policy gets
    a ``teams:`` section for the demo tenant when it has none (``demo.with_teams``), so
    both views run; ``platform`` says which view ``url`` opens.
    """
    from bot.reminders import ReminderSweep
    from bot.server import running

    policy = demo.with_teams(policy or load_policy(settings.policy or None))
    clock = clock or WorkspaceClock()
    token = f"xoxb-sandbox-{secrets.token_hex(12)}"
    secret = secrets.token_hex(16)
    database_url = sandbox_database(settings)
    # Before anything else: a live database is refused untouched (no file, no port).
    await asyncio.to_thread(dbrole.claim, database_url, dbrole.SANDBOX)
    path = state_path(database_url) if persist else None

    fake = FakeSlack(tokens=[token], team_name="Front Door sandbox", clock=clock.timestamp)
    demo.seed(fake, policy)
    ui = SandboxUI(
        fake,
        clock=clock,
        people=demo.people_for(fake),
        channels=[cid for cid, _ in demo.policy_channels(policy)],
        authority=policy.authority,
        timezone=policy.timezone,
    )
    ui.mount(fake.app)
    connector = FakeBotConnector(anonymous=True)  # real time: its tokens' lifetimes
    teams: TeamsView | None = None
    if policy.teams is not None:
        channels = [(policy.channel(key, "teams"), demo.channel_name(key))
                    for key in type(policy.teams.channels).model_fields]
        teams = TeamsView.of(connector, ui.people, channels, ui.guard, clock, policy.authority)
        teams.mount(fake.app)
    _load_state(path, fake, clock, teams)
    wanted = settings.port if port is None else port
    try:
        await fake.start(HOST, wanted)
    except OSError as exc:
        await fake.stop()
        raise PortInUse(f"cannot listen on {HOST}:{wanted} ({exc.strerror or exc})") from exc
    saver: asyncio.Task[None] | None = None
    try:
        await connector.start(HOST)
        teams_options = {"anonymous": True, "directory": {
            "people": {p.aad: p.name for p in teams.people},
            "channels": {cid: f"#{name}" for cid, name in teams.channels},
        }, "connector": Connector(
            connector.service_url, connector.app_id, connector.password, connector.tenant_id,
            authority=connector.authority, ca_file=connector.ca_file,
        )} if teams is not None else None
        bot_settings = dataclasses.replace(
            settings,
            bot_token=token,
            signing_secret=secret,
            app_token="",
            api_url=fake.base_url,
            database_url=database_url,
            port=0,
        )
        async with running(
            bot_settings,
            policy=policy,
            reminders=reminders,
            host=HOST,
            clock=clock,
            pace=0.0,  # the fake has no rate limits, so nothing needs pacing
            http_mode=True,
            role=dbrole.SANDBOX,
            teams_options=teams_options,
        ) as bot:
            events_url = f"http://{HOST}:{bot.port}/slack/events"
            async with SlackSender(events_url, secret, workspace=fake) as sender, \
                    aiohttp.ClientSession() as teams_http:

                async def swept(now: datetime) -> dict[str, Any]:
                    before = len(fake.calls)
                    stats = await asyncio.to_thread(ReminderSweep(bot.sv).run, now)
                    await bot.sv.sender.run_once()
                    await _settled(fake.calls)  # the outbox loop may be delivering some
                    await _settled(connector.calls)
                    posted = [
                        c for c in fake.calls[before:]
                        if c.ok and c.method in ("chat.postMessage", "chat.update")
                    ]
                    return {"reminders": dataclasses.asdict(stats), "posted": len(posted)}

                ui.connect(sender, on_clock=swept)
                if teams is not None:
                    teams.connect(f"http://{HOST}:{bot.port}/api/messages", teams_http)
                if path is not None:
                    saver = asyncio.create_task(_keep_saved(path, fake, clock, teams),
                                                name="save")
                yield Sandbox(
                    url=f"{fake.root_url}{VIEW_PATH[platform]}",
                    fake=fake,
                    ui=ui,
                    clock=clock,
                    bot=bot,
                    sender=sender,
                    database_url=database_url,
                    state_file=path,
                    teams=teams,
                    connector=connector,
                )
    finally:
        if saver is not None:
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
        await fake.stop()
        await connector.stop()


async def run_sandbox(
    settings: Settings, port: int | None = None, open_browser: bool = False,
    platform: str = "slack",
) -> int:
    """Run the sandbox until Ctrl+C or SIGTERM; returns the exit status."""
    # Every click is a request to the bot and to the fake: their access logs are noise here
    # (while it runs: the level is the process's, and a test's next server wants them).
    access = logging.getLogger("aiohttp.access")
    access_level = access.level
    access.setLevel(logging.WARNING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with sandbox(settings, port=port, platform=platform) as sb:
            note = ""
            if sb.database_url != settings.database_url:
                note = " (the sandbox's own file: never PostgreSQL nor serve's frontdoor.db)"
            print(f"Front Door sandbox for {sb.ui.authority}: {sb.url}", flush=True)
            print(f"  database: {sb.database_url}{note}", flush=True)
            if sb.state_file is not None:
                print(
                    f"  workspace kept in {sb.state_file}; delete it and the database to "
                    "start afresh",
                    flush=True,
                )
            print("  press Ctrl+C to stop", flush=True)
            if open_browser:
                await asyncio.to_thread(webbrowser.open, sb.url)
            await stop.wait()
    except PortInUse as exc:
        print(f"frontdoor sandbox: {exc}; try --port with another number", flush=True)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, ValueError):
                loop.remove_signal_handler(sig)
        access.setLevel(access_level)
    return 0
