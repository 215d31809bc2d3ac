"""The shape of a Slack request body, checked before Bolt sees it.

Bolt and the listeners read a body as Slack builds it (``body["user"]["id"]``,
``actions[0]["action_id"]``, a view's ``state.values``): a signed body of another
shape made them raise, and the sender got a 500 (issue 15). :func:`read` checks
each payload type the bot receives, field by field where it is read, and says
what the request is: a malformed one is refused (400) before anything runs, and
a well-formed one of a kind the bot does not use is answered 200 and dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 48  # Slack's deepest (rich text in a message in a view) is about 15
_CONTAINERS = (dict, list)  # a tuple: isinstance against a union type is slower


class Malformed(ValueError):
    """A body Slack would not send: refused with a 400 (the reason is for a log line)."""


@dataclass(frozen=True)
class Envelope:
    """What a well-formed request is."""

    kind: str  # the payload type, "command", or the event type for an event callback
    user: str | None  # the person acting, to be checked; None when the request has none
    handled: bool = True  # False: a kind the bot does not use (answered 200, dropped)
    changes: bool = False  # may change state: taken once only (see ``bot.replay``)


def read(body: Any) -> Envelope:
    """What ``body`` (as Bolt decoded it) is; raises ``Malformed``."""
    if not isinstance(body, dict):
        raise Malformed("not an object")
    _depth(body)
    if "ssl_check" in body:  # Slack's certificate check: Bolt answers it
        return Envelope("ssl_check", None)
    if "command" in body and "type" not in body:
        return _command(body)
    kind = body.get("type")
    if not isinstance(kind, str):
        raise Malformed("no type")
    check = _BY_TYPE.get(kind)
    if check is None:
        raise Malformed("unknown type")
    return check(body)


# --- field checks ------------------------------------------------------------


def _depth(body: Any) -> None:
    # Level by level, containers only (half the time of visiting every value, and every
    # click pays it); iterative, so a deep body cannot exhaust the stack here. A value at
    # depth d (the body's are at 2) is refused past MAX_DEPTH, a scalar as a container.
    level, depth = [body], 1
    while level:
        if depth >= MAX_DEPTH:  # anything inside these is past it
            if any(level):
                raise Malformed("nested too deep")
            return
        level = [item for value in level
                 for item in (value.values() if isinstance(value, dict) else value)
                 if isinstance(item, _CONTAINERS)]
        depth += 1


def _field(obj: dict[str, Any], key: str, kind: type, what: str, required: bool) -> Any:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind):
        raise Malformed(f"{key} is not {what}")
    return value


def _str(obj: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    return _field(obj, key, str, "text", required)  # type: ignore[no-any-return]


def _obj(obj: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any] | None:
    return _field(obj, key, dict, "an object", required)  # type: ignore[no-any-return]


def _list(obj: dict[str, Any], key: str, *, required: bool = False) -> list[Any] | None:
    return _field(obj, key, list, "a list", required)  # type: ignore[no-any-return]


def _id_of(obj: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    """``obj[key]["id"]`` (a user, team, channel...): an object, as the listeners read it."""
    held = _obj(obj, key, required=required)
    return None if held is None else _str(held, "id", required=required)


def _common(body: dict[str, Any]) -> None:
    """Fields Bolt reads from every body to build its context."""
    for key in ("team", "enterprise", "channel"):
        _id_of(body, key)
    for key in ("team_id", "enterprise_id", "api_app_id", "trigger_id", "response_url",
                "token", "event_id"):
        _str(body, key)
    auths = _list(body, "authorizations")
    for a in auths or []:
        if not isinstance(a, dict):
            raise Malformed("authorization is not an object")
        for key in ("team_id", "enterprise_id", "user_id"):
            _str(a, key)
    for key in ("is_enterprise_install",):
        if body.get(key) is not None and not isinstance(body[key], bool | str):
            raise Malformed(f"{key} is not a flag")
    for key in ("container", "message", "state"):
        _obj(body, key)


def _user(body: dict[str, Any]) -> str:
    user = _id_of(body, "user", required=True)
    assert user is not None
    return user


def _option(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not isinstance(value.get("value"), str):
        raise Malformed("option without a value")


def _element(el: Any) -> None:
    """An action, or a modal input's state: the value fields the listeners read."""
    if not isinstance(el, dict):
        raise Malformed("element is not an object")
    for key in ("type", "value", "selected_date", "selected_user", "selected_time",
                "selected_channel", "selected_conversation"):
        _str(el, key)
    _option(el.get("selected_option"))
    for opt in _list(el, "selected_options") or []:
        _option(opt)
    for u in _list(el, "selected_users") or []:
        if not isinstance(u, str):
            raise Malformed("selected user is not an id")


def _state(holder: dict[str, Any]) -> None:
    state = _obj(holder, "state")
    if state is None:
        return
    values = _obj(state, "values")
    for block in (values or {}).values():
        if not isinstance(block, dict):
            raise Malformed("state block is not an object")
        for el in block.values():
            _element(el)


def _view(body: dict[str, Any]) -> dict[str, Any]:
    view = _obj(body, "view", required=True)
    assert view is not None
    for key in ("id", "hash", "private_metadata", "root_view_id", "previous_view_id",
                "external_id", "team_id", "app_id", "bot_id"):
        _str(view, key)
    for key in ("callback_id", "type"):  # Bolt reads both
        _str(view, key, required=True)
    _list(view, "blocks")
    _state(view)
    return view


# --- payload types -------------------------------------------------------------


def _block_actions(body: dict[str, Any]) -> Envelope:
    _common(body)
    user = _user(body)
    _str(body, "trigger_id", required=True)  # a modal opens with it
    actions = _list(body, "actions", required=True)
    if not actions:
        raise Malformed("no actions")
    for a in actions:
        _element(a)
        _str(a, "action_id", required=True)
        _str(a, "block_id")
        _str(a, "action_ts")
    _state(body)
    if body.get("view") is not None:
        _view(body)
    return Envelope("block_actions", user, changes=True)


def _view_submission(body: dict[str, Any]) -> Envelope:
    _common(body)
    user = _user(body)
    _view(body)
    return Envelope("view_submission", user, changes=True)


def _unused(kind: str, *required: str) -> Callable[[dict[str, Any]], Envelope]:
    """A payload type the bot registers nothing for: checked, then answered 200."""

    def check(body: dict[str, Any]) -> Envelope:
        _common(body)
        user = _user(body)
        for key in required:
            _str(body, key, required=True)
        return Envelope(kind, user, handled=False)

    return check


def _view_closed(body: dict[str, Any]) -> Envelope:
    _common(body)
    user = _user(body)
    _view(body)
    return Envelope("view_closed", user, handled=False)


def _interactive_message(body: dict[str, Any]) -> Envelope:
    _common(body)
    user = _user(body)
    _str(body, "callback_id", required=True)
    actions = _list(body, "actions", required=True)
    if not actions or not all(isinstance(a, dict) for a in actions):
        raise Malformed("no actions")
    return Envelope("interactive_message", user, handled=False)


def _command(body: dict[str, Any]) -> Envelope:
    for key in ("command", "user_id", "trigger_id"):  # a modal opens with the trigger
        _str(body, key, required=True)
    for key in ("text", "channel_id", "team_id", "trigger_id", "response_url",
                "enterprise_id", "api_app_id"):
        _str(body, key)
    if not str(body["command"]).startswith("/"):
        raise Malformed("not a command")
    return Envelope("command", body["user_id"], changes=True)


EVENTS_USED = ("message", "app_home_opened")


def _event_callback(body: dict[str, Any]) -> Envelope:
    _common(body)
    event = _obj(body, "event", required=True)
    assert event is not None
    kind = _str(event, "type", required=True)
    for key in ("message", "previous_message", "workflow_step"):  # Bolt reads into them
        _obj(event, key)
    if kind not in EVENTS_USED:  # (their fields differ: user_change's user is an object)
        return Envelope(f"event:{kind}", None, handled=False)
    for key in ("user", "text", "channel", "channel_type", "subtype", "bot_id", "ts",
                "thread_ts", "tab", "event_ts"):
        _str(event, key)
    user = event.get("user")
    if kind == "message" and (event.get("subtype") or event.get("bot_id")
                              or event.get("channel_type") != "im"):
        user = None  # an edit, a bot's own message, a channel: the listener ignores it
    elif kind == "app_home_opened" and user is None:
        raise Malformed("no user")
    # Typed answers are taken once by their event_id in the flow's own transaction.
    return Envelope(f"event:{kind}", user)


def _url_verification(body: dict[str, Any]) -> Envelope:
    _str(body, "challenge", required=True)
    return Envelope("url_verification", None)


def _rate_limited(body: dict[str, Any]) -> Envelope:
    return Envelope("app_rate_limited", None, handled=False)


_BY_TYPE: dict[str, Callable[[dict[str, Any]], Envelope]] = {
    "block_actions": _block_actions,
    "view_submission": _view_submission,
    "view_closed": _view_closed,
    "shortcut": _unused("shortcut", "callback_id", "trigger_id"),
    "message_action": _unused("message_action", "callback_id", "trigger_id"),
    "interactive_message": _interactive_message,
    "block_suggestion": _unused("block_suggestion", "action_id"),
    "dialog_submission": _unused("dialog_submission", "callback_id"),
    "dialog_cancellation": _unused("dialog_cancellation", "callback_id"),
    "dialog_suggestion": _unused("dialog_suggestion", "callback_id"),
    "event_callback": _event_callback,
    "url_verification": _url_verification,
    "app_rate_limited": _rate_limited,
}
