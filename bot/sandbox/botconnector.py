"""A local fake of the Bot Connector REST API (v3) and of Entra ID's token endpoint,
served over real HTTP by aiohttp: what the Teams transport talks to in tests and in the
laptop sandbox.

``FakeBotConnector`` keeps a small in-memory tenant (people, the channels the app is in,
conversations and their activities) and answers the calls the bot makes, with the
status codes and error bodies Teams uses (``{"error": {"code", "message"}}``):

* ``POST /v3/conversations``: a 1:1 chat with a person (403 ``BotNotInConversationRoster``
  when the person never installed the app), or a new thread in a channel;
* ``POST /v3/conversations/{id}/activities``: send (answers ``{"id": activity id}``);
* ``POST /v3/conversations/{id}/activities/{activityId}``: reply in that thread;
* ``PUT  /v3/conversations/{id}/activities/{activityId}``: update;
* ``GET  /v3/conversations/{id}/members``: the roster;
* ``GET  /v3/conversations/{id}/members/{userId}``: one member (by Teams id or Entra object
  id; 404 ``MemberNotFoundInConversation`` when not in it), where ``id`` is a channel or a
  team: its id, or the Entra group id given to ``add_team``.

Every ``/v3`` call must carry a bearer token this fake issued and that has not expired
(401 otherwise). Tokens come from ``POST /{tenant}/oauth2/v2.0/token`` (client
credentials; the app's id and password checked), found by MSAL through
``GET /{tenant}/v2.0/.well-known/openid-configuration``. MSAL talks only to an https
authority, so the same routes are also served over TLS with a certificate made at start
(``authority``, trusted through ``ca_file``); the Bot Connector is at ``service_url``.

Faults as the fake Slack has them (``fail``): 429 with Retry-After, 412, 5xx, a dropped
connection, for the next N calls of an operation.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import ipaddress
import itertools
import json
import secrets
import ssl
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from bot.sandbox.webapi import _Fault, take_fault
from store.types import utcnow

DEFAULT_APP_ID = "00000000-0000-4000-8000-0000000f0047"  # fictional
DEFAULT_APP_PASSWORD = "fake-app-password"
DEFAULT_TENANT_ID = "00000000-0000-4000-8000-00000000c0c1"  # fictional
TOKEN_LIFETIME = 3600
# Teams refuses an activity bigger than about 28 KB.
MAX_ACTIVITY_BYTES = 28 * 1024
ACTIVITY_ID_BASE = 1_764_000_000_000  # ids are millisecond timestamps in Teams
# The operations a fault can be injected into ("*": every /v3 call).
OPS = ("token", "create", "send", "reply", "update", "members", "member")


class ConnectorError(Exception):
    """An error answer: ``status`` with Teams' ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}")
        self.status, self.code, self.message = status, code, message

    def response(self) -> web.Response:
        return web.json_response({"error": {"code": self.code, "message": self.message}},
                                 status=self.status)


@dataclass(frozen=True)
class Call:
    """One request the fake received, in arrival order: its operation, conversation,
    body, and the fault injected or the status answered."""

    op: str
    conversation: str | None
    body: dict[str, Any] | None
    at: float
    status: int = 200
    fault: str | None = None
    response: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status < 300 and self.fault is None


@dataclass
class Person:
    """Someone in the tenant: the Bot Connector id (``29:…``), the Entra object id."""

    id: str
    name: str
    aad_object_id: str
    installed: bool = True  # has the app in personal scope (or it was installed for them)

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "aadObjectId": self.aad_object_id}


@dataclass
class Conversation:
    id: str
    kind: Literal["personal", "channel"]
    members: list[str]
    activities: list[dict[str, Any]] = field(default_factory=list)


AfterStore = Callable[[Call, dict[str, Any]], Awaitable[None]]


class FakeBotConnector:
    """The fake Bot Connector and token endpoint (see the module's docstring)."""

    def __init__(self, *, app_id: str = DEFAULT_APP_ID, password: str = DEFAULT_APP_PASSWORD,
                 tenant_id: str = DEFAULT_TENANT_ID, token_lifetime: int = TOKEN_LIFETIME,
                 clock: Callable[[], float] = time.time, anonymous: bool = False) -> None:
        self.app_id, self.password, self.tenant_id = app_id, password, tenant_id
        # The sandbox's bot runs with no app id of its own (as with the Bot Framework
        # Emulator): the SDK's replies within a turn then carry no token, and are taken.
        # A token that is sent must still be one this fake issued.
        self.anonymous = anonymous
        # Ids of the people's own activities (the sandbox's Teams view tells the fake, which
        # keeps only the bot's): the SDK answers a message as a reply to it.
        self.heard: set[str] = set()
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.people: dict[str, Person] = {}
        self.conversations: dict[str, Conversation] = {}
        self.calls: list[Call] = []
        self.tokens: dict[str, float] = {}  # issued token -> when it expires
        # Called after an activity is stored and before the answer is sent: a test
        # kills the bot there (Teams has it; the bot never hears).
        self.after_store: AfterStore | None = None
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._runner: web.AppRunner | None = None
        self._http_url = self._https_url = ""
        self.ca_file = ""
        self.app = web.Application(client_max_size=1024 * 1024)
        self.app.router.add_post("/{tenant}/oauth2/v2.0/token", self._handle_token)
        self.app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration",
                                self._handle_openid)
        self.app.router.add_post("/v3/conversations", self._handle_create)
        self.app.router.add_post("/v3/conversations/{cid}/activities", self._handle_send)
        self.app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._handle_reply)
        self.app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._handle_update)
        self.app.router.add_get("/v3/conversations/{cid}/members", self._handle_members)
        self.app.router.add_get("/v3/conversations/{cid}/members/{mid}", self._handle_member)
        self.team_groups: dict[str, str] = {}  # a team's Entra group id -> the team's id

    # ------------------------------------------------------------------ server

    async def start(self, host: str = "127.0.0.1") -> str:
        """Serve plain HTTP (the Bot Connector) and TLS (the authority) on free ports;
        returns ``service_url``."""
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-botconnector-")
        cert, key = _self_signed(Path(self._tmp.name), host)
        self.ca_file = str(cert)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, 0).start()
        await web.TCPSite(self._runner, host, 0, ssl_context=tls).start()
        (h1, p1), (h2, p2) = (a[:2] for a in self._runner.addresses[:2])
        self._http_url, self._https_url = f"http://{h1}:{p1}", f"https://{h2}:{p2}"
        return self.service_url

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> FakeBotConnector:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def service_url(self) -> str:
        """The Bot Connector's base URL, as an activity's ``serviceUrl`` gives it."""
        if not self._http_url:
            raise RuntimeError("FakeBotConnector is not started")
        return f"{self._http_url}/"

    @property
    def authority(self) -> str:
        """The Entra authority for MSAL: ``https://host:port/<tenant>``."""
        if not self._https_url:
            raise RuntimeError("FakeBotConnector is not started")
        return f"{self._https_url}/{self.tenant_id}"

    # ----------------------------------------------------------------- seeding

    def add_person(self, id: str, name: str, aad_object_id: str, *,
                   installed: bool = True) -> Person:
        self.people[id] = Person(id, name, aad_object_id, installed)
        return self.people[id]

    def add_channel(self, id: str, members: list[str] | None = None) -> Conversation:
        """A channel of a team the app is installed in (``19:…@thread.tacv2``)."""
        self.conversations[id] = Conversation(id, "channel", list(members or self.people))
        return self.conversations[id]

    def add_team(self, id: str, members: list[str], *, group_id: str | None = None
                  ) -> Conversation:
        """A team (its id is its General channel's, ``19:…@thread.tacv2``) with these
        people (Teams ids) as its roster; ``group_id``: its Entra group id, which the
        member call answers for too."""
        if group_id:
            self.team_groups[group_id] = id
        return self.add_channel(id, members)

    def install(self, person_id: str) -> None:
        self.people[person_id].installed = True

    # ------------------------------------------------------------- inspecting

    def activities(self, conversation_id: str) -> list[dict[str, Any]]:
        """What the bot posted in a conversation (a channel's threads included)."""
        base = conversation_id.split(";")[0]
        return [a for c in self.conversations.values() if c.id.split(";")[0] == base
                for a in c.activities]

    def calls_to(self, op: str) -> list[Call]:
        return [c for c in self.calls if c.op == op]

    async def wait_for(
        self, op: str, count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline per wait reads best in tests
    ) -> list[Call]:
        """Wait until ``count`` calls of ``op`` were answered; ``TimeoutError`` naming what
        was seen instead after ``timeout`` seconds."""
        def answered() -> int:
            return len([c for c in self.calls if c.op == op and c.ok])
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: answered() >= count)
        except TimeoutError:
            raise TimeoutError(f"waited {timeout}s for {count} {op} call(s), got "
                               f"{answered()}; seen: {[c.op for c in self.calls]}") from None
        return self.calls_to(op)

    # ----------------------------------------------------------------- faults

    def fail(self, op: str, *, status: int = 429, times: int = 1,
             retry_after: int | None = None,
             exc: Literal["disconnect"] | None = None) -> None:
        """Make the next ``times`` calls of ``op`` (one of ``OPS``, or "*" for every /v3
        call) fail: ``status`` with Teams' error body and, for 429 (1 s unless given) or
        when given, ``Retry-After: retry_after``; or (``exc="disconnect"``) a dropped
        connection. Nothing is stored."""
        if retry_after is None and status == 429:
            retry_after = 1
        if op not in (*OPS, "*"):
            raise ValueError(f"unknown operation: {op!r}")
        self._faults[op].append(_Fault(status, None, retry_after, exc, times))

    def _take_fault(self, op: str) -> _Fault | None:
        return take_fault(self._faults, (op, "*") if op != "token" else (op,))

    # --------------------------------------------------------------- handling

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def _serve(self, request: web.Request, op: str,
                     handle: Callable[[str | None, dict[str, Any] | None], dict[str, Any]],
                     ) -> web.StreamResponse:
        """Check the token, inject a fault, run ``handle``, record the call."""
        cid = request.match_info.get("cid")
        body: dict[str, Any] | None = None
        if request.can_read_body:
            try:
                body = json.loads(await request.text() or "null")
            except ValueError:
                body = None
        fault = self._take_fault(op)
        if fault is not None:
            return await self._answer_fault(request, op, cid, body, fault)
        try:
            self._authenticate(request)
            if request.can_read_body and not isinstance(body, dict):
                raise ConnectorError(400, "BadArgument", "The body is not a JSON object.")
            answer = handle(cid, body)
        except ConnectorError as err:
            await self._record(Call(op, cid, body, self.clock(), status=err.status))
            return err.response()
        call = Call(op, cid, body, self.clock(), status=200, response=answer)
        await self._record(call)
        if self.after_store is not None and op in ("send", "reply", "create"):
            await self.after_store(call, answer)
        return web.json_response(answer, status=201 if op not in ("members", "member") else 200)

    async def _answer_fault(self, request: web.Request, op: str, cid: str | None,
                            body: dict[str, Any] | None, fault: _Fault) -> web.StreamResponse:
        if fault.exc == "disconnect":
            await self._record(Call(op, cid, body, self.clock(), status=0, fault="disconnect"))
            if request.transport is not None:
                request.transport.abort()  # the client sees the connection reset
            return web.Response()
        await self._record(Call(op, cid, body, self.clock(), status=fault.status,
                                fault=str(fault.status)))
        code = {429: "TooManyRequests", 412: "PreconditionFailed", 502: "ServiceError",
                504: "GatewayTimeout"}.get(fault.status, "InternalServerError")
        headers = ({"Retry-After": str(fault.retry_after)} if fault.retry_after is not None
                   else {})
        return web.json_response({"error": {"code": code, "message": "injected fault"}},
                                 status=fault.status, headers=headers)

    def _authenticate(self, request: web.Request) -> None:
        if self.anonymous and "Authorization" not in request.headers:
            return
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires = self.tokens.get(token) if scheme == "Bearer" else None
        if expires is None or expires <= self.clock():
            raise ConnectorError(401, "Unauthorized",
                                 "Authorization has been denied for this request.")

    def _conversation(self, cid: str | None) -> Conversation:
        conv = self.conversations.get(cid or "")
        if conv is None and cid and ";messageid=" in cid:  # a channel thread
            base = self.conversations.get(cid.split(";")[0])
            if base is not None:
                conv = self.conversations[cid] = Conversation(cid, "channel", base.members)
        if conv is None:
            raise ConnectorError(404, "ConversationNotFound", "Conversation not found.")
        return conv

    def ids_after(self, activity_ids: list[str]) -> None:
        """New activity ids from here on come after these (a restored workspace's)."""
        numbers = [int(a) - ACTIVITY_ID_BASE for a in activity_ids if a.isdigit()]
        if numbers:
            self._ids = itertools.count(max(max(numbers) + 1, next(copy.copy(self._ids))))

    def _new_activity_id(self) -> str:
        # Teams' message ids are millisecond timestamps; increasing, unique here.
        return str(ACTIVITY_ID_BASE + next(self._ids))

    def _store(self, conv: Conversation, activity: dict[str, Any],
               reply_to: str | None = None) -> dict[str, Any]:
        if activity.get("type") != "message":
            raise ConnectorError(400, "BadArgument", "Activity type must be 'message'.")
        if len(json.dumps(activity).encode()) > MAX_ACTIVITY_BYTES:
            raise ConnectorError(413, "MessageSizeTooBig", "Message size too big.")
        if conv.kind == "personal":
            person = self.people.get(conv.members[0])
            if person is None or not person.installed:
                raise ConnectorError(403, "BotNotInConversationRoster",
                                     "The bot is not part of the conversation roster.")
        stored = copy.deepcopy(activity)
        stored["id"] = self._new_activity_id()
        stored["conversation"] = {"id": conv.id}
        if reply_to:
            known = any(a["id"] == reply_to for a in self.activities(conv.id))
            if not known and not (self.anonymous and reply_to in self.heard):
                raise ConnectorError(404, "NotFound", "Activity to reply to not found.")
            if known or conv.kind != "personal":  # Teams shows a reply in a 1:1 chat plainly
                stored["replyToId"] = reply_to
        conv.activities.append(stored)
        return {"id": stored["id"]}

    def _create(self, _cid: str | None, body: dict[str, Any] | None) -> dict[str, Any]:
        body = body or {}
        if body.get("isGroup"):
            channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
            base = self.conversations.get(channel or "")
            if base is None or base.kind != "channel":
                raise ConnectorError(404, "ConversationNotFound", "Channel not found.")
            activity = body.get("activity") or {}
            aid = self._new_activity_id()
            thread = Conversation(f"{base.id};messageid={aid}", "channel", base.members)
            self.conversations[thread.id] = thread
            thread.activities.append({**copy.deepcopy(activity), "id": aid,
                                      "conversation": {"id": thread.id}})
            return {"id": thread.id, "activityId": aid}
        members = body.get("members") or []
        if len(members) != 1 or not isinstance(members[0], dict):
            raise ConnectorError(400, "BadArgument", "A 1:1 chat needs exactly one member.")
        person = self._person(str(members[0].get("id") or ""))
        tenant = body.get("tenantId") or ((body.get("channelData") or {}).get("tenant") or {}
                                          ).get("id")
        if tenant != self.tenant_id:
            raise ConnectorError(403, "Forbidden", "The tenant is not the bot's.")
        if not person.installed:
            raise ConnectorError(403, "BotNotInConversationRoster",
                                 "The bot is not part of the conversation roster.")
        cid = f"a:1{person.aad_object_id.replace('-', '')}"
        self.conversations.setdefault(cid, Conversation(cid, "personal", [person.id]))
        return {"id": cid}

    def _person(self, member_id: str) -> Person:
        for p in self.people.values():
            if member_id in (p.id, p.aad_object_id):
                return p
        raise ConnectorError(404, "MemberNotFoundInConversation", "Member not found.")

    def _send(self, cid: str | None, body: dict[str, Any] | None) -> dict[str, Any]:
        return self._store(self._conversation(cid), body or {})

    async def _handle_create(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "create", self._create)

    async def _handle_send(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "send", self._send)

    async def _handle_reply(self, request: web.Request) -> web.StreamResponse:
        aid = request.match_info["aid"]
        return await self._serve(request, "reply", lambda cid, body: self._store(
            self._conversation(cid), body or {}, reply_to=aid))

    async def _handle_update(self, request: web.Request) -> web.StreamResponse:
        aid = request.match_info["aid"]

        def update(cid: str | None, body: dict[str, Any] | None) -> dict[str, Any]:
            self._conversation(cid)
            for conv in self.conversations.values():
                for i, a in enumerate(conv.activities):
                    if a["id"] == aid and conv.id.split(";")[0] == (cid or "").split(";")[0]:
                        conv.activities[i] = {**copy.deepcopy(body or {}), "id": aid,
                                              "conversation": {"id": conv.id}}
                        return {"id": aid}
            raise ConnectorError(404, "NotFound", "Activity not found.")
        return await self._serve(request, "update", update)

    async def _handle_members(self, request: web.Request) -> web.StreamResponse:
        def members(cid: str | None, _body: dict[str, Any] | None) -> dict[str, Any]:
            conv = self._conversation(cid)
            return {"members": [self.people[m].to_api() for m in conv.members
                                if m in self.people]}
        return await self._serve(request, "members", members)

    async def _handle_member(self, request: web.Request) -> web.StreamResponse:
        mid = request.match_info["mid"]

        def member(cid: str | None, _body: dict[str, Any] | None) -> dict[str, Any]:
            conv = self._conversation(self.team_groups.get(cid or "", cid))
            person = self._person(mid)
            if person.id not in conv.members:
                raise ConnectorError(404, "MemberNotFoundInConversation", "Member not found.")
            return person.to_api()
        return await self._serve(request, "member", member)

    async def _handle_openid(self, request: web.Request) -> web.StreamResponse:
        base = f"{self._https_url}/{request.match_info['tenant']}"
        return web.json_response({
            "issuer": f"{base}/v2.0", "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        })

    async def _handle_token(self, request: web.Request) -> web.StreamResponse:
        form = dict(await request.post())
        fault = self._take_fault("token")
        if fault is not None:
            return await self._answer_fault(request, "token", None, None, fault)
        if (request.match_info["tenant"] != self.tenant_id
                or form.get("grant_type") != "client_credentials"
                or form.get("client_id") != self.app_id
                or form.get("client_secret") != self.password):
            await self._record(Call("token", None, None, self.clock(), status=401))
            return web.json_response({"error": "invalid_client",
                                      "error_description": "Invalid client credentials."},
                                     status=401)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.clock() + self.token_lifetime
        answer = {"token_type": "Bearer", "expires_in": self.token_lifetime,
                  "ext_expires_in": self.token_lifetime, "access_token": token}
        await self._record(Call("token", None, {"scope": form.get("scope")}, self.clock(),
                                response={"token_type": "Bearer"}))
        return web.json_response(answer)


def _self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` signed by itself (so it is its own CA), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-botconnector")])
    now = utcnow()
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
