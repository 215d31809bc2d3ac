"""Slack request signing, and a client that delivers Slack-shaped requests to a bot.

:func:`sign` computes the ``X-Slack-Signature`` exactly as Slack does.
:class:`SlackSender` plays Slack's side of the HTTP conversation with a bot's
``/slack/events`` endpoint: slash commands and interactions are form-encoded
(interactions as ``payload=<json>``), Events API callbacks are JSON, and every
request is signed with the app's signing secret.

Given a ``workspace`` (a :class:`bot.sandbox.webapi.FakeSlack`), the sender
fills payloads from it the way Slack would: user and channel names, the
message or view a button lives in, a ``response_url`` the fake serves, and
user messages stored with a real ``ts``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp

from bot.sandbox import blockcheck

SIGNATURE_VERSION = "v0"


def sign(secret: str, timestamp: int, body: bytes | str) -> str:
    """The ``X-Slack-Signature`` for ``body`` sent at ``timestamp``.

    HMAC-SHA256 keyed with the signing secret over ``v0:{timestamp}:{body}``,
    hex-encoded and prefixed with ``v0=``.
    """
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + raw
    digest = hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


@dataclass(frozen=True)
class Delivery:
    """What the bot answered: HTTP status, body text and headers, plus what was sent."""

    status: int
    body: str
    headers: Mapping[str, str]
    sent: Mapping[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        """The body parsed as JSON (e.g. a ``response_action`` or url_verification answer)."""
        return json.loads(self.body)


class Workspace(Protocol):
    """The parts of a workspace (``FakeSlack``) the sender uses to make realistic payloads."""

    def user_name(self, user_id: str) -> str | None:
        """A member's name."""
        ...

    def channel_name(self, channel_id: str) -> str | None:
        """A channel's name (``directmessage`` for DMs)."""
        ...

    def dm_channel(self, user_id: str) -> str:
        """The app's DM channel id with a user."""
        ...

    def response_url(self, channel_id: str, user_id: str, message_ts: str | None = None) -> str:
        """A ``response_url`` for an interaction."""
        ...

    def message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        """A stored message."""
        ...

    def view(self, view_id: str) -> dict[str, Any] | None:
        """A stored view."""
        ...

    def add_message(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Store a message typed by a person."""
        ...


# Keys of the state value Slack reports for each input element type.
_VALUE_KEY = {
    "plain_text_input": "value",
    "email_text_input": "value",
    "number_input": "value",
    "url_text_input": "value",
    "static_select": "selected_option",
    "radio_buttons": "selected_option",
    "overflow": "selected_option",
    "multi_static_select": "selected_options",
    "checkboxes": "selected_options",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
}


def _options_of(element: Mapping[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option(element: Mapping[str, Any] | None, value: Any) -> dict[str, Any]:
    """The full option object for ``value`` (Slack sends text and value back)."""
    if isinstance(value, Mapping):
        return dict(value)
    for option in _options_of(element or {}):
        if option.get("value") == value:
            return dict(option)
    return {"text": {"type": "plain_text", "text": str(value), "emoji": True}, "value": str(value)}


_LIST_KEYS = frozenset({"selected_options", "selected_users", "selected_conversations"})


def state_value(
    element_type: str, value: Any, element: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One ``view.state.values[block][action]`` entry as Slack reports it.

    ``value`` is the plain Python value a person chose: text, an option value (or
    a list of them), a ``date``/``YYYY-MM-DD`` string, a user or channel id.
    ``None`` gives Slack's "left empty" shape (``null``, or ``[]`` for multi-selects).
    """
    key = _VALUE_KEY.get(element_type, "value")
    entry: dict[str, Any] = {"type": element_type}
    if value is None:
        entry[key] = [] if key in _LIST_KEYS else None
    elif key == "selected_option":
        entry[key] = _option(element, value)
    elif key == "selected_options":
        entry[key] = [_option(element, v) for v in value]
    elif key in _LIST_KEYS:
        entry[key] = list(value)
    elif key == "selected_date" and isinstance(value, dt.date):
        entry[key] = value.isoformat()
    else:
        entry[key] = str(value)
    return entry


@dataclass(frozen=True)
class Posted:
    """A request exactly as it was sent: resend it to replay it byte for byte."""

    body: str
    headers: Mapping[str, str]


class SlackSender:
    """Delivers signed, Slack-shaped requests to a bot's events URL.

    Use as ``async with SlackSender(url, secret) as slack: await slack.slash_command(...)``.
    Every method returns a :class:`Delivery`. ``forged=True`` sends a wrong
    signature; ``timestamp=`` overrides ``X-Slack-Request-Timestamp`` (and what
    is signed), e.g. to test replay protection.
    """

    def __init__(
        self,
        events_url: str,
        signing_secret: str,
        team_id: str = "T0FRONT",
        clock: Callable[[], float] = time.time,
        *,
        team_domain: str = "frontdoor-sandbox",
        api_app_id: str = "A0FRONT",
        bot_user_id: str = "U0FRONTBOT",
        verification_token: str = "sandbox-verification-token",
        workspace: Workspace | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.events_url = events_url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.team_domain = team_domain
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        self.verification_token = verification_token
        self.workspace = workspace
        self._clock = clock
        self._session = session
        self._owns_session = session is None
        self._seq = itertools.count(1)
        self.last: Posted | None = None  # the last request sent, for ``resend``

    async def __aenter__(self) -> SlackSender:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if the sender created it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    # ---------------------------------------------------------------- plumbing

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: Mapping[str, str] | None = None,
        forged: bool = False,
        timestamp: int | None = None,
        sent: Mapping[str, Any] | None = None,
    ) -> Delivery:
        """Sign ``body`` and POST it to the events URL (the primitive all methods use)."""
        ts = int(self._clock()) if timestamp is None else timestamp
        signature = sign(self.signing_secret, ts, body)
        if forged:
            signature = sign(self.signing_secret + "-forged", ts, body)
        request_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **(headers or {}),
        }
        self.last = Posted(body, request_headers)
        return await self.resend(self.last, sent=sent)

    async def resend(self, posted: Posted, *, url: str | None = None,
                     sent: Mapping[str, Any] | None = None) -> Delivery:
        """POST ``posted`` again, the same bytes and headers (a replay), to ``url`` or the
        events URL."""
        session = self._ensure_session()
        async with session.post(url or self.events_url, data=posted.body.encode(),
                                headers=dict(posted.headers)) as r:
            text = await r.text()
            return Delivery(r.status, text, dict(r.headers), dict(sent or {}))

    async def _form(
        self, fields: Mapping[str, Any], *, forged: bool, timestamp: int | None
    ) -> Delivery:
        return await self.post(
            urlencode(fields),
            "application/x-www-form-urlencoded",
            forged=forged,
            timestamp=timestamp,
            sent=fields,
        )

    async def _interaction(
        self, payload: dict[str, Any], *, forged: bool, timestamp: int | None
    ) -> Delivery:
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
        return await self.post(
            body,
            "application/x-www-form-urlencoded",
            forged=forged,
            timestamp=timestamp,
            sent=payload,
        )

    def trigger_id(self) -> str:
        """A fresh, plausible ``trigger_id`` (``<n>.<n>.<hex>`` like Slack's)."""
        serial = f"{int(self._clock() * 1000)}{next(self._seq)}"
        return f"{serial}.{self.team_id[1:]}.{secrets.token_hex(16)}"

    def _trigger_for(self, user_id: str, trigger_id: str | None) -> str:
        """``trigger_id`` (or a fresh one), noted in the workspace as issued to ``user_id``."""
        trigger = trigger_id or self.trigger_id()
        note = getattr(self.workspace, "note_trigger", None)
        if note is not None:
            note(trigger, user_id)
        return trigger

    def _action_ts(self) -> str:
        return f"{self._clock():.6f}"

    def _user_name(self, user_id: str) -> str:
        name = self.workspace.user_name(user_id) if self.workspace else None
        return name or user_id.lower()

    def _dm(self, user_id: str) -> str:
        return self.workspace.dm_channel(user_id) if self.workspace else "D" + user_id[1:]

    def _response_url(self, channel_id: str, user_id: str, message_ts: str | None) -> str:
        if self.workspace is not None:
            return self.workspace.response_url(channel_id, user_id, message_ts)
        return (
            f"https://hooks.slack.com/commands/{self.team_id}/{next(self._seq)}/"
            f"{secrets.token_hex(12)}"
        )

    def _user(self, user_id: str) -> dict[str, Any]:
        name = self._user_name(user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": self.team_domain}

    # ------------------------------------------------------------ slash commands

    async def slash_command(
        self,
        user_id: str,
        command: str,
        text: str = "",
        channel_id: str | None = None,
        trigger_id: str | None = None,
        *,
        forged: bool = False,
        timestamp: int | None = None,
    ) -> Delivery:
        """A slash command, form-encoded as Slack sends it (default channel: the user's DM)."""
        channel = channel_id or self._dm(user_id)
        name = self.workspace.channel_name(channel) if self.workspace else None
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": name or ("directmessage" if channel.startswith("D") else channel),
            "user_id": user_id,
            "user_name": self._user_name(user_id),
            "command": command if command.startswith("/") else f"/{command}",
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(channel, user_id, None),
            "trigger_id": self._trigger_for(user_id, trigger_id),
        }
        return await self._form(fields, forged=forged, timestamp=timestamp)

    # -------------------------------------------------------------- interactions

    async def block_action(
        self,
        user_id: str,
        action_id: str,
        value: str | None = None,
        *,
        block_id: str | None = None,
        channel_id: str | None = None,
        message_ts: str | None = None,
        message: dict[str, Any] | None = None,
        selected_option: Any = None,
        selected_options: list[Any] | None = None,
        selected_date: str | dt.date | None = None,
        view: dict[str, Any] | None = None,
        container: dict[str, Any] | None = None,
        trigger_id: str | None = None,
        action_type: str = "button",
        state_values: Mapping[str, Any] | None = None,
        forged: bool = False,
        timestamp: int | None = None,
    ) -> Delivery:
        """A ``block_actions`` interaction: a click/selection on a message or in a view.

        For a message, pass ``channel_id`` + ``message_ts`` (the message is taken
        from the workspace when not given); for a modal or App Home pass ``view``.
        The element (type, button text, block_id) is looked up in the blocks, so
        usually ``action_id`` and a value are all that is needed.
        """
        if view is None and message is None and channel_id and message_ts and self.workspace:
            message = self.workspace.message(channel_id, message_ts)
        blocks = (view or message or {}).get("blocks", [])
        found_block, element = blockcheck.find_element(blocks, action_id, block_id)
        etype = element.get("type", action_type) if element else action_type
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or found_block or blockcheck.auto_id(action_id),
            "type": etype,
            "action_ts": self._action_ts(),
        }
        if etype == "button":
            el = element or {}
            action["text"] = el.get("text", {"type": "plain_text", "text": action_id})
            button_value = value if value is not None else el.get("value")
            if button_value is not None:
                action["value"] = button_value
            if "style" in el:
                action["style"] = el["style"]
        elif selected_option is not None:
            action["selected_option"] = _option(element, selected_option)
        elif selected_options is not None:
            action["selected_options"] = [_option(element, v) for v in selected_options]
        elif selected_date is not None:
            action["selected_date"] = (
                selected_date.isoformat() if isinstance(selected_date, dt.date) else selected_date
            )
        elif value is not None:
            action.update(state_value(etype, value, element))

        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": self._trigger_for(user_id, trigger_id),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "actions": [action],
        }
        if view is not None:
            view_copy = dict(view)
            view_copy.setdefault("state", {"values": {}})
            if state_values is not None:
                view_copy["state"] = {"values": self.view_state(view, state_values)}
            payload["container"] = container or {
                "type": "view",
                "view_id": view.get("id", ""),
            }
            payload["view"] = view_copy
        else:
            channel = channel_id or self._dm(user_id)
            msg_ts = message_ts or (message or {}).get("ts") or f"{self._clock():.6f}"
            payload["container"] = container or {
                "type": "message",
                "message_ts": msg_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            }
            name = self.workspace.channel_name(channel) if self.workspace else None
            payload["channel"] = {"id": channel, "name": name or "directmessage"}
            payload["message"] = message or {"type": "message", "ts": msg_ts, "text": ""}
            payload["state"] = {
                "values": self.view_state({"blocks": blocks}, state_values or {})
                if state_values
                else {}
            }
            payload["response_url"] = self._response_url(channel, user_id, msg_ts)
        return await self._interaction(payload, forged=forged, timestamp=timestamp)

    def view_state(self, view: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """Build ``view.state.values`` for a view from simple values.

        ``values`` is keyed by action_id (``{"reason": "text"}``) or by block_id
        (``{"reason_block": {"reason": "text"}}``). Every input block appears,
        unfilled ones with Slack's empty shapes; other elements only when given.
        """
        state: dict[str, dict[str, Any]] = {}
        blocks = blockcheck.fill_ids(list(view.get("blocks") or []))
        for block in blocks:
            if not isinstance(block, dict):
                continue
            block_id = block.get("block_id", "")
            is_input = block.get("type") == "input"
            for element in blockcheck.interactive_elements(block):
                action_id = element.get("action_id", "")
                per_block = values.get(block_id)
                if isinstance(per_block, Mapping) and action_id in per_block:
                    chosen, given = per_block[action_id], True
                elif action_id in values:
                    chosen, given = values[action_id], True
                else:
                    chosen, given = None, False
                if given or is_input:
                    state.setdefault(block_id, {})[action_id] = state_value(
                        element.get("type", "plain_text_input"), chosen, element
                    )
        return state

    async def view_submission(
        self,
        user_id: str,
        view: dict[str, Any],
        values: Mapping[str, Any],
        *,
        callback_id: str | None = None,
        private_metadata: str | None = None,
        forged: bool = False,
        timestamp: int | None = None,
    ) -> Delivery:
        """A ``view_submission`` with ``view.state.values`` filled as Slack does.

        ``view`` is best the object ``views.open`` returned (it carries id, hash and
        generated block ids); ``callback_id``/``private_metadata`` override the view's.
        """
        submitted = self._submitted_view(view, callback_id, private_metadata)
        submitted["state"] = {"values": self.view_state(view, values)}
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": self._trigger_for(user_id, None),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self._interaction(payload, forged=forged, timestamp=timestamp)

    async def view_closed(
        self,
        user_id: str,
        view: dict[str, Any],
        *,
        is_cleared: bool = False,
        forged: bool = False,
        timestamp: int | None = None,
    ) -> Delivery:
        """A ``view_closed`` interaction (sent only for views with ``notify_on_close``)."""
        payload = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "view": self._submitted_view(view, None, None),
            "is_cleared": is_cleared,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self._interaction(payload, forged=forged, timestamp=timestamp)

    def _submitted_view(
        self, view: Mapping[str, Any], callback_id: str | None, private_metadata: str | None
    ) -> dict[str, Any]:
        out = dict(view)
        out["blocks"] = blockcheck.fill_ids(list(view.get("blocks") or []))
        out.setdefault("id", f"V{secrets.token_hex(5).upper()}")
        out.setdefault("team_id", self.team_id)
        out.setdefault("type", "modal")
        out.setdefault("hash", f"{int(self._clock())}.{secrets.token_hex(4)}")
        out.setdefault("app_id", self.api_app_id)
        out.setdefault("root_view_id", out["id"])
        out.setdefault("previous_view_id", None)
        out["callback_id"] = callback_id if callback_id is not None else view.get("callback_id", "")
        out["private_metadata"] = (
            private_metadata if private_metadata is not None else view.get("private_metadata", "")
        )
        return out

    # ------------------------------------------------------------------ events

    async def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        forged: bool = False,
        timestamp: int | None = None,
    ) -> Delivery:
        """An Events API ``event_callback``; ``retry_num`` marks it as one of Slack's retries.

        Slack retries with the same ``event_id``, so pass the first delivery's
        ``sent["event_id"]`` back to test de-duplication.
        """
        now = int(self._clock())
        envelope = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_hex(16)}",
        }
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return await self.post(
            json.dumps(envelope, separators=(",", ":")),
            "application/json",
            headers=headers,
            forged=forged,
            timestamp=timestamp,
            sent=envelope,
        )

    async def message_im(
        self,
        user_id: str,
        channel_id: str | None,
        text: str,
        *,
        event_id: str | None = None,
        thread_ts: str | None = None,
        forged: bool = False,
        timestamp: int | None = None,
    ) -> Delivery:
        """A person's DM to the app (``message`` event, ``channel_type: im``).

        With a workspace the message is stored there first, so it has a real ``ts``.
        """
        channel = channel_id or self._dm(user_id)
        if self.workspace is not None:
            stored = self.workspace.add_message(channel, user_id, text, thread_ts=thread_ts)
            ts = stored["ts"]
        else:
            ts = f"{self._clock():.6f}"
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": user_id,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel_type": "im",
            "client_msg_id": str(uuid.uuid4()),
            "team": self.team_id,
            "blocks": [
                {
                    "type": "rich_text",
                    "block_id": blockcheck.auto_id(ts),
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                    ],
                }
            ],
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return await self.event(event, event_id=event_id, forged=forged, timestamp=timestamp)

    async def app_home_opened(
        self,
        user_id: str,
        *,
        tab: str = "home",
        view: dict[str, Any] | None = None,
        event_id: str | None = None,
        forged: bool = False,
        timestamp: int | None = None,
    ) -> Delivery:
        """The ``app_home_opened`` event (``view`` is the currently published Home, if any)."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self._dm(user_id),
            "tab": tab,
            "event_ts": f"{self._clock():.6f}",
        }
        if view is not None:
            event["view"] = view
        return await self.event(event, event_id=event_id, forged=forged, timestamp=timestamp)

    async def url_verification(
        self, challenge: str, *, forged: bool = False, timestamp: int | None = None
    ) -> Delivery:
        """Slack's endpoint check: the bot must echo ``challenge``."""
        body = {
            "token": self.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        return await self.post(
            json.dumps(body),
            "application/json",
            forged=forged,
            timestamp=timestamp,
            sent=body,
        )
