"""A local fake of the Slack Web API, served over real HTTP by aiohttp.

``FakeSlack`` keeps a small in-memory workspace (users, channels, DMs, user
groups, messages and threads, ephemerals, modals, App Home views, files) and
answers ``/api/<method>`` the way Slack does: HTTP 200 with ``{"ok": false,
"error": ...}`` for API errors, Slack's error codes and Block Kit limits, and
HTTP 429 + ``Retry-After`` or 5xx only when a test injects a fault.

Point slack_sdk at it with ``AsyncWebClient(token=..., base_url=fake.base_url)``.
It is production code: the laptop sandbox runs the bot against it.

Besides ``/api/<method>`` the same server answers:

* ``POST /upload/<file_id>`` - the upload URL handed out by ``files.getUploadURLExternal``;
* ``POST /respond/<id>``     - ``response_url`` targets made by :meth:`FakeSlack.response_url`;
* ``GET  /files/<file_id>/<name>`` - the uploaded bytes (a file's ``url_private``).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import mimetypes
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.sandbox import blockcheck
from store import jsontext

DEFAULT_TOKEN = "xoxb-test"
DEFAULT_TEAM_ID = "T0FRONT"
DEFAULT_TEAM_DOMAIN = "frontdoor-sandbox"
DEFAULT_BOT_USER_ID = "U0FRONTBOT"
DEFAULT_BOT_ID = "B0FRONTBOT"
DEFAULT_APP_ID = "A0FRONT"
DEFAULT_SCOPES = (
    "chat:write,commands,im:history,im:write,users:read,users:read.email,"
    "usergroups:read,channels:read,groups:read,files:write,reactions:write"
)
MAX_TEXT_LEN = 40_000
MAX_ATTACHMENTS = 100
RESPONSE_URL_USES = 5  # Slack honours a response_url at most five times.

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class SlackError(Exception):
    """An API error, answered as ``{"ok": false, "error": code, **extra}`` with HTTP 200."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        """The JSON body Slack would send for this error."""
        return {"ok": False, "error": self.error, **self.extra}


def _invalid(error: str, issues: Iterable[object]) -> SlackError:
    """An error carrying Slack's ``response_metadata.messages`` (and ``errors`` for blocks)."""
    texts = [str(i) for i in issues]
    extra: dict[str, Any] = {"response_metadata": {"messages": [f"[ERROR] {t}" for t in texts]}}
    if error == "invalid_blocks":
        extra["errors"] = texts
    return SlackError(error, **extra)


@dataclass(frozen=True)
class Call:
    """One request the fake received, in arrival order.

    ``args`` is the merged query string and body, with JSON-in-form fields
    (``blocks``, ``view``, ``attachments``, ``files``, ``metadata``) decoded.
    ``fault`` names an injected fault ("429", "500", "disconnect", ...) and
    ``response`` is the JSON answered (``None`` when the connection was dropped).
    """

    method: str
    args: dict[str, Any]
    at: float
    token: str | None = None
    fault: str | None = None
    response: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when the call was answered ``"ok": true``."""
        return bool(self.response and self.response.get("ok"))


@dataclass
class User:
    """A workspace member."""

    id: str
    name: str
    real_name: str
    tz: str = "Europe/London"
    is_bot: bool = False
    email: str | None = None
    deleted: bool = False
    title: str = ""  # the profile's job title
    phone: str = ""

    def to_api(self, team_id: str) -> dict[str, Any]:
        """The ``user`` object of ``users.info``."""
        now = datetime.now(ZoneInfo(self.tz))
        offset = now.utcoffset()
        abbrev = now.tzname() or ""
        label = {"GMT": "Greenwich Mean Time", "BST": "British Summer Time"}.get(abbrev, abbrev)
        first, _, last = self.real_name.partition(" ")
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": label,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "is_admin": False,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
            "profile": {
                "real_name": self.real_name,
                "real_name_normalized": self.real_name,
                "display_name": self.name,
                "display_name_normalized": self.name,
                "first_name": first,
                "last_name": last,
                "email": self.email,
                "title": self.title,
                "phone": self.phone,
                "team": team_id,
            },
        }


@dataclass
class Channel:
    """A public/private channel, a DM (``is_im``) or a group DM (``is_mpim``)."""

    id: str
    name: str
    is_im: bool = False
    is_mpim: bool = False
    is_private: bool = False
    user: str | None = None  # the other party of a DM
    members: set[str] | None = None  # None: everybody may read and post
    created: int = 1_700_000_000
    is_archived: bool = False

    def to_api(self) -> dict[str, Any]:
        """The ``channel`` object of ``conversations.info``."""
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not (self.is_private or self.is_mpim),
            "is_group": self.is_private and not self.is_mpim,
            "is_im": False,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private or self.is_mpim,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_general": False,
            "is_shared": False,
            "is_org_shared": False,
            "is_member": True,
            "unlinked": 0,
        }


@dataclass
class Usergroup:
    """A user group (``@handle``)."""

    id: str
    handle: str
    users: list[str]
    name: str = ""


@dataclass
class StoredFile:
    """A file between ``files.getUploadURLExternal`` and ``files.completeUploadExternal``."""

    id: str
    name: str
    length: int
    created: int
    alt_txt: str | None = None
    title: str | None = None
    content: bytes | None = None
    completed: bool = False
    channels: list[str] = field(default_factory=list)


@dataclass
class _Fault:
    status: int
    error: str | None
    retry_after: int
    exc: str | None
    remaining: int


def take_fault(faults: dict[str, deque[_Fault]], keys: Iterable[str]) -> _Fault | None:
    """The next injected fault queued under the first of ``keys`` that has one (used up
    after its ``remaining`` calls); the fake Bot Connector's too."""
    for key in keys:
        pending = faults.get(key)
        if pending:
            fault = pending[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                pending.popleft()
            return fault
    return None


@dataclass
class _ResponseTarget:
    channel: str
    user: str
    message_ts: str | None
    uses: int = 0


def _dumps(value: Any) -> str:
    # orjson: answering with the message posted was a sixth of the fake's work under load.
    return jsontext.dumps(value)


def _flag(value: Any) -> bool:
    """Slack's booleans arrive as true/false, "true"/"false" or "1"/"0"."""
    return value in (True, 1, "1", "true", "True")


def _bot_messages(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bot's messages only, with thread reply counts that match what is kept."""
    kept = [dict(m) for m in msgs if m.get("bot_id")]
    replies: dict[str, int] = {}
    for m in kept:
        if m.get("thread_ts") and m["thread_ts"] != m["ts"]:
            replies[m["thread_ts"]] = replies.get(m["thread_ts"], 0) + 1
    for m in kept:
        if "reply_count" in m:
            m["reply_count"] = replies.get(m["ts"], 0)
    return kept


class FakeSlack:
    """An in-memory Slack workspace behind a real aiohttp ``/api/<method>`` server.

    Every request is recorded in :attr:`calls`; use :meth:`wait_for` to await
    the bot's calls without sleeping, :meth:`fail` to inject 429/5xx/dropped
    connections, and :meth:`subscribe` to follow what users would see.
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        team_id: str = DEFAULT_TEAM_ID,
        team_name: str = "Front Door Sandbox",
        team_domain: str = DEFAULT_TEAM_DOMAIN,
        bot_user_id: str = DEFAULT_BOT_USER_ID,
        bot_id: str = DEFAULT_BOT_ID,
        app_id: str = DEFAULT_APP_ID,
        bot_name: str = "frontdoor",
        scopes: str = DEFAULT_SCOPES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tokens: set[str] = set(tokens)
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.scopes = scopes
        self._clock = clock

        self.calls: list[Call] = []
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, Usergroup] = {}
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.ephemerals: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, StoredFile] = {}

        self._index: dict[tuple[str, str], dict[str, Any]] = {}
        self._used_triggers: set[str] = set()
        # Who a trigger_id was issued to, and so whose screen a modal opens on.
        self.trigger_users: dict[str, str] = {}
        self.view_users: dict[str, str] = {}
        self._response_targets: dict[str, _ResponseTarget] = {}
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._subscribers: list[asyncio.Queue[dict[str, Any]]] = []
        self._changed = asyncio.Condition()
        self._last_ts_us = 0
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._root_url: str | None = None

        self.add_user(bot_user_id, bot_name, real_name="Front Door", is_bot=True)
        self._methods: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "reactions.add": self._reactions_add,
        }
        self.app = web.Application(client_max_size=100 * 1024 * 1024)
        self.app.router.add_route("*", "/api/{method}", self._handle_api)
        self.app.router.add_post("/upload/{file_id}", self._handle_upload)
        self.app.router.add_post("/respond/{rid}", self._handle_response_url)
        self.app.router.add_get("/files/{file_id}/{name}", self._handle_download)

    # ------------------------------------------------------------------ server

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); returns :attr:`base_url`."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._root_url = f"http://{shown}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._root_url is None:
            raise RuntimeError("FakeSlack is not started; await fake.start() first")
        return self._root_url

    @property
    def base_url(self) -> str:
        """The Web API base URL (ends with ``/api/``) for ``AsyncWebClient(base_url=...)``."""
        return f"{self.root_url}/api/"

    # ------------------------------------------------------------ seeding

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str | None = None,
        *,
        email: str | None = None,
        tz: str = "Europe/London",
        is_bot: bool = False,
        title: str = "",
        phone: str = "",
    ) -> User:
        """Add (or replace) a member; email defaults to ``<name>@example.org``."""
        user = User(
            id=id,
            name=name,
            real_name=real_name or name,
            tz=tz,
            is_bot=is_bot,
            email=email or (None if is_bot else f"{name}@example.org"),
            title=title,
            phone=phone,
        )
        self.users[id] = user
        return user

    def add_channel(
        self,
        id: str,
        name: str,
        *,
        is_private: bool = False,
        members: Iterable[str] | None = None,
    ) -> Channel:
        """Add a channel; ``members=None`` means anyone may be shown ephemerals in it."""
        channel = Channel(
            id=id,
            name=name.lstrip("#"),
            is_private=is_private,
            members=set(members) if members is not None else None,
        )
        self.channels[id] = channel
        return channel

    def add_usergroup(self, id: str, handle: str, users: Iterable[str]) -> Usergroup:
        """Add a user group with its member ids."""
        group = Usergroup(id=id, handle=handle, users=list(users), name=handle)
        self.usergroups[id] = group
        return group

    def add_message(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Store a message *from a person* (e.g. what a sandbox user typed); returns it."""
        channel = self._resolve_channel(channel_id)
        msg: dict[str, Any] = {
            "type": "message",
            "user": user_id,
            "text": text,
            "ts": self._next_ts(),
            "team": self.team_id,
        }
        if blocks is not None:
            msg["blocks"] = blockcheck.fill_ids(blocks)
        self._store(channel.id, msg, thread_ts=thread_ts, broadcast=False)
        return msg

    # ------------------------------------------------------------ persistence

    def snapshot(self) -> dict[str, Any]:
        """What a restart should keep: messages, App Home views and the id counters.

        Ephemerals and open modals are left out, as Slack forgets them on reload;
        people, channels and user groups are seeded again at start. What *people*
        typed is never written to disk: a refused answer may hold a child's details,
        and the bot's own messages (which have passed the no-names guard) are all a
        restart needs to match the database.
        """
        bot_only = {cid: _bot_messages(msgs) for cid, msgs in self.messages.items()}
        return {
            "version": 1,
            "messages": {cid: msgs for cid, msgs in bot_only.items() if msgs},
            "home_views": self.home_views,
            "next_id": next(copy.copy(self._ids)),
            "last_ts_us": self._last_ts_us,
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Load a :meth:`snapshot` (after seeding); channels that no longer exist are skipped."""
        if data.get("version") != 1:
            raise ValueError("not a FakeSlack snapshot (version 1)")
        for cid, msgs in (data.get("messages") or {}).items():
            if cid not in self.channels and cid.startswith("D") and f"U{cid[1:]}" in self.users:
                self._open_dm(f"U{cid[1:]}")
            if cid not in self.channels:
                continue
            self.messages[cid] = list(msgs)
            for msg in msgs:
                self._index[(cid, msg["ts"])] = msg
        for user_id, view in (data.get("home_views") or {}).items():
            if user_id in self.users:
                self.home_views[user_id] = view
                self.views[view["id"]] = view
        self._ids = itertools.count(int(data.get("next_id") or 1))
        self._last_ts_us = max(self._last_ts_us, int(data.get("last_ts_us") or 0))

    # ------------------------------------------------------ lookups for tests/UI

    def calls_to(self, method: str) -> list[Call]:
        """All recorded calls of one method (including faulted and failed ones)."""
        return [c for c in self.calls if c.method == method]

    def clear(self) -> None:
        """Forget recorded calls (workspace state and pending faults are kept)."""
        self.calls.clear()

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline per wait reads best in tests
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Wait until at least ``count`` matching calls were recorded; return all matches.

        Raises ``TimeoutError`` (naming what was seen instead) after ``timeout`` seconds.
        """

        def matching() -> list[Call]:
            return [
                c for c in self.calls if c.method == method and (predicate is None or predicate(c))
            ]

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(matching()) >= count)
        except TimeoutError:
            seen = [c.method for c in self.calls]
            raise TimeoutError(
                f"waited {timeout}s for {count} call(s) to {method}, "
                f"got {len(matching())}; calls seen: {seen}"
            ) from None
        return matching()

    def message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        """The stored message at ``ts`` in a channel, or None."""
        return self._index.get((channel_id, ts))

    def history(self, channel_id: str) -> list[dict[str, Any]]:
        """Every stored message of a channel (replies included), oldest first."""
        return list(self.messages.get(channel_id, []))

    def thread(self, channel_id: str, thread_ts: str) -> list[dict[str, Any]]:
        """A thread's parent and replies, oldest first."""
        return [
            m
            for m in self.messages.get(channel_id, [])
            if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts
        ]

    def ephemerals_for(self, user_id: str, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages shown to a user (in one channel, or anywhere)."""
        return [
            m
            for (chan, user), msgs in self.ephemerals.items()
            if user == user_id and (channel_id is None or chan == channel_id)
            for m in msgs
        ]

    def view(self, view_id: str) -> dict[str, Any] | None:
        """A modal or Home view by id."""
        return self.views.get(view_id)

    def note_trigger(self, trigger_id: str, user_id: str) -> None:
        """Remember who a ``trigger_id`` was issued to (a modal it opens is that user's)."""
        self.trigger_users[trigger_id] = user_id

    def respond(self, channel_id: str, user_id: str, body: dict[str, Any]) -> None:
        """Show what a bot answered in its HTTP response to a slash command, as Slack does.

        ``{"text"|"blocks"...}`` becomes an ephemeral for ``user_id`` (or a channel
        message with ``"response_type": "in_channel"``). Raises :class:`SlackError`
        for content Slack would refuse.
        """
        self._apply_response(_ResponseTarget(channel_id, user_id, None), body)

    def notice(self, channel_id: str, user_id: str, text: str) -> dict[str, Any]:
        """An ephemeral from Slackbot (e.g. "/x failed with the error ..."), for one user."""
        channel = self._resolve_channel(channel_id)
        msg = {"type": "message", "user": "USLACKBOT", "text": text, "ts": self._next_ts()}
        self.ephemerals[(channel.id, user_id)].append(msg)
        self._emit(
            {"type": "ephemeral", "channel": channel.id, "user": user_id, "ts": msg["ts"],
             "message": msg}
        )
        return msg

    def set_view(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """Replace an open modal (``response_action: update``), checked like ``views.update``."""
        current = self.views.get(view_id)
        if current is None:
            raise SlackError("not_found")
        checked = self._checked_view({"view": view}, current["type"])
        stored = self._materialise_view(
            checked, view_id=view_id, root_view_id=current["root_view_id"]
        )
        self.views[view_id] = stored
        return stored

    def push_view(self, user_id: str, view: dict[str, Any], root_view_id: str) -> dict[str, Any]:
        """Push a modal onto a user's stack (a ``response_action: push``)."""
        checked = self._checked_view({"view": view}, "modal")
        stored = self._materialise_view(
            checked, view_id=self._new_id("V"), root_view_id=root_view_id
        )
        self.views[stored["id"]] = stored
        self.view_users[stored["id"]] = user_id
        return stored

    def user_name(self, user_id: str) -> str | None:
        """A member's ``name`` (what slash commands send as ``user_name``)."""
        user = self.users.get(user_id)
        return user.name if user else None

    def channel_name(self, channel_id: str) -> str | None:
        """A channel's name; DMs are ``directmessage`` as in slash command payloads."""
        channel = self.channels.get(channel_id)
        if channel is None:
            return None
        return "directmessage" if channel.is_im else channel.name

    def dm_channel(self, user_id: str) -> str:
        """The stable ``D...`` id of the bot's DM with a user (opening it if needed)."""
        return self._open_dm(user_id)[0].id

    def response_url(self, channel_id: str, user_id: str, message_ts: str | None = None) -> str:
        """A ``response_url`` served by this fake, for an interaction in ``channel_id``."""
        rid = secrets.token_hex(12)
        self._response_targets[rid] = _ResponseTarget(channel_id, user_id, message_ts)
        return f"{self.root_url}/respond/{rid}"

    # ------------------------------------------------------- faults & events

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: int = 1,
        error: str | None = None,
        exc: Literal["disconnect"] | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        ``status=429`` answers with ``Retry-After: retry_after``; 5xx answers a JSON
        error body with that status; ``status=200`` with ``error="..."`` answers an
        ordinary Slack API error; ``exc="disconnect"`` drops the connection.
        ``method="*"`` matches every ``/api/`` method; ``"upload"`` and
        ``"response_url"`` target the upload and response_url endpoints.
        """
        if exc not in (None, "disconnect"):
            raise ValueError(f"unsupported exc: {exc!r}")
        self._faults[method].append(_Fault(status, error, retry_after, exc, times))

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue receiving workspace events (messages, ephemerals, views...)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering events to ``queue``."""
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def _emit(self, event: dict[str, Any]) -> None:
        for queue in self._subscribers:
            queue.put_nowait(copy.deepcopy(event))

    def _take_fault(self, method: str, *, wildcard: bool) -> _Fault | None:
        return take_fault(self._faults, (method, "*") if wildcard else (method,))

    async def _record(self, call: Call) -> None:
        if call.response is not None:
            # Kept: a later change to the stored message must not rewrite the answer
            # the call got. (Copied here, so a subclass that does not keep calls skips it.)
            call = replace(call, response=copy.deepcopy(call.response))
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def _answer_fault(
        self, request: web.Request, method: str, args: dict[str, Any], fault: _Fault
    ) -> web.StreamResponse:
        if fault.exc == "disconnect":
            await self._record(Call(method, args, self._clock(), fault="disconnect"))
            # abort() resets the socket: the client sees ServerDisconnectedError.
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        default = {429: "ratelimited", 503: "service_unavailable"}.get(fault.status)
        if default is None:
            default = "internal_error" if fault.status >= 500 else "fatal_error"
        body = {"ok": False, "error": fault.error or default}
        headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
        await self._record(
            Call(method, args, self._clock(), fault=str(fault.status), response=body)
        )
        return web.json_response(body, status=fault.status, headers=headers, dumps=_dumps)

    # --------------------------------------------------------- HTTP handlers

    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        """Merge the query string and a form or JSON body, decoding JSON-in-form fields."""
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = json.loads(await request.text() or "{}")
                except ValueError:
                    raise SlackError("invalid_json") from None
                if not isinstance(body, dict):
                    raise SlackError("invalid_json")
                args.update(body)
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key, error in (
            ("blocks", "invalid_blocks_format"),
            ("attachments", "invalid_attachments"),
            ("view", "invalid_arguments"),
            ("files", "invalid_arguments"),
            ("metadata", "invalid_metadata_format"),
        ):
            if isinstance(args.get(key), str):
                try:
                    args[key] = json.loads(args[key])
                except ValueError:
                    raise SlackError(error) from None
        return args

    def _authenticate(self, request: web.Request, args: dict[str, Any]) -> str:
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
        token = token or str(args.get("token") or "")
        if not token:
            raise SlackError("not_authed")
        if token not in self.tokens:
            raise SlackError("invalid_auth")
        return token

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args: dict[str, Any] = {}
        token: str | None = None
        headers: dict[str, str] = {}
        try:
            args = await self._read_args(request)
            raw_token = args.pop("token", None)
            fault = self._take_fault(method, wildcard=True)
            if fault is not None:
                return await self._answer_fault(request, method, args, fault)
            handler = self._methods.get(method)
            if handler is None:
                raise SlackError("unknown_method", req_method=method)
            token = self._authenticate(request, {"token": raw_token})
            headers["X-OAuth-Scopes"] = self.scopes
            body = handler(args)
        except SlackError as err:
            body = err.payload()
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # Malformed arguments (wrong JSON types, non-numeric ts...): Slack answers
            # invalid_arguments rather than a 5xx, so the fake does as well.
            body = _invalid("invalid_arguments", [f"{type(exc).__name__}: {exc}"]).payload()
        await self._record(Call(method, args, self._clock(), token, response=body))
        if not body.get("ok"):
            # Shown by the sandbox page, so a method the fake lacks (or a bad call) is visible.
            self._emit({"type": "api_error", "method": method, "error": body.get("error")})
        return web.json_response(body, headers=headers, dumps=_dumps)

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        fault = self._take_fault("upload", wildcard=False)
        if fault is not None:
            return await self._answer_fault(request, "upload", {"file_id": file_id}, fault)
        if request.content_type == "multipart/form-data":
            form = await request.post()
            parts = [v for v in form.values() if not isinstance(v, str)]
            data = parts[0].file.read() if parts else b""
        else:
            data = await request.read()
        stored = self.files.get(file_id)
        args = {"file_id": file_id, "size": len(data)}
        if stored is None or stored.completed:
            await self._record(Call("upload", args, self._clock(), response={"ok": False}))
            return web.Response(status=404, text="not found", content_type="text/plain")
        stored.content = data
        await self._record(Call("upload", args, self._clock(), response={"ok": True}))
        # Slack's upload host answers plain text, which slack_sdk reads as such.
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        stored = self.files.get(request.match_info["file_id"])
        if stored is None or stored.content is None:
            raise web.HTTPNotFound()
        ctype = mimetypes.guess_type(stored.name)[0] or "application/octet-stream"
        return web.Response(body=stored.content, content_type=ctype)

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        rid = request.match_info["rid"]
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            body = {}
        args = body if isinstance(body, dict) else {}
        fault = self._take_fault("response_url", wildcard=False)
        if fault is not None:
            return await self._answer_fault(request, "response_url", args, fault)
        target = self._response_targets.get(rid)
        status = 200
        try:
            if target is None:
                status = 404
                raise SlackError("expired_url")
            target.uses += 1
            if target.uses > RESPONSE_URL_USES:
                status = 404
                raise SlackError("used_url")
            self._apply_response(target, args)
            answer: dict[str, Any] = {"ok": True}
        except SlackError as err:
            answer = err.payload()
        await self._record(Call("response_url", args, self._clock(), response=answer))
        return web.json_response(answer, status=status, dumps=_dumps)

    def _apply_response(self, target: _ResponseTarget, body: dict[str, Any]) -> None:
        """Carry out a response_url payload: delete, replace, post or show ephemerally."""
        original = target.message_ts
        if _flag(body.get("delete_original")) and original:
            self._chat_delete({"channel": target.channel, "ts": original}, check_author=False)
            return
        if _flag(body.get("replace_original")) and original:
            self._chat_update({**body, "channel": target.channel, "ts": original})
            return
        if body.get("response_type") == "in_channel":
            self._chat_post_message({**body, "channel": target.channel})
        else:
            self._chat_post_ephemeral({**body, "channel": target.channel, "user": target.user})

    # ------------------------------------------------------------- helpers

    def _next_ts(self) -> str:
        """A Slack ``ts``: seconds.microseconds, strictly increasing even within one tick."""
        self._last_ts_us = max(int(self._clock() * 1_000_000), self._last_ts_us + 1)
        seconds, micros = divmod(self._last_ts_us, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08X}"

    def _new_hash(self) -> str:
        return f"{int(self._clock())}.{secrets.token_hex(4)}"

    def _user(self, user_id: Any) -> User:
        user = self.users.get(str(user_id or ""))
        if user is None:
            raise SlackError("user_not_found")
        return user

    def _open_dm(self, user_id: str) -> tuple[Channel, bool]:
        """The DM channel with ``user_id`` and whether it already existed."""
        self._user(user_id)
        dm_id = "D" + user_id[1:]
        existing = self.channels.get(dm_id)
        if existing is not None:
            return existing, True
        channel = Channel(
            id=dm_id, name=user_id, is_im=True, user=user_id, members={user_id, self.bot_user_id}
        )
        self.channels[dm_id] = channel
        return channel, False

    def _resolve_channel(self, value: Any, error: str = "channel_not_found") -> Channel:
        """Accept a channel id, ``#name``/name, or a user id (meaning the DM, as Slack does)."""
        key = str(value or "")
        if key in self.channels:
            return self.channels[key]
        if key[:1] in ("U", "W") and key in self.users:
            return self._open_dm(key)[0]
        name = key.lstrip("#")
        for channel in self.channels.values():
            if not channel.is_im and channel.name == name:
                return channel
        raise SlackError(error)

    def _bot_profile(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "app_id": self.app_id,
            "name": self.bot_name,
            "deleted": False,
            "team_id": self.team_id,
        }

    def _check_content(self, args: dict[str, Any]) -> None:
        """Slack's message checks: blocks, attachments, text length, something to show."""
        blocks = args.get("blocks")
        if blocks is not None:
            issues = blockcheck.check_blocks(blocks)
            if issues:
                raise _invalid("invalid_blocks", issues)
        attachments = args.get("attachments")
        if isinstance(attachments, list) and len(attachments) > MAX_ATTACHMENTS:
            raise SlackError("too_many_attachments")
        text = args.get("text")
        if isinstance(text, str) and len(text) > MAX_TEXT_LEN:
            raise SlackError("msg_too_long")
        if not text and not blocks and not attachments and not args.get("markdown_text"):
            raise SlackError("no_text")

    def _bot_message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": str(args.get("text") or args.get("markdown_text") or ""),
            "ts": ts,
            "team": self.team_id,
            "bot_profile": self._bot_profile(),
        }
        if args.get("blocks"):
            msg["blocks"] = blockcheck.fill_ids(args["blocks"])
        for key in ("attachments", "metadata"):
            if args.get(key):
                msg[key] = args[key]
        return msg

    def _store(
        self, channel_id: str, msg: dict[str, Any], *, thread_ts: str | None, broadcast: bool
    ) -> None:
        """Append a message, threading it under ``thread_ts`` when that message exists."""
        parent = self._index.get((channel_id, thread_ts)) if thread_ts else None
        if parent is not None and parent.get("thread_ts") not in (None, parent["ts"]):
            # Replying to a reply lands in the parent's thread, as in Slack.
            parent = self._index.get((channel_id, parent["thread_ts"]))
        if parent is not None:
            msg["thread_ts"] = parent["ts"]
            msg["parent_user_id"] = parent.get("user")
            if broadcast:
                msg["subtype"] = "thread_broadcast"
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            reply_users = parent.setdefault("reply_users", [])
            if msg.get("user") and msg["user"] not in reply_users:
                reply_users.append(msg["user"])
            parent["reply_users_count"] = len(reply_users)
            parent["latest_reply"] = msg["ts"]
        self.messages[channel_id].append(msg)
        self._index[(channel_id, msg["ts"])] = msg
        self._emit(
            {
                "type": "message",
                "channel": channel_id,
                "ts": msg["ts"],
                "thread_ts": msg.get("thread_ts"),
                "message": msg,
            }
        )

    def _page(
        self, items: list[dict[str, Any]], args: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str]:
        """Cursor pagination (``limit`` + opaque ``cursor``) like Slack's."""
        limit = max(1, min(int(args.get("limit") or 100), 999))
        cursor = str(args.get("cursor") or "")
        try:
            start = int(base64.b64decode(cursor).decode().removeprefix("offset:")) if cursor else 0
        except ValueError:
            raise SlackError("invalid_cursor") from None
        page = items[start : start + limit]
        more = start + limit < len(items)
        next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
        return page, next_cursor

    # ----------------------------------------------------------- auth / chat

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        if channel.is_archived:
            raise SlackError("is_archived")
        self._check_content(args)
        msg = self._bot_message(args, self._next_ts())
        # An unknown thread_ts is not an error at Slack: the message posts unthreaded.
        self._store(
            channel.id,
            msg,
            thread_ts=args.get("thread_ts") or None,
            broadcast=_flag(args.get("reply_broadcast")),
        )
        return {"ok": True, "channel": channel.id, "ts": msg["ts"], "message": msg}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        msg = self._index.get((channel.id, str(args.get("ts") or "")))
        if msg is None:
            raise SlackError("message_not_found")
        if msg.get("bot_id") != self.bot_id:
            raise SlackError("cant_update_message")
        # Omitted blocks/attachments are kept; text may be omitted when blocks are given.
        merged = {
            "text": args.get("text", msg.get("text")),
            "blocks": args.get("blocks", msg.get("blocks")),
            "attachments": args.get("attachments", msg.get("attachments")),
            "markdown_text": args.get("markdown_text"),
        }
        self._check_content(merged)
        if "text" in args or "markdown_text" in args:
            msg["text"] = str(args.get("text") or args.get("markdown_text") or "")
        for key in ("blocks", "attachments", "metadata"):
            if key in args:
                if args[key]:
                    value = args[key]
                    msg[key] = blockcheck.fill_ids(value) if key == "blocks" else value
                else:
                    msg.pop(key, None)
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self._emit(
            {"type": "message_changed", "channel": channel.id, "ts": msg["ts"], "message": msg}
        )
        return {
            "ok": True,
            "channel": channel.id,
            "ts": msg["ts"],
            "text": msg["text"],
            "message": {k: v for k, v in msg.items() if k != "ts"},
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        user = self._user(args.get("user"))
        if channel.members is not None and user.id not in channel.members:
            raise SlackError("user_not_in_channel")
        self._check_content(args)
        msg = self._bot_message(args, self._next_ts())
        if args.get("thread_ts"):
            msg["thread_ts"] = args["thread_ts"]
        self.ephemerals[(channel.id, user.id)].append(msg)
        self._emit(
            {
                "type": "ephemeral",
                "channel": channel.id,
                "user": user.id,
                "ts": msg["ts"],
                "message": msg,
            }
        )
        return {"ok": True, "message_ts": msg["ts"]}

    def _chat_delete(self, args: dict[str, Any], *, check_author: bool = True) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        ts = str(args.get("ts") or "")
        msg = self._index.get((channel.id, ts))
        if msg is None:
            raise SlackError("message_not_found")
        if check_author and msg.get("bot_id") != self.bot_id:
            raise SlackError("cant_delete_message")
        del self._index[(channel.id, ts)]
        self.messages[channel.id].remove(msg)
        parent_ts = msg.get("thread_ts")
        parent = self._index.get((channel.id, parent_ts)) if parent_ts != ts else None
        if parent is not None and parent.get("reply_count"):
            parent["reply_count"] -= 1
        self._emit({"type": "message_deleted", "channel": channel.id, "ts": ts})
        return {"ok": True, "channel": channel.id, "ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        ts = str(args.get("message_ts") or "")
        msg = self._index.get((channel.id, ts))
        if msg is None:
            raise SlackError("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
        thread_ts = msg.get("thread_ts")
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel.id}"
        return {"ok": True, "channel": channel.id, "permalink": link}

    # -------------------------------------------------------- conversations

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = self._resolve_channel(args["channel"])
            existed = True
        else:
            raw = args.get("users") or ""
            users = [u for u in (raw if isinstance(raw, list) else str(raw).split(",")) if u]
            if not users:
                raise SlackError("users_list_not_supplied")
            for user_id in users:
                self._user(user_id)
            if len(users) == 1:
                channel, existed = self._open_dm(users[0])
            else:
                members = sorted({*users, self.bot_user_id})
                mpim_id = "G" + base64.b32encode(",".join(members).encode()).decode()[:10]
                existed = mpim_id in self.channels
                if not existed:
                    self.channels[mpim_id] = Channel(
                        id=mpim_id,
                        name="mpdm-" + "--".join(members),
                        is_mpim=True,
                        members=set(members),
                    )
                channel = self.channels[mpim_id]
        body: dict[str, Any] = {
            "ok": True,
            "channel": channel.to_api() if _flag(args.get("return_im")) else {"id": channel.id},
        }
        if existed:
            body.update(no_op=True, already_open=True)
        return body

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel") or ""))
        if channel is None:
            raise SlackError("channel_not_found")
        return {"ok": True, "channel": channel.to_api()}

    @staticmethod
    def _in_range(args: dict[str, Any]) -> Callable[[str], bool]:
        """Whether a ts is within ``oldest``..``latest`` (ends only if ``inclusive``)."""
        inclusive = _flag(args.get("inclusive"))
        latest, oldest = args.get("latest"), args.get("oldest")

        def in_range(ts: str) -> bool:
            value = float(ts)
            if latest and (value > float(latest) or (value == float(latest) and not inclusive)):
                return False
            return not (
                oldest and (value < float(oldest) or (value == float(oldest) and not inclusive))
            )

        return in_range

    @staticmethod
    def _shown(msgs: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
        """Messages as history and replies show them: metadata only when asked for."""
        if _flag(args.get("include_all_metadata")):
            return msgs
        return [{k: v for k, v in m.items() if k != "metadata"} for m in msgs]

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel") or ""))
        if channel is None:
            raise SlackError("channel_not_found")
        in_range = self._in_range(args)
        top_level = [
            m
            for m in reversed(self.messages.get(channel.id, []))
            if (m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast")
            and in_range(m["ts"])
        ]
        page, cursor = self._page(top_level, args)
        return {
            "ok": True,
            "messages": self._shown(page, args),
            "has_more": bool(cursor),
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel") or ""))
        if channel is None:
            raise SlackError("channel_not_found")
        msg = self._index.get((channel.id, str(args.get("ts") or "")))
        if msg is None:
            raise SlackError("thread_not_found")
        root = msg.get("thread_ts") or msg["ts"]
        # Oldest first; ``oldest``/``latest`` choose among the replies, and the parent
        # leads the first page whatever they say, as at Slack.
        in_range = self._in_range(args)
        thread = self.thread(channel.id, root)
        shown = thread[:1] + [m for m in thread[1:] if in_range(m["ts"])]
        page, cursor = self._page(shown, args)
        return {
            "ok": True,
            "messages": self._shown(page, args),
            "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor},
        }

    # ---------------------------------------------------------- users & groups

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user": self._user(args.get("user")).to_api(self.team_id)}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for user in self.users.values():
            if user.email and user.email.lower() == email and not user.deleted:
                return {"ok": True, "user": user.to_api(self.team_id)}
        raise SlackError("users_not_found")

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(args.get("usergroup") or ""))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"ok": True, "users": list(group.users)}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        name = str(args.get("name") or "").strip(":")
        if not args.get("timestamp"):
            raise SlackError("no_item_specified")
        if not name:
            raise SlackError("invalid_name")
        msg = self._index.get((channel.id, str(args["timestamp"])))
        if msg is None:
            raise SlackError("message_not_found")
        reactions: list[dict[str, Any]] = msg.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise SlackError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                break
        else:
            reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        self._emit({"type": "reaction_added", "channel": channel.id, "ts": msg["ts"], "name": name})
        return {"ok": True}

    # ---------------------------------------------------------------- views

    def _checked_view(self, args: dict[str, Any], vtype: str) -> dict[str, Any]:
        view = args.get("view")
        issues = blockcheck.check_view(view)
        if not issues and view.get("type") != vtype:
            issues = [blockcheck.BlockIssue(f"must be {vtype!r} for this method", "/view/type")]
        if issues:
            raise _invalid("invalid_arguments", issues)
        return view

    def _materialise_view(
        self, view: dict[str, Any], *, view_id: str, root_view_id: str | None = None
    ) -> dict[str, Any]:
        """The view object Slack stores and returns, with generated ids and a fresh hash."""
        stored: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": blockcheck.fill_ids(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self._new_hash(),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "external_id": view.get("external_id", ""),
            "previous_view_id": None,
            "root_view_id": root_view_id or view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        for key in ("title", "submit", "close"):
            if key in view:
                stored[key] = view[key]
        if view["type"] == "modal" and "close" not in view:
            stored["close"] = {"type": "plain_text", "text": "Cancel", "emoji": True}
        return stored

    def _exchange_trigger(self, args: dict[str, Any]) -> None:
        trigger = str(args.get("trigger_id") or args.get("interactivity_pointer") or "")
        if not trigger:
            raise SlackError("invalid_trigger_id")
        # A trigger can open one view only; the fake cannot judge expiry (3 s at Slack).
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        self._used_triggers.add(trigger)

    def _check_external_id(self, view: dict[str, Any], own_id: str | None = None) -> None:
        external = view.get("external_id")
        if external and any(
            v.get("external_id") == external and v["id"] != own_id for v in self.views.values()
        ):
            raise SlackError("duplicate_external_id")

    def _open_view(self, args: dict[str, Any], event: str) -> dict[str, Any]:
        view = self._checked_view(args, "modal")
        self._exchange_trigger(args)
        self._check_external_id(view)
        stored = self._materialise_view(view, view_id=self._new_id("V"))
        self.views[stored["id"]] = stored
        trigger = str(args.get("trigger_id") or args.get("interactivity_pointer") or "")
        user = self.trigger_users.get(trigger)
        if user:
            self.view_users[stored["id"]] = user
        self._emit({"type": event, "view": stored, "user": user, "trigger_id": trigger})
        return {"ok": True, "view": stored}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._open_view(args, "view_opened")

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._open_view(args, "view_pushed")

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise _invalid(
                "invalid_arguments",
                [blockcheck.BlockIssue("either view_id or external_id is required", "")],
            )
        current = (
            self.views.get(str(view_id))
            if view_id
            else next((v for v in self.views.values() if v.get("external_id") == external_id), None)
        )
        if current is None:
            raise SlackError("not_found")
        view = self._checked_view(args, current["type"])
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        self._check_external_id(view, own_id=current["id"])
        stored = self._materialise_view(
            {"external_id": current["external_id"], **view},
            view_id=current["id"],
            root_view_id=current["root_view_id"],
        )
        self.views[stored["id"]] = stored
        self._emit(
            {"type": "view_updated", "view": stored, "user": self.view_users.get(stored["id"])}
        )
        return {"ok": True, "view": stored}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("user_id"):
            raise _invalid(
                "invalid_arguments", [blockcheck.BlockIssue("missing required field", "/user_id")]
            )
        user = self._user(args["user_id"])
        view = self._checked_view(args, "home")
        current = self.home_views.get(user.id)
        if current and args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view_id = current["id"] if current else self._new_id("V")
        stored = self._materialise_view(view, view_id=view_id)
        self.home_views[user.id] = stored
        self.views[view_id] = stored
        self._emit({"type": "home_published", "user": user.id, "view": stored})
        return {"ok": True, "view": stored}

    # ---------------------------------------------------------------- files

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length") or 0)
        except (TypeError, ValueError):
            length = 0
        if not filename or length <= 0:
            field_name = "/filename" if not filename else "/length"
            raise _invalid(
                "invalid_arguments", [blockcheck.BlockIssue("missing required field", field_name)]
            )
        file_id = self._new_id("F")
        self.files[file_id] = StoredFile(
            id=file_id,
            name=filename,
            length=length,
            created=int(self._clock()),
            alt_txt=args.get("alt_txt"),
        )
        return {"ok": True, "upload_url": f"{self.root_url}/upload/{file_id}", "file_id": file_id}

    def _file_object(self, stored: StoredFile) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(stored.name)[0] or "application/octet-stream"
        filetype = stored.name.rsplit(".", 1)[-1].lower() if "." in stored.name else "binary"
        return {
            "id": stored.id,
            "created": stored.created,
            "timestamp": stored.created,
            "name": stored.name,
            "title": stored.title or stored.name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": self.bot_user_id,
            "user_team": self.team_id,
            "size": len(stored.content or b""),
            "mode": "hosted",
            "is_external": False,
            "is_public": False,
            "alt_txt": stored.alt_txt,
            "url_private": f"{self.root_url}/files/{stored.id}/{stored.name}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/{stored.id}",
            "channels": [c for c in stored.channels if c.startswith("C")],
            "groups": [c for c in stored.channels if c.startswith("G")],
            "ims": [c for c in stored.channels if c.startswith("D")],
        }

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise _invalid(
                "invalid_arguments", [blockcheck.BlockIssue("missing required field", "/files")]
            )
        targets = [args["channel_id"]] if args.get("channel_id") else []
        targets += [c for c in str(args.get("channels") or "").split(",") if c]
        channels = [self._resolve_channel(c, error="invalid_channel") for c in targets]
        stored_files: list[StoredFile] = []
        for entry in entries:
            stored = self.files.get(str(entry.get("id") if isinstance(entry, dict) else ""))
            if stored is None or stored.content is None or stored.completed:
                raise SlackError("file_not_found")
            stored_files.append(stored)
        for entry, stored in zip(entries, stored_files, strict=True):
            stored.completed = True
            stored.title = entry.get("title") or stored.name
            stored.channels = [c.id for c in channels]
        objects = [self._file_object(s) for s in stored_files]
        for channel in channels:
            msg = self._bot_message({"text": args.get("initial_comment") or ""}, self._next_ts())
            msg.update(files=objects, upload=True, display_as_bot=False)
            self._store(channel.id, msg, thread_ts=args.get("thread_ts") or None, broadcast=False)
        return {"ok": True, "files": objects}
