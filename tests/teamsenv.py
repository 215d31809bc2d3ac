"""The Teams transport's test rig: the fake Bot Connector, the real sender and transport,
and a stub renderer (the Adaptive Card renderer is not this rig's business).

Run as ``python -m tests.teamsenv DATABASE_URL SERVICE_URL AUTHORITY CA_FILE``, it is a
sender process that delivers the outbox to the fake until it is killed (the kill -9
tests).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot import delivered, intents
from bot.handlers.teams.auth import MsalTokens
from bot.handlers.teams.conversations import MemoryReferences
from bot.handlers.teams.transport import TeamsCall, TeamsTransport
from bot.journal import OutboxJournal
from bot.outbox import NotReady, OutboxSender
from bot.sandbox.botconnector import FakeBotConnector
from store import sql
from store.db import session_scope
from store.models import OutboxMessage
from store.runner import TxRunner
from tests.slackenv import Clock

# Fictional people (Entra object ids) and channels of the council's tenant.
ALEX = "a1e0c0de-0000-4000-8000-0000000a1e01"
BLAKE = "b1a0c0de-0000-4000-8000-0000000b1a02"
NO_APP = "c0a0c0de-0000-4000-8000-0000000c0a03"  # never installed the app
MASH = "19:mash0000triage@thread.tacv2"
DUTY = "19:duty0000team@thread.tacv2"
ESCALATION = "19:escalate000000@thread.tacv2"
PEOPLE = {ALEX: ("29:1alex", "Alex Example"), BLAKE: ("29:1blake", "Blake Sample"),
          NO_APP: ("29:1noapp", "Casey Noapp")}
CHANNELS = (MASH, DUTY, ESCALATION)


class StubRenderer:
    """Plain text for any intent, with the row's key (to count copies in the fake)."""

    def needs_rows(self, row: sql.OutboxRow) -> bool:
        return intents.kind(intents.intent_of(row)) == intents.UPDATE

    def prepare(self, cx: sql.Cx | None, row: sql.OutboxRow, now: dt.datetime) -> TeamsCall:
        to = intents.Address.of(row)
        data = row.payload
        activity = {"type": "message",
                    "text": f"{data.get('text') or intents.intent_of(row)} [{row.idempotency_key}]"}
        if intents.kind(intents.intent_of(row)) == intents.UPDATE:
            assert cx is not None
            _, message_id = delivered.where_row_put(cx, data["of_key"])
            if message_id is None:
                raise NotReady(data["of_key"])
            return TeamsCall(activity, to.id, dm=to.is_person, activity_id=message_id)
        return TeamsCall(activity, to.id, dm=to.is_person, reply_to=data.get("thread"))


def key_of(activity: dict[str, Any]) -> str:
    """The outbox key the stub renderer put in an activity's text."""
    return str(activity.get("text", "")).rsplit("[", 1)[-1].rstrip("]")


def copies(fake: FakeBotConnector) -> Counter[str]:
    """How many times each outbox key is in Teams."""
    return Counter(key_of(a) for c in fake.conversations.values() for a in c.activities)


def seed(fake: FakeBotConnector) -> None:
    for aad, (pid, name) in PEOPLE.items():
        fake.add_person(pid, name, aad, installed=aad != NO_APP)
    for channel in CHANNELS:
        fake.add_channel(channel)


def say(db: Any, key: str, to: str, text: str, **kwargs: Any) -> bool:
    """Queue plain words (a ``notice``) to a person (Entra id) or a channel (``19:…``)."""
    thread = kwargs.pop("thread", None)
    address = intents.conversation(to) if to.startswith("19:") else intents.person(to)
    data = {"text": text, **({"thread": thread} if thread else {})}
    return intents.queue(db, intents.NOTICE, key=key, to=address, data=data,
                         platform="teams", **kwargs)


def rows(engine: Engine) -> dict[str, OutboxMessage]:
    with session_scope(engine) as s:
        return {r.idempotency_key: r
                for r in s.exec(select(OutboxMessage)).scalars()}  # type: ignore[call-overload]


@dataclass
class Rig:
    fake: FakeBotConnector
    transport: TeamsTransport
    tokens: MsalTokens
    sender: OutboxSender
    clock: Clock
    engine: Engine

    def queue(self, *items: tuple[str, str, str], **kwargs: Any) -> None:
        """Queue (key, to, text) notices, due at the rig's clock."""
        with session_scope(self.engine, write=True) as s:
            for key, to, text in items:
                say(s, key, to, text, not_before=self.clock.now, **kwargs)

    async def drain(self, rounds: int = 40, step: dt.timedelta = dt.timedelta(minutes=6)
                    ) -> int:
        """Sweep, moving the clock past every wait, until no row is owed."""
        for done in range(1, rounds + 1):
            await self.sender.run_once()
            if all(r.status in ("sent", "dead") for r in rows(self.engine).values()):
                return done
            self.clock.advance(seconds=step.total_seconds())
        owed = [(k, r.status, r.last_error) for k, r in rows(self.engine).items()]
        raise AssertionError(f"still owed after {rounds} rounds: {owed}")


def build(fake: FakeBotConnector, engine: Engine, http: aiohttp.ClientSession, *,
          clock: Clock, pace: float = 0.0, lease: dt.timedelta = dt.timedelta(seconds=60),
          renderer: Any = None, **tokens: Any) -> Rig:
    """The real sender and transport, against ``fake`` (``renderer``: the real one, where
    a test reads the cards; else the stub)."""
    token_source = MsalTokens(fake.app_id, fake.password, fake.tenant_id,
                              authority=fake.authority, ca_file=fake.ca_file, **tokens)
    runner = TxRunner(engine)
    transport = TeamsTransport(http, token_source, service_url=fake.service_url,
                               tenant_id=fake.tenant_id, app_id=fake.app_id,
                               references=MemoryReferences(), journal=OutboxJournal(runner),
                               pace=pace)
    sender = OutboxSender(engine, transport, renderer=renderer or StubRenderer(),
                          escalation_channel=ESCALATION, clock=clock, pace=0,
                          max_attempts=4, lease=lease, runner=runner)
    return Rig(fake, transport, token_source, sender, clock, engine)


@asynccontextmanager
async def teams_rig(engine: Engine, **kwargs: Any) -> AsyncIterator[Rig]:
    async with FakeBotConnector() as fake, aiohttp.ClientSession() as http:
        seed(fake)
        yield build(fake, engine, http,
                    clock=Clock(dt.datetime.now(dt.UTC).replace(microsecond=0)), **kwargs)


async def _serve(database_url: str, service_url: str, authority: str, ca_file: str) -> None:
    """A sender process: the outbox to the fake, until killed."""
    from bot.sandbox import botconnector
    from store.db import make_engine

    engine = make_engine(database_url)
    async with aiohttp.ClientSession() as http:
        tokens = MsalTokens(botconnector.DEFAULT_APP_ID, botconnector.DEFAULT_APP_PASSWORD,
                            botconnector.DEFAULT_TENANT_ID, authority=authority, ca_file=ca_file)
        runner = TxRunner(engine)
        transport = TeamsTransport(
            http, tokens, service_url=service_url, tenant_id=botconnector.DEFAULT_TENANT_ID,
            app_id=botconnector.DEFAULT_APP_ID, references=MemoryReferences(),
            journal=OutboxJournal(runner), pace=0)
        sender = OutboxSender(engine, transport, renderer=StubRenderer(), pace=0,
                              escalation_channel=ESCALATION, runner=runner)
        await sender.run_forever(asyncio.Event(), idle=0.05)


if __name__ == "__main__":
    asyncio.run(_serve(*sys.argv[1:5]))
