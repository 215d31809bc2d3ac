"""The sandbox's Teams view: the same people, channels and clock as the Slack view,
speaking the Bot Connector protocol to the bot.

The page (``/teams``: ``static/teams.html`` and ``teams.js``) plays the Teams client.
What a person types or clicks becomes the activity Teams would post to the bot's
``POST /api/messages`` (a message; a message with a ``value`` for an Action.Submit; an
``adaptiveCard/action`` invoke for an Action.Execute; ``task/fetch`` / ``task/submit``
invokes for a dialog). What the bot sends reaches the fake Bot Connector
(:class:`bot.sandbox.botconnector.FakeBotConnector`), which the page reads. Cards are drawn
in the page by Microsoft's own renderer (the npm package ``adaptivecards``, vendored in
``vendor/`` with its licence), never by hand.

Routes (on the sandbox's one server, behind the same :class:`PageGuard` as the Slack view):

* ``GET /teams``, ``GET /vendor/*``             the page, the Adaptive Card renderer;
* ``GET /ui/teams/workspace``                  people, channels, the bot's name;
* ``GET /ui/teams/messages?user&conversation`` a chat or a channel as that person sees it;
* ``POST /ui/teams/send``                      a typed message;
* ``POST /ui/teams/action``                    a card's Action.Submit or Action.Execute;
* ``POST /ui/teams/task``                      a dialog's submit.

What people type is kept in memory only, never in the workspace file (as in the Slack
view): only the bot's own activities, which passed the no-names guard, are saved.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.sandbox import demo
from bot.sandbox.botconnector import Conversation, FakeBotConnector
from bot.sandbox.pageguard import TOKEN_SLOT, PageGuard, json_error
from bot.sandbox.ui import STATIC, SandboxUI

log = logging.getLogger("frontdoor.sandbox")

# Microsoft's Adaptive Card renderer, vendored unchanged (its version and licence beside it).
VENDOR = Path(__file__).with_name("vendor")
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
BOT_NAME = "Front Door"
PERSONAL = "personal"  # the page's name for a person's 1:1 chat with the bot
TIMEOUT = aiohttp.ClientTimeout(total=15)


@dataclass(frozen=True)
class TeamsPerson:
    """A demo person as Teams knows them."""

    aad: str  # Entra object id (what the policy names)
    member: str  # Bot Connector id (``29:…``)
    name: str
    title: str

    @property
    def chat(self) -> str:
        """Their 1:1 chat with the bot (the id the fake gives it)."""
        return f"a:1{self.aad.replace('-', '')}"


@dataclass
class _Typed:
    """A message a person typed (kept in memory only)."""

    seq: int
    conversation: str
    user: str
    text: str


@dataclass
class TeamsView:
    """The Teams page and its API (see the module's docstring)."""

    fake: FakeBotConnector
    people: list[TeamsPerson]
    channels: list[tuple[str, str]]  # (Teams channel id, name)
    guard: PageGuard
    clock: Any  # bot.sandbox.ui.WorkspaceClock
    authority: str = ""
    bot_url: str = ""  # the bot's POST /api/messages, once it runs
    http: aiohttp.ClientSession | None = None
    _typed: list[_Typed] = field(default_factory=list)
    _order: dict[str, int] = field(default_factory=dict)  # activity id -> when first seen
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    # ------------------------------------------------------------------ wiring

    @classmethod
    def of(cls, fake: FakeBotConnector, people: Iterable[demo.Person],
           channels: Iterable[tuple[str, str]], guard: PageGuard, clock: Any,
           authority: str = "") -> TeamsView:
        """The view for the demo people and the policy's channels, seeded into ``fake``:
        everyone has the app installed, and is in every channel."""
        view = cls(fake, [TeamsPerson(demo.teams_id(p.id), demo.teams_member(p.id),
                                      p.real_name, p.title) for p in people],
                   list(channels), guard, clock, authority)
        for p in view.people:
            fake.add_person(p.member, p.name, p.aad)
            fake.conversations.setdefault(p.chat, Conversation(p.chat, "personal", [p.member]))
        for cid, _name in view.channels:
            fake.add_channel(cid)
        return view

    def mount(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/teams", self._index)
        r.add_static("/vendor/", VENDOR, append_version=False)
        r.add_get("/ui/teams/workspace", self._workspace)
        r.add_get("/ui/teams/messages", self._messages)
        r.add_post("/ui/teams/send", self._send)
        r.add_post("/ui/teams/action", self._action)
        r.add_post("/ui/teams/task", self._task)

    def connect(self, bot_url: str, http: aiohttp.ClientSession) -> None:
        """Start answering: activities go to the bot at ``bot_url``."""
        self.bot_url, self.http = bot_url, http

    # ------------------------------------------------------------ persistence

    def snapshot(self) -> dict[str, Any]:
        """The bot's own activities (people's typing is never kept), by conversation."""
        return {"version": 1, "conversations": {
            cid: {"kind": c.kind, "activities": c.activities}
            for cid, c in self.fake.conversations.items() if c.activities}}

    def restore(self, data: dict[str, Any]) -> None:
        """Load a :meth:`snapshot` (after seeding); conversations of unknown channels and
        people are skipped."""
        if data.get("version") != 1:
            raise ValueError("not a Teams view snapshot (version 1)")
        for cid, saved in (data.get("conversations") or {}).items():
            base = self.fake.conversations.get(cid.split(";")[0])
            if base is None:
                continue
            conv = self.fake.conversations.setdefault(
                cid, Conversation(cid, base.kind, base.members))
            conv.activities = list(saved.get("activities") or [])
        self.fake.ids_after([str(a.get("id")) for c in self.fake.conversations.values()
                             for a in c.activities])
        self._sync()

    # ---------------------------------------------------------------- helpers

    def _person(self, value: Any) -> TeamsPerson:
        for p in self.people:
            if p.aad == value:
                return p
        raise web.HTTPBadRequest(text=json.dumps({"ok": False, "error": "unknown person"}),
                                 content_type="application/json")

    def _conversation(self, person: TeamsPerson, value: Any) -> tuple[str, bool]:
        """(conversation id, personal?) for what the page names."""
        if value in (PERSONAL, person.chat):
            return person.chat, True
        if any(cid == value for cid, _ in self.channels):
            return str(value), False
        raise web.HTTPBadRequest(text=json.dumps({"ok": False, "error": "unknown conversation"}),
                                 content_type="application/json")

    def _sync(self) -> None:
        """Give each activity the bot sent an order the first time it is seen, so the page
        shows them in turn with what people typed."""
        for conv in self.fake.conversations.values():
            for a in conv.activities:
                self._order.setdefault(str(a.get("id")), next(self._seq))

    def activity(self, person: TeamsPerson, conversation: str, personal: bool,
                 kind: str = "message", **fields: Any) -> dict[str, Any]:
        """An activity as Teams posts it to the bot for ``person``."""
        channel = conversation.split(";")[0]
        return {
            "type": kind, "id": f"1:{uuid.uuid4().hex}",
            "timestamp": self.clock().isoformat(),
            "serviceUrl": self.fake.service_url, "channelId": "msteams", "locale": "en-GB",
            "from": {"id": person.member, "name": person.name, "aadObjectId": person.aad},
            "conversation": {"id": conversation, "tenantId": self.fake.tenant_id,
                             "conversationType": PERSONAL if personal else "channel"},
            "recipient": {"id": self._bot_id, "name": BOT_NAME},
            "channelData": {"tenant": {"id": self.fake.tenant_id},
                            **({} if personal else {"channel": {"id": channel}})},
            **fields,
        }

    @property
    def _bot_id(self) -> str:
        return f"28:{self.fake.app_id}"

    async def _post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        """Post ``activity`` to the bot as Teams does; its status and answer."""
        self.fake.heard.add(activity["id"])
        if not self.bot_url or self.http is None:
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"ok": False, "error": "the bot is still starting"}),
                content_type="application/json")
        try:
            async with self.http.post(self.bot_url, json=activity, timeout=TIMEOUT) as resp:
                raw = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not reach the bot: %s", type(exc).__name__)
            return 0, None
        finally:
            self._sync()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    # ------------------------------------------------------------------ reads

    async def _index(self, _request: web.Request) -> web.StreamResponse:
        page = (STATIC / "teams.html").read_text(encoding="utf-8")
        return web.Response(text=page.replace(TOKEN_SLOT, self.guard.token),
                            content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _workspace(self, _request: web.Request) -> web.Response:
        return web.json_response({
            "ok": True, "authority": self.authority, "bot": BOT_NAME,
            "people": [{"id": p.aad, "name": p.name, "title": p.title} for p in self.people],
            "channels": [{"id": cid, "name": name} for cid, name in self.channels],
        })

    async def _messages(self, request: web.Request) -> web.Response:
        """The conversation as ``user`` sees it: posts in order, each with its replies
        (a channel's threads)."""
        person = self._person(request.query.get("user"))
        conversation, _ = self._conversation(person, request.query.get("conversation"))
        self._sync()
        names = {p.aad: p.name for p in self.people}
        posts: dict[str, dict[str, Any]] = {}
        for conv in self.fake.conversations.values():
            if conv.id.split(";")[0] != conversation:
                continue
            root = conv.id.split(";messageid=")[1] if ";messageid=" in conv.id else None
            for a in conv.activities:
                aid = str(a.get("id"))
                item = {"id": aid, "from": BOT_NAME, "bot": True, "text": a.get("text") or "",
                        "cards": [x.get("content") for x in a.get("attachments") or []
                                  if x.get("contentType") == ADAPTIVE],
                        "order": self._order.get(aid, 0), "replies": []}
                parent = a.get("replyToId") or (root if root and aid != root else None)
                if parent:
                    item["parent"] = str(parent)
                posts[aid] = item
        for t in self._typed:
            if t.conversation.split(";")[0] == conversation:
                tid = f"typed-{t.seq}"
                item = {"id": tid, "from": names.get(t.user, "Someone"), "bot": False,
                        "text": t.text, "cards": [], "order": t.seq, "replies": []}
                if ";messageid=" in t.conversation:
                    item["parent"] = t.conversation.split(";messageid=")[1]
                posts[tid] = item
        top: list[dict[str, Any]] = []
        for item in sorted(posts.values(), key=lambda i: i["order"]):
            parent = posts.get(item.pop("parent", "") or "")
            (parent["replies"] if parent is not None else top).append(item)
        return web.json_response({"ok": True, "conversation": conversation, "messages": top})

    # ----------------------------------------------------------------- writes

    async def _send(self, request: web.Request) -> web.Response:
        """A typed message: in the 1:1 chat as it is; in a channel as ``@Front Door …``
        (the app hears only messages that mention it). The bot's no-names guard reads it
        as it reads everything typed."""
        body = await SandboxUI._body(request)  # noqa: SLF001 - the page API's one reader
        person = self._person(body.get("user"))
        conversation, personal = self._conversation(person, body.get("conversation"))
        text = " ".join(str(body.get("text") or "").split())
        if not text:
            return json_error(400, "no_text")
        self._sync()
        self._typed.append(_Typed(next(self._seq), conversation, person.aad, text))
        fields: dict[str, Any] = {"text": text}
        if not personal:
            mention = f"<at>{BOT_NAME}</at>"
            fields = {"text": f"{mention} {text}", "entities": [{
                "type": "mention", "text": mention,
                "mentioned": {"id": self._bot_id, "name": BOT_NAME}}]}
        status, _ = await self._post(self.activity(person, conversation, personal, **fields))
        return web.json_response({"ok": status in (200, 201, 202), "status": status})

    async def _action(self, request: web.Request) -> web.Response:
        """A card's button: Action.Submit (a message with the data and the card's inputs,
        or a dialog opened when the data asks for ``task/fetch``), or Action.Execute (an
        ``adaptiveCard/action`` invoke; a card in the answer replaces the one clicked, as
        Teams shows it)."""
        body = await SandboxUI._body(request)  # noqa: SLF001 - the page API's one reader
        person = self._person(body.get("user"))
        conversation, personal = self._conversation(person, body.get("conversation"))
        activity_id = str(body.get("activity_id") or "")
        kind = str(body.get("type") or "")
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        where = self._where(conversation, activity_id)
        if kind == "Action.Submit":
            msteams = data.get("msteams") if isinstance(data.get("msteams"), dict) else {}
            if msteams.get("type") == "task/fetch":
                status, answer = await self._post(self.activity(
                    person, where, personal, kind="invoke", name="task/fetch",
                    replyToId=activity_id or None,
                    value={"data": data, "context": {"theme": "default"}}))
                return self._task_answer(status, answer)
            status, _ = await self._post(self.activity(
                person, where, personal, value=data, replyToId=activity_id or None))
            return web.json_response({"ok": status in (200, 201, 202), "status": status})
        if kind != "Action.Execute":
            return json_error(400, "unknown_action")
        redrawn = self._redraws(activity_id)
        status, answer = await self._post(self.activity(
            person, where, personal, kind="invoke", name="adaptiveCard/action",
            replyToId=activity_id or None,
            value={"action": {"type": "Action.Execute", "verb": str(body.get("verb") or ""),
                              "data": data}, "trigger": "manual"}))
        answer = answer if isinstance(answer, dict) else {}
        if status != 200:
            return web.json_response({"ok": False, "status": status,
                                      "error": "The bot did not answer that click."})
        if answer.get("type") == ADAPTIVE and isinstance(answer.get("value"), dict):
            # The answer's card replaces the one clicked, unless the bot has already
            # redrawn that activity for everyone (an update through the Bot Connector,
            # newer than the answer's card).
            if self._redraws(activity_id) == redrawn:
                self._replace_card(activity_id, answer["value"])
            return web.json_response({"ok": True, "kind": "card"})
        return web.json_response({"ok": True, "kind": "message",
                                  "message": str(answer.get("value") or "")})

    async def _task(self, request: web.Request) -> web.Response:
        """A dialog's submit: ``task/submit`` with the dialog card's data and inputs."""
        body = await SandboxUI._body(request)  # noqa: SLF001 - the page API's one reader
        person = self._person(body.get("user"))
        conversation, personal = self._conversation(person, body.get("conversation"))
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        activity_id = str(body.get("activity_id") or "")
        status, answer = await self._post(self.activity(
            person, self._where(conversation, activity_id), personal, kind="invoke",
            name="task/submit", replyToId=activity_id or None,
            value={"data": data, "context": {"theme": "default"}}))
        return self._task_answer(status, answer)

    @staticmethod
    def _task_answer(status: int, answer: Any) -> web.Response:
        task = answer.get("task") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(task, dict):
            return web.json_response({"ok": False, "status": status,
                                      "error": "The bot did not answer the dialog."})
        return web.json_response({"ok": True, "task": task})

    def _where(self, conversation: str, activity_id: str) -> str:
        """The conversation a click comes from: a channel post's own thread."""
        for conv in self.fake.conversations.values():
            if conv.id.split(";")[0] == conversation and any(
                    str(a.get("id")) == activity_id for a in conv.activities):
                return conv.id
        return conversation

    def _redraws(self, activity_id: str) -> int:
        """How many times the bot has updated ``activity_id`` so far."""
        return sum(1 for c in self.fake.calls if c.op == "update" and c.ok
                   and (c.body or {}).get("id") == activity_id)

    def _replace_card(self, activity_id: str, card: dict[str, Any]) -> None:
        for conv in self.fake.conversations.values():
            for a in conv.activities:
                if str(a.get("id")) == activity_id:
                    a["attachments"] = [{"contentType": ADAPTIVE, "content": copy.deepcopy(card)}]
                    return

