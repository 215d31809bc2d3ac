"""A whole Slack conversation in a test: the real Bolt app over HTTP, a fake Web API,
signed requests, and a clock the test moves (no sleeping).

``SlackEnv`` also *plays* a person: it reads the last question the bot posted in
that person's DM and clicks or types the answer, the way a professional would.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, make_url, select

from bot import intents, nonames
from bot.config import Settings
from bot.handlers.slack.blocks import ids
from bot.handlers.slack.blocks.flow import ANSWER_ACTION_RE
from bot.policy import Policy, load_policy
from bot.sandbox import demo
from bot.sandbox.signing import Delivery, SlackSender
from bot.sandbox.webapi import FakeSlack
from bot.server import Running, running
from store import sql
from store.db import session_scope
from store.models import OutboxMessage

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"

TEACHER = "U0TEACHER"
HEALTH = "U0HEALTH"
MANAGER = "U0MANAGER"
MANAGER2 = "U0MANAGER2"
ADVISOR = "U0ADVISOR"
OUTSIDER = "U0OUTSIDER"


@dataclass
class Clock:
    """The test's clock: aware, moved by the test."""

    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> dt.datetime:
        """Move forward by a timedelta's keyword arguments."""
        self.now = self.now + dt.timedelta(**kwargs)
        return self.now


@dataclass
class SlackEnv:
    """The fake workspace, the running bot, and a sender that plays Slack."""

    fake: FakeSlack
    bot: Running
    sender: SlackSender
    clock: Clock
    policy: Policy
    database_url: str
    answered: list[str] = field(default_factory=list)

    async def drain(self, rounds: int = 500) -> None:
        """Deliver everything queued now, and wait for deliveries already in flight.

        The bot's own sender loop runs too, so a row may be mid-delivery there:
        wait (on the database's state, not a fixed time) until none is.
        """
        for _ in range(rounds):
            await self.bot.sv.sender.run_once()
            if await asyncio.to_thread(self._in_flight) == 0:
                return
            await asyncio.sleep(0.005)
        raise AssertionError("the outbox did not drain")

    def _in_flight(self) -> int:
        now = dt.datetime.now(dt.UTC)
        with session_scope(self.bot.sv.engine) as s:
            stmt = select(func.count()).select_from(OutboxMessage).where(
                (OutboxMessage.status == "sending")
                | ((OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now)))
            return int(s.exec(stmt).scalar_one())  # type: ignore[call-overload]

    def posted(self, subject: Any, subject_type: str = "card") -> tuple[str, str]:
        """(channel, ts) of a card's (or consultation's) message, from ``message_ref``:
        ("", "") before it was queued and delivered."""
        with session_scope(self.bot.sv.engine) as s:
            at = sql.where(sql.Cx.of(s), subject_type, subject.id, "post")
        return (at.conversation, at.message_id or "") if at else ("", "")

    def dm_id(self, user: str) -> str:
        """The DM channel between the bot and ``user``."""
        return self.fake.dm_channel(user)

    def dm(self, user: str) -> list[dict[str, Any]]:
        """The bot's messages in ``user``'s DM, oldest first."""
        return [m for m in self.fake.history(self.dm_id(user)) if m.get("bot_id") or
                m.get("user") == self.fake.bot_user_id]

    def last_question(self, user: str) -> dict[str, Any] | None:
        """The newest DM message that asks a question (has a ``q:`` block)."""
        for msg in reversed(self.dm(user)):
            for block in msg.get("blocks") or []:
                if str(block.get("block_id", "")).startswith(f"{ids.QUESTION_BLOCK_PREFIX}:"):
                    return msg
        return None

    async def answer(self, user: str, choose: dict[str, Any] | None = None) -> str:
        """Answer the current question as a person would; returns the question id.

        ``choose`` maps a question id to an option value, a list of values, a
        date, or text; otherwise the first option (or a plain sentence) is used.
        """
        choose = choose or {}
        msg = self.last_question(user)
        assert msg is not None, f"no question in {user}'s DM: {self.dm(user)[-1:]}"
        block, qid = _question_block(msg)
        wanted = choose.get(qid)
        elements = block.get("elements") or ([block["accessory"]] if block.get("accessory")
                                             else [])
        self.answered.append(qid)
        multi = next((e for e in elements if e.get("action_id") == ids.FLOW_MULTI), None)
        if multi is not None:
            options = multi["options"]
            values = wanted if isinstance(wanted, list) else [options[0]["value"]]
            await self._click(user, msg, block, ids.FLOW_MULTI_DONE, None,
                              state_values={ids.FLOW_MULTI: values})
            return qid
        for el in elements:
            aid = el.get("action_id")
            if aid == ids.FLOW_DATE:
                await self._click(user, msg, block, aid, None, action_type="datepicker",
                                  selected_date=wanted or "2026-11-20")
                return qid
            if aid == ids.FLOW_ANSWER and el.get("type") == "static_select":
                options = [o for g in el.get("option_groups", [{"options": el.get("options")}])
                           for o in g["options"]]
                opt = next((o for o in options if o["value"] == wanted), options[0])
                await self._click(user, msg, block, aid, None, action_type="static_select",
                                  selected_option=opt)
                return qid
        buttons = [e for e in elements if e.get("type") == "button"
                   and ANSWER_ACTION_RE.match(str(e.get("action_id")))]
        if buttons:
            btn = next((b for b in buttons if b.get("value") == wanted), buttons[0])
            await self._click(user, msg, block, btn["action_id"], btn.get("value"))
            return qid
        text = wanted if isinstance(wanted, str) else "The worry is described in general terms."
        await self.sender.message_im(user, self.dm_id(user), text)
        return qid

    async def _click(self, user: str, msg: dict[str, Any], block: dict[str, Any], action_id: str,
                     value: str | None, **kwargs: Any) -> Delivery:
        delivery = await self.sender.block_action(
            user, action_id, value, block_id=block["block_id"], channel_id=self.dm_id(user),
            message_ts=msg["ts"], message=msg, **kwargs)
        assert delivery.status == 200, delivery
        return delivery

    async def click_card(self, user: str, channel: str, ts: str, action_id: str,
                         value: str | None = None) -> Delivery:
        """Click a button on a card in a channel."""
        msg = self.fake.message(channel, ts)
        assert msg is not None
        for block in msg.get("blocks") or []:
            for el in block.get("elements") or ([block["accessory"]] if block.get("accessory")
                                                else []):
                if el.get("action_id") == action_id:
                    return await self.sender.block_action(
                        user, action_id, value or el.get("value"), block_id=block.get("block_id"),
                        channel_id=channel, message_ts=ts, message=msg)
        raise AssertionError(f"no {action_id} on the card: {msg.get('blocks')}")


def notice(db: Any, key: str, channel: str, text: str, **kwargs: Any) -> bool:
    """Queue plain words (a ``notice`` intent) to a Slack user or channel ID; ``kwargs``
    as ``intents.queue`` takes them (``claim``, ``not_before``, ``thread``: a message's
    ts to answer in its thread)."""
    thread = kwargs.pop("thread", None)
    to = (intents.person(channel) if channel.startswith(("U", "W"))
          else intents.conversation(channel))
    data = {"text": text, **({"thread": thread} if thread else {})}
    return intents.queue(db, intents.NOTICE, key=key, to=to, data=data, **kwargs)


def drawn(row: Any, policy: Policy | None = None, cx: Any = None) -> dict[str, Any]:
    """What Slack is sent for an outbox row (its intent drawn by the Slack renderer; ``cx``
    for the intents drawn from the database, e.g. cards)."""
    from bot.handlers.slack.render import SlackRenderer

    call = SlackRenderer(policy).prepare(cx, row, dt.datetime.now(dt.UTC))
    assert call is not None, f"nothing to send for {row.idempotency_key}"
    return call.args


def _question_block(msg: dict[str, Any]) -> tuple[dict[str, Any], str]:
    for block in msg.get("blocks") or []:
        bid = str(block.get("block_id", ""))
        if bid.startswith(f"{ids.QUESTION_BLOCK_PREFIX}:"):
            return block, bid.split(":", 2)[2]
    raise AssertionError("no question block")


def seed(fake: FakeSlack, policy: Policy) -> None:
    """The demo people and the policy's channels (shared with ``frontdoor sandbox``)."""
    demo.seed(fake, policy)


class TypingSender(SlackSender):
    """A sender that remembers what people typed (DMs, slash-command text, modal fields)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.typed: list[str] = []

    async def message_im(self, user_id: str, channel_id: str | None, text: str,
                         **kwargs: Any) -> Delivery:
        self.typed.append(text)
        return await super().message_im(user_id, channel_id, text, **kwargs)

    async def slash_command(self, user_id: str, command: str, text: str = "",
                            *args: Any, **kwargs: Any) -> Delivery:
        self.typed.append(text)
        return await super().slash_command(user_id, command, text, *args, **kwargs)

    async def view_submission(self, user_id: str, view: dict[str, Any], values: Any,
                              **kwargs: Any) -> Delivery:
        self.typed.extend(_strings(values))
        return await super().view_submission(user_id, view, values, **kwargs)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


class _Records(logging.Handler):
    """Every log line the bot writes while a test runs, as it would be written."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("frontdoor"):  # ours; Bolt's DEBUG lines are off in serve
            self.lines.append(self.format(record))


def refused_identifiers(typed: list[str]) -> set[str]:
    """What the guard refuses in text people typed: none of it may be kept anywhere."""
    return {
        text[f.start : f.end] for text in typed for f in nonames.scan(text)
        if not f.confirm and len(text[f.start : f.end]) >= 4
    }


def assert_nowhere(identifiers: set[str], database_url: str, log_lines: list[str]) -> None:
    """None of ``identifiers`` is in the SQLite file, its -wal, or the log (bytes grepped)."""
    database = make_url(database_url).database
    raw = b"".join(
        p.read_bytes() for p in Path(database).parent.glob(Path(database).name + "*")
    ) if database and database != ":memory:" else b""
    logged = "\n".join(log_lines)
    for ident in sorted(identifiers):
        assert ident.encode() not in raw, f"{ident!r} was typed, refused, and stored"
        assert ident not in logged, f"{ident!r} was typed, refused, and logged"


@contextlib.asynccontextmanager
async def slack_env(database_url: str, *, start: dt.datetime, policy: str = "cambridgeshire",
                    pace: float = 0.0, wall: Callable[[], float] = time.time,
                    ) -> AsyncIterator[SlackEnv]:
    """Start the fake workspace and the real bot in HTTP mode on loopback. ``wall`` is
    real time as both Slack (signing) and the bot (the signature's age) read it.

    On the way out, every identifier the guard refuses in what the test typed is looked for
    in the database file (and its write-ahead log) and in the log: it must be in neither.
    """
    pol = load_policy(policy)
    clock = Clock(start)
    records = _Records()
    logging.getLogger().addHandler(records)
    try:
        async with FakeSlack(tokens=[TOKEN]) as fake:
            seed(fake, pol)
            settings = Settings(bot_token=TOKEN, signing_secret=SECRET, api_url=fake.base_url,
                                database_url=database_url, port=0)
            async with running(settings, policy=pol, reminders=False, host="127.0.0.1",
                               clock=clock, pace=pace, http_mode=True, wall=wall) as bot:
                url = f"http://127.0.0.1:{bot.port}/slack/events"
                async with TypingSender(url, SECRET, clock=wall, workspace=fake) as sender:
                    yield SlackEnv(fake, bot, sender, clock, pol, database_url)
                    typed = list(sender.typed)
        await asyncio.to_thread(
            assert_nowhere, refused_identifiers(typed), database_url, records.lines)
    finally:
        logging.getLogger().removeHandler(records)
