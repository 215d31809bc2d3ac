"""The sandbox's browser page and the small JSON + Server-Sent Events API behind it.

The page (``static/``: plain HTML, CSS and JavaScript, no build step, nothing
from a CDN) plays the Slack client for the demo people. Everything it does
goes through Slack's protocol only: what people type or click becomes a
signed request to the bot (:class:`bot.sandbox.signing.SlackSender`), and what
the bot sends arrives through the fake Web API (:class:`FakeSlack`), whose
events reach the page as Server-Sent Events. The bot's internals are never
touched, so the page shows exactly what a Slack workspace would.

Routes (mounted on the fake's aiohttp app, beside ``/api/``):

* ``GET /``, ``GET /static/*``               the page;
* ``GET /ui/workspace``                       people, channels, names, the clock;
* ``GET /ui/messages?channel&user``           a channel as that person sees it;
* ``GET /ui/thread?channel&ts&user``          one thread;
* ``GET /ui/home?user``, ``POST /ui/home/open`` the App Home tab;
* ``POST /ui/send``                           a typed message or a slash command;
* ``POST /ui/action``                         a click or selection (``block_actions``);
* ``POST /ui/submit``, ``POST /ui/close``     a modal's submit and close;
* ``GET|POST /ui/clock``                      the workspace clock (move it forward);
* ``GET /ui/events?user``                     live updates (``text/event-stream``).

The page has no login, so the server answers only its own page
(:class:`bot.sandbox.pageguard.PageGuard`): a loopback ``Host``, the page's own
origin on ``/ui/``, and on ``/ui/`` writes the token of this start, which the
page gets in its HTML (``GET /``). Anything else gets a 403 and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from bot.sandbox.demo import Person
from bot.sandbox.pageguard import TOKEN_SLOT, PageGuard, json_error
from bot.sandbox.signing import Delivery, SlackSender
from bot.sandbox.webapi import FakeSlack, SlackError
from store.types import utcnow

log = logging.getLogger("frontdoor.sandbox")

STATIC = Path(__file__).with_name("static")
# The slash commands of manifest.yaml (a test keeps the two in step).
COMMANDS = ("/consult", "/refer", "/caf", "/caflog")
HEARTBEAT = 15.0  # seconds between SSE keep-alive comments
MAX_ADVANCE = timedelta(days=366)
_STOP: dict[str, Any] = {"type": "_stop"}

ClockHook = Callable[[datetime], Awaitable[dict[str, Any]]]


class WorkspaceClock:
    """The workspace's time: real time plus an offset that only moves forward.

    Passed to the bot as its clock and to the fake (as epoch seconds) so message
    timestamps, SLA clocks and reminders all agree on "now".
    """

    def __init__(
        self,
        offset: timedelta = timedelta(0),
        base: Callable[[], datetime] = utcnow,
    ) -> None:
        self.offset = offset
        self._base = base

    def __call__(self) -> datetime:
        """Now, in the workspace (aware, UTC)."""
        return self._base() + self.offset

    def timestamp(self) -> float:
        """Now as epoch seconds (the fake's clock)."""
        return self().timestamp()

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (must be positive and at most a year); returns the new now."""
        if delta <= timedelta(0):
            raise ValueError("the clock only moves forward")
        if delta > MAX_ADVANCE:
            raise ValueError("move the clock at most a year at a time")
        self.offset += delta
        return self()

    def advance_to(self, when: datetime) -> datetime:
        """Move forward to ``when`` (aware); returns the new now."""
        if when.tzinfo is None:
            raise ValueError("the time needs a time zone")
        return self.advance(when - self())


def _delivery_error(delivery: Delivery) -> str | None:
    """Why Slack would show an interaction as failed (None when the bot acked it)."""
    if delivery.status == 200:
        return None
    return f"the app answered HTTP {delivery.status}"


def _body_json(delivery: Delivery) -> dict[str, Any] | None:
    """The bot's response body as a JSON object, or None when empty or not JSON."""
    text = delivery.body.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return {"text": text}
    return data if isinstance(data, dict) else None


class SandboxUI:
    """The page and its API, mounted on the fake's aiohttp application.

    Build it, :meth:`mount` it before the fake starts serving, and :meth:`connect`
    it to a :class:`SlackSender` (and a clock hook) once the bot is up; until
    then the API answers 503.
    """

    def __init__(
        self,
        fake: FakeSlack,
        *,
        clock: WorkspaceClock,
        people: Iterable[Person],
        channels: Iterable[str],
        authority: str = "",
        timezone: str = "Europe/London",
        commands: Iterable[str] = COMMANDS,
        delivery_timeout: float = 10.0,
    ) -> None:
        self.fake = fake
        self.clock = clock
        self.people = list(people)
        self.channel_ids = list(channels)
        self.authority = authority
        self.timezone = timezone
        self.commands = tuple(commands)
        self.delivery_timeout = delivery_timeout
        self.sender: SlackSender | None = None
        self.on_clock: ClockHook | None = None
        self._streams: set[asyncio.Queue[dict[str, Any]]] = set()
        self._clock_lock = asyncio.Lock()
        self.guard = PageGuard()

    # ------------------------------------------------------------------ wiring

    def mount(self, app: web.Application) -> None:
        """Add the page's routes and its guard to ``app`` (before it starts serving)."""
        app.middlewares.append(self.guard.middleware)
        r = app.router
        r.add_get("/", self._index)
        r.add_static("/static/", STATIC, append_version=False)
        r.add_get("/ui/workspace", self._workspace)
        r.add_get("/ui/messages", self._messages)
        r.add_get("/ui/thread", self._thread)
        r.add_get("/ui/home", self._home)
        r.add_post("/ui/home/open", self._home_open)
        r.add_post("/ui/send", self._send)
        r.add_post("/ui/action", self._action)
        r.add_post("/ui/submit", self._submit)
        r.add_post("/ui/close", self._close)
        r.add_get("/ui/clock", self._clock_get)
        r.add_post("/ui/clock", self._clock_post)
        r.add_get("/ui/events", self._events)
        app.on_shutdown.append(self._shutdown)

    def connect(self, sender: SlackSender, *, on_clock: ClockHook | None = None) -> None:
        """Start answering: requests go to the bot through ``sender``.

        ``on_clock(now)`` runs after the clock moves (the sandbox runs the reminder
        sweep and the outbox there) and returns a summary for the page.
        """
        self.sender = sender
        self.on_clock = on_clock

    def publish(self, event: dict[str, Any]) -> None:
        """Send one of the page's own events (e.g. the clock moved) to every open page."""
        for queue in list(self._streams):
            queue.put_nowait(dict(event))

    async def _shutdown(self, _app: web.Application) -> None:
        for queue in list(self._streams):
            queue.put_nowait(_STOP)

    # ---------------------------------------------------------------- helpers

    def _need_sender(self) -> SlackSender:
        if self.sender is None:
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"ok": False, "error": "the bot is still starting"}),
                content_type="application/json",
            )
        return self.sender

    def _user(self, value: Any) -> str:
        user = str(value or "")
        if user not in self.fake.users or self.fake.users[user].is_bot:
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error": f"unknown user {user!r}"}),
                content_type="application/json",
            )
        return user

    def _channel(self, value: Any) -> str:
        channel = str(value or "")
        owner = f"U{channel[1:]}"
        if channel.startswith("D") and owner in self.fake.users:
            self.fake.dm_channel(owner)  # the app's DM with a member exists from the start
        if channel not in self.fake.channels:
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error": f"unknown channel {channel!r}"}),
                content_type="application/json",
            )
        return channel

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error": "send a JSON object"}),
                content_type="application/json",
            )
        return data

    async def _deliver(self, call: Awaitable[Delivery]) -> Delivery | str:
        """Await a delivery to the bot; a string says why Slack would call it failed."""
        try:
            return await asyncio.wait_for(call, timeout=self.delivery_timeout)
        except TimeoutError:
            return "operation_timeout"
        except aiohttp.ClientError as exc:
            log.warning("could not reach the bot: %s", exc)
            return "dispatch_failed"

    def _ephemeral(self, channel: str, user: str, ts: str) -> dict[str, Any] | None:
        for msg in self.fake.ephemerals.get((channel, user), []):
            if msg.get("ts") == ts:
                return msg
        return None

    def _clock_info(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "now": now.isoformat(),
            "epoch": now.timestamp(),
            "offset_seconds": self.clock.offset.total_seconds(),
            "timezone": self.timezone,
        }

    # ------------------------------------------------------------------ reads

    async def _index(self, _request: web.Request) -> web.StreamResponse:
        page = (STATIC / "index.html").read_text(encoding="utf-8")
        # The token changes each start: a page kept from an earlier one must be reloaded.
        return web.Response(
            text=page.replace(TOKEN_SLOT, self.guard.token),
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )

    async def _workspace(self, _request: web.Request) -> web.Response:
        fake = self.fake
        channels = [
            {"id": cid, "name": fake.channels[cid].name}
            for cid in self.channel_ids
            if cid in fake.channels
        ]
        people = [{**asdict(p), "dm": fake.dm_channel(p.id)} for p in self.people]
        users = {
            u.id: {"name": u.name, "real_name": u.real_name, "is_bot": u.is_bot}
            for u in fake.users.values()
        }
        users.setdefault("USLACKBOT", {"name": "slackbot", "real_name": "Slackbot",
                                       "is_bot": True})
        return web.json_response(
            {
                "ok": True,
                "ready": self.sender is not None,
                "team": {"id": fake.team_id, "name": fake.team_name},
                "authority": self.authority,
                "bot": {"id": fake.bot_user_id, "name": fake.users[fake.bot_user_id].real_name},
                "people": people,
                "channels": channels,
                "channel_names": {c.id: c.name for c in fake.channels.values() if not c.is_im},
                "users": users,
                "usergroups": {g.id: g.handle for g in fake.usergroups.values()},
                "commands": list(self.commands),
                "clock": self._clock_info(),
            }
        )

    async def _messages(self, request: web.Request) -> web.Response:
        user = self._user(request.query.get("user"))
        channel = self._channel(request.query.get("channel"))
        shown = [
            m
            for m in self.fake.history(channel)
            if m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"
        ]
        private = [
            {**m, "ephemeral": True}
            for m in self.fake.ephemerals.get((channel, user), [])
            if not m.get("thread_ts")
        ]
        messages = sorted(shown + private, key=lambda m: float(m["ts"]))
        return web.json_response({"ok": True, "channel": channel, "messages": messages})

    async def _thread(self, request: web.Request) -> web.Response:
        user = self._user(request.query.get("user"))
        channel = self._channel(request.query.get("channel"))
        ts = str(request.query.get("ts") or "")
        if self.fake.message(channel, ts) is None:
            return json_error(404, "thread_not_found")
        private = [
            {**m, "ephemeral": True}
            for m in self.fake.ephemerals.get((channel, user), [])
            if m.get("thread_ts") == ts
        ]
        messages = sorted(self.fake.thread(channel, ts) + private, key=lambda m: float(m["ts"]))
        return web.json_response({"ok": True, "channel": channel, "ts": ts, "messages": messages})

    async def _home(self, request: web.Request) -> web.Response:
        user = self._user(request.query.get("user"))
        return web.json_response({"ok": True, "view": self.fake.home_views.get(user)})

    async def _clock_get(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True, **self._clock_info()})

    # ----------------------------------------------------------------- writes

    async def _home_open(self, request: web.Request) -> web.Response:
        sender = self._need_sender()
        body = await self._body(request)
        user = self._user(body.get("user"))
        delivery = await self._deliver(
            sender.app_home_opened(user, view=self.fake.home_views.get(user))
        )
        error = delivery if isinstance(delivery, str) else _delivery_error(delivery)
        return web.json_response({"ok": error is None, "error": error})

    async def _send(self, request: web.Request) -> web.Response:
        sender = self._need_sender()
        body = await self._body(request)
        user = self._user(body.get("user"))
        channel = self._channel(body.get("channel"))
        text = str(body.get("text") or "")
        thread_ts = str(body.get("thread_ts") or "") or None
        if not text.strip():
            return json_error(400, "no_text")
        if text.startswith("/") and not thread_ts:
            return web.json_response(await self._command(sender, user, channel, text))
        if self.fake.channels[channel].is_im:
            # A DM with the app: stored as the person's message, then message.im to the bot.
            delivery = await self._deliver(
                sender.message_im(user, channel, text, thread_ts=thread_ts)
            )
            error = delivery if isinstance(delivery, str) else _delivery_error(delivery)
            return web.json_response({"ok": error is None, "error": error})
        # The app has no channel-message events (manifest.yaml): the message is just posted.
        msg = self.fake.add_message(channel, user, text, thread_ts=thread_ts)
        return web.json_response({"ok": True, "ts": msg["ts"]})

    async def _command(self, sender: SlackSender, user: str, channel: str, text: str) -> dict:
        command, _, args = text.strip().partition(" ")
        if command not in self.commands:
            self.fake.notice(
                channel,
                user,
                f"{command} is not a valid command. In Slack, all messages that start with "
                'the "/" character are interpreted as commands.',
            )
            return {"ok": False, "error": "invalid_command"}
        delivery = await self._deliver(
            sender.slash_command(user, command, args.strip(), channel_id=channel)
        )
        error = delivery if isinstance(delivery, str) else _delivery_error(delivery)
        if error is not None:
            code = delivery if isinstance(delivery, str) else "dispatch_failed"
            self.fake.notice(channel, user, f'{command} failed with the error "{code}"')
            return {"ok": False, "error": error}
        assert isinstance(delivery, Delivery)
        answer = _body_json(delivery)
        if answer and (answer.get("text") or answer.get("blocks")):
            try:
                self.fake.respond(channel, user, answer)
            except SlackError as exc:
                self.fake.notice(channel, user, f'{command} failed with the error "{exc.error}"')
                return {"ok": False, "error": exc.error}
        return {"ok": True}

    async def _action(self, request: web.Request) -> web.Response:
        sender = self._need_sender()
        body = await self._body(request)
        user = self._user(body.get("user"))
        action_id = str(body.get("action_id") or "")
        if not action_id:
            return json_error(400, "action_id is required")
        kwargs: dict[str, Any] = {
            "block_id": body.get("block_id") or None,
            "state_values": body.get("state") or None,
        }
        for key in ("selected_option", "selected_options", "selected_date"):
            if body.get(key) is not None:
                kwargs[key] = body[key]
        value = body.get("value")
        if body.get("view_id"):
            view = self.fake.view(str(body["view_id"]))
            if view is None:
                return json_error(404, "view_not_found")
            kwargs["view"] = view
        else:
            channel = self._channel(body.get("channel"))
            ts = str(body.get("ts") or "")
            if body.get("ephemeral"):
                message = self._ephemeral(channel, user, ts)
                if message is None:
                    return json_error(404, "message_not_found")
                kwargs["container"] = {
                    "type": "message",
                    "message_ts": ts,
                    "channel_id": channel,
                    "is_ephemeral": True,
                }
            else:
                message = self.fake.message(channel, ts)
                if message is None:
                    return json_error(404, "message_not_found")
            kwargs.update(channel_id=channel, message_ts=ts, message=message)
        delivery = await self._deliver(
            sender.block_action(user, action_id, None if value is None else str(value), **kwargs)
        )
        error = delivery if isinstance(delivery, str) else _delivery_error(delivery)
        return web.json_response({"ok": error is None, "error": error})

    async def _submit(self, request: web.Request) -> web.Response:
        sender = self._need_sender()
        body = await self._body(request)
        user = self._user(body.get("user"))
        view = self.fake.view(str(body.get("view_id") or ""))
        if view is None:
            return json_error(404, "view_not_found")
        delivery = await self._deliver(sender.view_submission(user, view, body.get("state") or {}))
        error = delivery if isinstance(delivery, str) else _delivery_error(delivery)
        if error is not None:
            return web.json_response({"ok": False, "error": error})
        assert isinstance(delivery, Delivery)
        answer = _body_json(delivery) or {}
        action = answer.get("response_action")
        try:
            if action == "errors":
                return web.json_response(
                    {"ok": True, "action": "errors", "errors": answer.get("errors") or {}}
                )
            if action == "update":
                stored = self.fake.set_view(view["id"], answer.get("view") or {})
                return web.json_response({"ok": True, "action": "update", "view": stored})
            if action == "push":
                stored = self.fake.push_view(user, answer.get("view") or {}, view["root_view_id"])
                return web.json_response({"ok": True, "action": "push", "view": stored})
        except SlackError as exc:
            return web.json_response({"ok": False, "error": exc.error, **exc.extra})
        return web.json_response({"ok": True, "action": "clear" if action == "clear" else "close"})

    async def _close(self, request: web.Request) -> web.Response:
        sender = self._need_sender()
        body = await self._body(request)
        user = self._user(body.get("user"))
        view = self.fake.view(str(body.get("view_id") or ""))
        if view is None:
            return json_error(404, "view_not_found")
        if not view.get("notify_on_close"):
            return web.json_response({"ok": True, "notified": False})
        delivery = await self._deliver(sender.view_closed(user, view))
        error = delivery if isinstance(delivery, str) else _delivery_error(delivery)
        return web.json_response({"ok": error is None, "error": error, "notified": True})

    async def _clock_post(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        async with self._clock_lock:
            try:
                if body.get("to"):
                    when = datetime.fromisoformat(str(body["to"]))
                    if when.tzinfo is None:  # a datetime-local field: the workspace's time zone
                        when = when.replace(tzinfo=ZoneInfo(self.timezone))
                    self.clock.advance_to(when)
                else:
                    self.clock.advance(timedelta(minutes=float(body.get("minutes") or 0)))
            except (TypeError, ValueError) as exc:
                return json_error(400, str(exc))
            summary: dict[str, Any] = {}
            if self.on_clock is not None:
                summary = await self.on_clock(self.clock())
        info = self._clock_info()
        self.publish({"type": "clock", **info})
        return web.json_response({"ok": True, **info, "swept": summary})

    # ----------------------------------------------------------------- events

    async def _events(self, request: web.Request) -> web.StreamResponse:
        user = self._user(request.query.get("user"))
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        queue = self.fake.subscribe()
        self._streams.add(queue)
        try:
            await response.write(b"retry: 1000\n\n")
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event is _STOP or event.get("type") == "_stop":
                    break
                shown = self._for_page(event, user)
                if shown is not None:
                    data = json.dumps(shown, separators=(",", ":"))
                    await response.write(f"data: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.fake.unsubscribe(queue)
            self._streams.discard(queue)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    @staticmethod
    def _for_page(event: dict[str, Any], user: str) -> dict[str, Any] | None:
        """What one workspace event tells ``user``'s page (None: not theirs to see)."""
        kind = event.get("type")
        if kind in ("message", "message_changed", "message_deleted", "reaction_added"):
            return {
                "type": kind,
                "channel": event.get("channel"),
                "ts": event.get("ts"),
                "thread_ts": event.get("thread_ts")
                or (event.get("message") or {}).get("thread_ts"),
            }
        if kind == "ephemeral":
            if event.get("user") != user:
                return None
            return {
                "type": kind,
                "channel": event.get("channel"),
                "ts": event.get("ts"),
                "thread_ts": (event.get("message") or {}).get("thread_ts"),
            }
        if kind in ("view_opened", "view_pushed", "view_updated"):
            if event.get("user") != user:
                return None
            return {"type": kind, "view": event.get("view")}
        if kind == "home_published":
            return {"type": kind} if event.get("user") == user else None
        if kind in ("api_error", "clock"):
            return event
        return None
