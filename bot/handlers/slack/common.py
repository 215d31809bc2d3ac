"""Helpers shared by the listeners: the services from the request's context, commit-then-ack,
private replies, errors.

Every listener module has one ``register(app)`` that registers module-level functions.
The process's :class:`Services` reach a listener through Bolt's ``context``
(:class:`GiveServices`, installed once by ``app.build_app``); a listener gets them with
:func:`services`, or, through :func:`on_action` / :func:`on_submit`, as the first
argument of its work: ``work(sv, body, action)``. A work function is a plain coroutine,
so it can be called (and tested) without HTTP.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import OperationalError

from bot.flows.guided.validate import guard as guard_findings
from bot.handlers.slack.blocks import ids
from bot.handlers.slack.blocks.flow import ASK_ORDINARY, ASK_REPHRASE, could_identify
from bot.handlers.slack.render import said
from bot.services import Services

log = logging.getLogger("frontdoor.handlers")
P = ParamSpec("P")
T = TypeVar("T")

BUSY = (
    "Front Door is busy and could not save that just now. Nothing was lost: "
    "please try again in a minute."
)
BROKEN = (
    "Something went wrong on our side and that did not go through. Your answers so far "
    "are saved: please try again, and if it keeps happening tell the front door team."
)


SERVICES = "frontdoor_services"  # the key of the Services in a request's context


class GiveServices(AsyncMiddleware):
    """Bolt middleware putting the services in every request's context (see
    :func:`services`). A class rather than a function: Bolt calls it directly, without
    inspecting arguments on each request (every click passes here)."""

    def __init__(self, sv: Services) -> None:
        self.sv = sv

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # noqa: A002 - Bolt's name for it
    ) -> BoltResponse | None:
        """Give the services, then go on along the chain."""
        req.context[SERVICES] = self.sv
        return await next()


def services(context: AsyncBoltContext) -> Services:
    """The process's services, from a request's context."""
    return context[SERVICES]  # type: ignore[no-any-return]


async def shielded(sv: Services, body: dict[str, Any], work: Awaitable[None], name: str) -> None:
    """Run a listener's work after its ack; a failure is logged (without user text) and
    told to the person in plain words, never as a stack trace."""
    try:
        await work
    except Exception as exc:  # noqa: BLE001 - the user must hear something
        await failed(sv, body, exc, name)


async def failed(sv: Services, body: dict[str, Any], exc: Exception, name: str) -> None:
    """Log a listener's failure (its kind, never user text) and tell the person."""
    busy = isinstance(exc, OperationalError)
    log.error("%s failed: %s", name, type(exc).__name__, exc_info=None if busy else exc)
    user, channel = _who(body)
    if user:
        await tell(sv, user, channel, BUSY if busy else BROKEN)


def guarded(fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Wrap work ``fn(sv, *, body=..., ...)`` so that it runs ``shielded``."""

    @functools.wraps(fn)
    async def listener(sv: Services, **kwargs: Any) -> None:
        await shielded(sv, kwargs.get("body") or {}, fn(sv, **kwargs), fn.__name__)

    return listener


After = Callable[[], Awaitable[Any]]
"""The slow part of a listener (sending, opening a modal, a private note): run after the ack."""


@dataclass(frozen=True)
class Refuse:
    """A modal submission refused field by field: shown in the modal, nothing saved."""

    errors: dict[str, str]


Outcome = After | Refuse | None
Work = Callable[[Services, dict[str, Any], dict[str, Any]], Awaitable[Outcome]]
"""``work(sv, body, action_or_view)``: a listener's checks and its commit."""


def later(fn: Callable[P, Awaitable[Any]], *args: P.args, **kwargs: P.kwargs) -> After:
    """``fn(*args)`` as the part to run after the ack."""
    return lambda: fn(*args, **kwargs)


def told(sv: Services, user: str, channel: str | None, text: str) -> After:
    """A private note to send after the ack."""
    return later(tell, sv, user, channel, text)


class Result(Protocol):
    """A domain action's result: whether it changed anything, and why not."""

    @property
    def ok(self) -> bool: ...

    message: str


R = TypeVar("R", bound=Result)


def settle(sv: Services, user: str, channel: str | None, result: R,
           ok_text: Callable[[R], str | None] = lambda _r: None) -> After:
    """What a committed action does after the ack: the sender woken for the messages it
    queued, and the person told why nothing changed (or ``ok_text``, when it did)."""

    async def after() -> None:
        sv.sender.kick()
        # The domain names the person a refusal is about as data (``who``): mentioned here.
        text = (said(result.message, getattr(result, "who", "")) if not result.ok
                else ok_text(result))
        if text:
            await tell(sv, user, channel, text)

    return after


async def settled(
    sv: Services, ack: Callable[[], Awaitable[None]], body: dict[str, Any],
    work: Awaitable[Outcome], name: str,
) -> Outcome:
    """Commit first, then ack, then the slow part.

    ``work`` is the listener's checks and its transaction: it returns once the decision
    is committed, and only then is Slack answered. A crash before the commit means no
    answer (Slack shows the person an error; nothing half-done), never an acknowledged
    click that is lost. A failure of the work is acked and told in plain words.
    """
    try:
        outcome = await work
    except Exception as exc:  # noqa: BLE001 - the user must hear something
        await ack()
        await failed(sv, body, exc, name)
        return None
    if not isinstance(outcome, Refuse):
        await ack()
    return outcome


def on_action(app: AsyncApp, action_id: str | re.Pattern[str], work: Work) -> None:
    """Register ``work(sv, body, action)`` for a block action: the work (its checks and its
    commit) runs before the ack; what it returns to do after, after the ack, shielded."""

    async def listener(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                       context: AsyncBoltContext) -> None:
        sv = context[SERVICES]
        name = getattr(work, "__name__", "action")
        outcome = await settled(sv, ack, body, work(sv, body, action), name)
        if isinstance(outcome, Refuse):  # a button has no fields to show errors on
            await ack()
        elif callable(outcome):
            await shielded(sv, body, outcome(), name)

    app.action(action_id)(listener)


def on_submit(
    app: AsyncApp, callback_id: str, work: Work, *, guard: tuple[str, str] | None = None,
) -> None:
    """Register ``work(sv, body, view)`` for a modal submission.

    The ``guard`` field's text passes the no-names guard first: a finding is shown in the
    modal, to that person only, and nothing is saved. Then the work's checks and commit;
    only then the ack (closing the modal, or :class:`Refuse`'s errors shown in it), and
    then what the work returned to do after.
    """

    async def listener(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                       context: AsyncBoltContext) -> None:
        sv = context[SERVICES]
        if guard is not None:
            answer, choice = guard_view(view, guard)
            if answer is not None:
                await ack(**answer)
                return
            if choice is not None:  # the professional's choice, audited without the text
                user = (body.get("user") or {}).get("id") or ""
                await sv.tx.run(lambda tx: tx.audit(
                    actor=user, action=f"nonames.{choice}", subject_type="view",
                    subject_id=callback_id))
        name = getattr(work, "__name__", "submit")
        outcome = await settled(sv, ack, body, work(sv, body, view), name)
        if isinstance(outcome, Refuse):
            await ack(response_action="errors", errors=outcome.errors)
        elif callable(outcome):
            await shielded(sv, body, outcome(), name)

    app.view(callback_id)(listener)


def who(body: dict[str, Any], action: dict[str, Any] | None = None) -> tuple[str, str | None, int]:
    """(user, channel, subject id) of an interaction; the id is the button value's leading
    number (``"12"`` or ``"12:30"``), 0 when there is none."""
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id")
    raw = ""
    if action is not None:
        raw = str(action.get("value") or (action.get("selected_option") or {}).get("value") or "")
    head = raw.split(":")[0]
    return user, channel, int(head) if head.isdigit() else 0


def _who(body: dict[str, Any]) -> tuple[str | None, str | None]:
    user = body.get("user_id") or (body.get("user") or {}).get("id")
    event = body.get("event") or {}
    user = user or event.get("user")
    channel = (
        body.get("channel_id")
        or (body.get("channel") or {}).get("id")
        or event.get("channel")
    )
    return user, channel


async def tell(sv: Services, user: str, channel: str | None, text: str,
               blocks: list[dict[str, Any]] | None = None) -> None:
    """A private note to one person, now (not through the outbox: it may be sensitive).

    Ephemeral in the channel where they acted, or in their DM with the bot.
    """
    try:
        target = channel or await sv.sender.resolve_channel(user)
        await sv.client.chat_postEphemeral(channel=target, user=user, text=text, blocks=blocks)
    except SlackApiError as exc:
        log.warning("could not tell %s: %s", user, exc.response.get("error"))
        try:  # e.g. the bot is not in that channel: fall back to the DM
            dm = await sv.sender.resolve_channel(user)
            await sv.client.chat_postEphemeral(channel=dm, user=user, text=text, blocks=blocks)
        except SlackApiError:
            log.warning("could not reach %s at all", user)


_ORDINARY = "ordinary:"


def guard_view(
    view: dict[str, Any], guard: tuple[str, str]
) -> tuple[dict[str, Any] | None, str | None]:
    """The no-names guard on a modal's free-text field, in both tiers.

    Returns (what to answer the submission with, or None to go on; the professional's
    "is this a name?" choice to audit, or None). Certain findings are a field error; an
    uncertain word redraws the modal with the question under the field ("Could 'destiny'
    identify the child?"); the submission goes on once they say it is an ordinary word.
    """
    text = str(state_value(view, guard) or "")
    choice = state_value(view, ids.IN_NONAMES)
    confirmed: frozenset[str] = frozenset()
    if isinstance(choice, str) and choice.startswith(_ORDINARY):
        try:
            confirmed = frozenset(str(w).casefold() for w in json.loads(choice[len(_ORDINARY):]))
        except ValueError:
            confirmed = frozenset()
    findings = guard_findings(text, confirmed)
    if findings and not findings[0].confirm:
        return {"response_action": "errors",
                "errors": {guard[0]: guard_error([f.label for f in findings])}}, None
    if findings and choice == "rephrase":
        words = ", ".join(f"'{f.word}'" for f in findings)[:200]
        return {"response_action": "errors", "errors": {
            guard[0]: f"You said {words} could identify the child: please rephrase it."}}, None
    if findings:
        return {"response_action": "update",
                "view": _with_question(view, guard, [f.word for f in findings])}, None
    if confirmed:
        return None, "ordinary_word"
    return None, "rephrase" if choice == "rephrase" else None


def _with_question(view: dict[str, Any], guard: tuple[str, str], words: list[str]) -> dict:
    """The modal again, as typed, with the "is this a name?" question under the field."""
    keep = ("type", "callback_id", "title", "submit", "close", "private_metadata",
            "notify_on_close", "external_id")
    new = {k: view[k] for k in keep if k in view}
    values = (view.get("state") or {}).get("values") or {}
    value = json.dumps(sorted({w.casefold() for w in words}), ensure_ascii=False)
    ordinary = _ORDINARY + (value if len(_ORDINARY + value) <= 150 else "[]")
    question = {
        "type": "input", "block_id": ids.IN_NONAMES[0],
        "label": {"type": "plain_text", "text": could_identify(words)[:2000]},
        "element": {"type": "radio_buttons", "action_id": ids.IN_NONAMES[1], "options": [
            {"text": {"type": "plain_text", "text": ASK_REPHRASE}, "value": "rephrase"},
            {"text": {"type": "plain_text", "text": ASK_ORDINARY}, "value": ordinary},
        ]},
    }
    blocks: list[dict[str, Any]] = []
    for block in view.get("blocks") or []:
        if block.get("block_id") == ids.IN_NONAMES[0]:
            continue
        block = copy.deepcopy(block)
        element = block.get("element") if block.get("type") == "input" else None
        state = (values.get(block.get("block_id")) or {}).get((element or {}).get("action_id"))
        for key, initial in _INITIAL.items():
            if element is not None and state and state.get(key) is not None:
                element[initial] = state[key]
        blocks.append(block)
        if block.get("block_id") == guard[0]:
            blocks.append(question)
    new["blocks"] = blocks
    return new


# A submitted input's state key -> the element field that shows it again.
_INITIAL = {"value": "initial_value", "selected_option": "initial_option",
            "selected_options": "initial_options", "selected_date": "initial_date",
            "selected_user": "initial_user"}


def guard_error(findings: list[str]) -> str:
    """A modal field error listing what looks identifying (shown only to the person typing)."""
    listed = "; ".join(findings)
    return (
        f"This could identify a child ({listed}). Please rewrite it without names, dates of "
        "birth, addresses, postcodes, phone numbers, e-mail addresses, NHS/NI numbers or a "
        "named school and class."
    )[:2000]


def state_value(view: dict[str, Any], pair: tuple[str, str]) -> Any:
    """A modal input's value (text, selected option's value, or date)."""
    block, action = pair
    v = ((view.get("state") or {}).get("values") or {}).get(block, {}).get(action, {})
    if v.get("selected_option"):
        return v["selected_option"].get("value")
    if v.get("selected_options") is not None:
        return [o.get("value") for o in v["selected_options"]]
    for key in ("value", "selected_date", "selected_user"):
        if v.get(key) is not None:
            return v[key]
    return None

