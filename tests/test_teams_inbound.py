"""Teams inbound end to end: the real Agents SDK endpoint (``POST /api/messages``) receiving
Teams-shaped activities over HTTP, the real services and database, and a local stand-in for
the tenant's Bot Connector (the activity's ``serviceUrl``) that records what the bot said.

What the bot queues for later (questions, cards, outcomes) is asserted as outbox rows; the
outbox sender does not run here (the Teams transport is another part of issue 19).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWKClient
from microsoft_agents.hosting.core import JwtTokenValidator
from microsoft_agents.hosting.core.authorization._entra_issuers import BOTFRAMEWORK_JWKS_URIS
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    _JwkClientCacheEntry,
)
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import intents
from bot.config import Settings
from bot.flows.guided.models import Kind, Step
from bot.handlers.teams.auth import MsalTokens
from bot.handlers.teams.cards import verbs
from bot.handlers.teams.conversations import MemoryReferences
from bot.handlers.teams.http import PATH, TeamsAuth, routes
from bot.handlers.teams.pending import Pending
from bot.handlers.teams.people import Roster
from bot.policy import Policy, TeamsPeople, load_policy
from bot.sandbox.botconnector import FakeBotConnector
from bot.services import Services
from store.db import session_scope
from store.models import (
    AuditEntry,
    Consultation,
    FlowSession,
    OutboxMessage,
    Professional,
    TriageCard,
)
from tests.adaptive import assert_valid_card
from tests.slackenv import Clock, assert_nowhere, refused_identifiers

LONDON = ZoneInfo("Europe/London")
TUESDAY = dt.datetime(2026, 11, 24, 10, 0, tzinfo=LONDON)  # inside office hours
TENANT = "5f2b1c9e-0000-4000-8000-00000000c0de"
BOT = "28:00000000-0000-4000-8000-0000000000b0"
# Entra object ids of fictional people.
TEACHER = "aa000000-0000-4000-8000-000000000001"
HEALTH = "aa000000-0000-4000-8000-000000000002"
MANAGER = "aa000000-0000-4000-8000-000000000003"
OUTSIDER = "aa000000-0000-4000-8000-000000000004"
ADVISOR = "aa000000-0000-4000-8000-000000000005"
CHANNEL = "19:3a1b2c3d4e5f@thread.tacv2"
SAFE = {"danger": "no", "lado": "no", "before": "no", "suspended_check": "no", "phoned": "no"}
REFUSED = "Her name is Kyra Smith. She lives at 14 Mill Road, CB1 2AB."
UNCERTAIN = "destiny came in today in the same clothes as last week"
PLAIN = "The worry is described in general terms."
MAX_STEPS = 40
# How Teams marks "@Front Door" in a channel message.
MENTION = {"type": "mention", "text": "<at>Front Door</at>",
           "mentioned": {"id": BOT, "name": "Front Door"}}


@contextlib.asynccontextmanager
async def on_loopback(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; its base URL (``http://127.0.0.1:PORT``)."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


# --- a local Bot Connector: what the SDK posts replies to ------------------------------


@dataclass
class Connector:
    """Records every activity the bot sends through the SDK (``serviceUrl``)."""

    url: str = ""
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def to(self, conversation: str) -> list[dict[str, Any]]:
        """What the bot said in ``conversation``, oldest first."""
        return [a for c, a in self.sent if c == conversation]


@contextlib.asynccontextmanager
async def connector() -> AsyncIterator[Connector]:
    rec = Connector()

    async def activities(request: web.Request) -> web.Response:
        rec.sent.append((request.match_info["conv"], await request.json()))
        return web.json_response({"id": f"act-{len(rec.sent)}"})

    app = web.Application()
    app.router.add_post("/v3/conversations/{conv}/activities", activities)
    app.router.add_post("/v3/conversations/{conv}/activities/{reply_to}", activities)
    async with on_loopback(app) as url:
        rec.url = url + "/"
        yield rec


# --- the bot ------------------------------------------------------------------------


def teams_policy() -> Policy:
    """Cambridgeshire's policy with a ``teams:`` section: its channels by Teams ids, its
    manager and advisor by Entra object id."""
    pol = load_policy("cambridgeshire")
    keys = ("consultation_duty", "mash_managers", "early_help_duty", "escalation", "edt")
    teams = TeamsPeople.model_validate({
        "channels": dict.fromkeys(keys, CHANNEL),
        "roles": {"managers": {"users": [MANAGER]}, "advisors": {"users": [ADVISOR]}}})
    return pol.model_copy(update={"teams": teams})


@dataclass
class TeamsEnv:
    sv: Services
    url: str
    http: aiohttp.ClientSession
    connector: Connector
    clock: Clock
    references: MemoryReferences
    typed: list[str] = field(default_factory=list)

    # Activities as Teams sends them.
    def activity(self, user: str, *, kind: str = "message", conversation: str | None = None,
                 personal: bool = True, **fields: Any) -> dict[str, Any]:
        conv = conversation or (f"a:1on1-{user}" if personal else CHANNEL)
        return {
            "type": kind, "id": fields.pop("id", None) or f"1:{uuid.uuid4().hex}",
            "timestamp": self.clock().astimezone(dt.UTC).isoformat(),
            "serviceUrl": self.connector.url, "channelId": "msteams", "locale": "en-GB",
            "from": {"id": f"29:{user}", "name": "A Person", "aadObjectId": user},
            "conversation": {"id": conv, "tenantId": TENANT,
                             "conversationType": "personal" if personal else "channel"},
            "recipient": {"id": BOT, "name": "Front Door"},
            "channelData": {"tenant": {"id": TENANT}}, **fields,
        }

    async def post(self, body: dict[str, Any], headers: dict[str, str] | None = None
                   ) -> tuple[int, Any]:
        async with self.http.post(self.url, json=body, headers=headers or {}) as resp:
            raw = await resp.text()
            return resp.status, json.loads(raw) if raw else None

    async def say(self, user: str, words: str, **kwargs: Any) -> dict[str, Any]:
        """``user`` types ``words``; returns the activity sent (to send it again)."""
        self.typed.append(words)
        body = self.activity(user, text=words, **kwargs)
        status, _ = await self.post(body)
        assert status in (200, 202), status
        return body

    async def submit(self, user: str, data: dict[str, Any]) -> dict[str, Any]:
        """``user`` clicks an Action.Submit button in their chat."""
        body = self.activity(user, value=data)
        status, _ = await self.post(body)
        assert status in (200, 202), status
        return body

    async def execute(self, user: str, verb: str, data: dict[str, Any],
                      activity_id: str | None = None) -> dict[str, Any]:
        """``user`` clicks an Action.Execute button on a card in the channel; the invoke's
        answer (the refreshed card, or words for them alone)."""
        body = self.activity(user, kind="invoke", personal=False, name="adaptiveCard/action",
                             id=activity_id, value={"action": {"type": "Action.Execute",
                                                               "verb": verb, "data": data},
                                                    "trigger": "manual"})
        status, answer = await self.post(body)
        assert status == 200, (status, answer)
        return answer  # type: ignore[no-any-return]

    # Reading what the bot queued and said.
    async def dialog(self, user: str, name: str, data: dict[str, Any],
                     activity_id: str | None = None) -> dict[str, Any]:
        """``user`` opens (``task/fetch``) or sends (``task/submit``) a dialog; its answer."""
        body = self.activity(user, kind="invoke", personal=False, name=name, id=activity_id,
                             value={"data": {"msteams": {"type": "task/fetch"}, **data},
                                    "context": {"theme": "default"}})
        status, answer = await self.post(body)
        assert status == 200, (status, answer)
        return answer["task"]  # type: ignore[no-any-return]

    async def referral_card(self, user: str) -> int:
        """``user`` makes a referral in their chat; the triage card's id."""
        await self.say(user, "refer")
        await self.play(user)
        [posted] = self.rows(intents.TRIAGE_CARD)
        assert posted.subject_id is not None
        return posted.subject_id

    def rows(self, intent: str | None = None, to: str | None = None) -> list[OutboxMessage]:
        with session_scope(self.sv.engine) as s:
            rows = list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())
        return [r for r in rows if (intent is None or intents.intent_of(r) == intent)
                and (to is None or intents.Address.of(r).id == to)]

    def professional_platform(self, professional_id: int) -> str:
        with session_scope(self.sv.engine) as s:
            found = s.get(Professional, professional_id)
        assert found is not None
        return found.platform

    def question(self, user: str) -> Step | None:
        """The newest question queued for ``user``'s chat."""
        asked = self.rows(intents.FLOW_QUESTION, user)
        return intents.step_from(asked[-1].payload["step"]) if asked else None

    def said(self, user: str) -> list[dict[str, Any]]:
        return self.connector.to(f"a:1on1-{user}")

    async def answer(self, user: str, choose: dict[str, Any]) -> str:
        """Answer the newest question as a person would; returns its id."""
        step = self.question(user)
        assert step is not None and step.prompt is not None
        p = step.prompt
        wanted = choose.get(p.id)
        data = {verbs.ACTION: verbs.FLOW_ANSWER, verbs.FLOW: step.flow_id,
                verbs.VERSION: step.version, verbs.QUESTION: p.id}
        if p.kind is Kind.TEXT:
            await self.say(user, wanted if isinstance(wanted, str) else PLAIN)
        elif p.kind is Kind.DATE:
            await self.submit(user, {**data, verbs.IN_ANSWER: wanted or "2026-11-20"})
        elif p.kind is Kind.MULTI:
            values = wanted if isinstance(wanted, list) else [p.options[0].value]
            await self.submit(user, {**data, verbs.IN_ANSWER: ",".join(values)})
        else:
            values = [o.value for o in p.options]
            await self.submit(user, {**data, verbs.IN_ANSWER: wanted if wanted in values
                                     else values[0]})
        return p.id

    async def play(self, user: str, choose: dict[str, Any] | None = None) -> list[str]:
        """Answer until the flow ends; the question ids seen."""
        choose = {**SAFE, **(choose or {})}
        seen: list[str] = []
        for _ in range(MAX_STEPS):
            step = self.question(user)
            if step is None or self.rows(intents.FLOW_COMPLETED, user) or (
                    self.rows(intents.FLOW_URGENT, user)):
                return seen
            before = len(self.rows(to=user))
            seen.append(await self.answer(user, choose))
            assert len(self.rows(to=user)) > before, f"nothing queued after {seen[-1]}"
        raise AssertionError(f"the flow did not end: {seen}")

    async def to_text_question(self, user: str) -> Step:
        """Answer safely up to the first question answered by typing."""
        for _ in range(MAX_STEPS):
            step = self.question(user)
            assert step is not None and step.prompt is not None
            if step.prompt.kind is Kind.TEXT:
                return step
            await self.answer(user, SAFE)
        raise AssertionError("no text question")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.asynccontextmanager
async def teams_env(engine: Engine, database_url: str, *, auth: TeamsAuth | None = None,
                    policy: Policy | None = None, roster: FakeBotConnector | None = None
                    ) -> AsyncIterator[TeamsEnv]:
    """The bot's Teams endpoint on loopback; on the way out, every identifier the guard
    refuses in what the test typed is looked for in the database file, the log and
    everything the bot said: it must be in none. ``roster``: the fake Bot Connector the
    bot asks (with its token) who is in the teams the policy's roles name."""
    clock = Clock(TUESDAY)
    records = _Records()
    logging.getLogger().addHandler(records)
    try:
        async with connector() as conn, aiohttp.ClientSession() as http:
            settings = Settings(bot_token="xoxb-unused", database_url=database_url)
            sv = Services.build(settings, policy or teams_policy(), engine, http, clock=clock,
                                pace=0)
            refs = MemoryReferences()
            members = None if roster is None else Roster(http, MsalTokens(
                roster.app_id, roster.password, roster.tenant_id, authority=roster.authority,
                ca_file=roster.ca_file), roster.service_url, clock=clock)
            app = web.Application()
            app.add_routes(routes(sv, auth=auth or TeamsAuth(), references=refs,
                                  anonymous=auth is None, roster=members))
            async with on_loopback(app) as url:
                env = TeamsEnv(sv, url + PATH, http, conn, clock, refs)
                try:
                    yield env
                finally:
                    sv.tx.close()
        found = refused_identifiers(env.typed)
        assert_nowhere(found, database_url, records.lines)
        said = json.dumps([a for _, a in conn.sent])
        for ident in found:
            assert ident not in said, f"{ident!r} was typed, refused, and repeated in Teams"
    finally:
        logging.getLogger().removeHandler(records)


@pytest.fixture
def teams_db(engine: Engine, db_url: str) -> tuple[Engine, str]:
    """A migrated database on each backend (ids as wide as Entra object ids)."""
    return engine, db_url


def _file_bytes(sqlite_url: str) -> bytes:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def _audits(engine: Engine, action: str) -> list[AuditEntry]:
    with session_scope(engine) as s:
        return [a for a in s.exec(select(AuditEntry)).all() if a.action == action]


def _card_text(activity: dict[str, Any]) -> str:
    return json.dumps(activity.get("attachments") or activity.get("text"))


# --- the stories ------------------------------------------------------------------------


async def test_consultation_story_refuses_identifiers_without_quoting_them(
    teams_db: tuple[Engine, str],
) -> None:
    engine, url = teams_db
    async with teams_env(engine, url) as env:
        await env.say(TEACHER, "consult")
        first = env.question(TEACHER)
        assert first is not None and first.flow_kind == "consult"
        [row] = env.rows(intents.FLOW_QUESTION)
        assert intents.Address.of(row) == intents.Address(TEACHER, True)
        assert row.platform == "teams", "drawn and sent by Teams, not Slack"
        assert env.references.get(TEACHER) is not None, "first contact remembered"

        step = await env.to_text_question(TEACHER)
        queued = len(env.rows(to=TEACHER))
        await env.say(TEACHER, REFUSED)
        refusal = env.said(TEACHER)[-1]
        words = _card_text(refusal)
        assert "a name in your first sentence" in words
        assert "a postcode in your second sentence" in words
        for ident in ("Kyra", "Smith", "Mill Road", "CB1 2AB"):
            assert ident not in words
        assert len(env.rows(to=TEACHER)) == queued, "a refusal is never queued"
        assert env.question(TEACHER) == step, "the same question waits"

        # A word that may be a name: asked where it is, never what it is. "It could: I'll
        # rephrase" first: nothing stored, the choice audited, the question asked again.
        await env.say(TEACHER, UNCERTAIN)
        rephrase = next(a["data"] for a in env.said(TEACHER)[-1]["attachments"][0]["content"][
            "actions"] if a["data"][verbs.ACTION] == verbs.NONAMES_REPHRASE)
        asked_before = len(env.rows(intents.FLOW_QUESTION, TEACHER))
        await env.submit(TEACHER, rephrase)
        assert "nothing of it was saved" in env.said(TEACHER)[-1]["text"]
        assert len(_audits(engine, "nonames.rephrase")) == 1
        assert len(env.rows(intents.FLOW_QUESTION, TEACHER)) == asked_before + 1
        assert env.question(TEACHER).prompt.id == step.prompt.id
        await env.say(TEACHER, UNCERTAIN)
        asked = env.said(TEACHER)[-1]
        assert "a word that may be a name in your answer" in _card_text(asked)
        assert "destiny" not in json.dumps(asked)
        if engine.dialect.name == "sqlite":  # the file's bytes, write-ahead log and all
            stored = await asyncio.to_thread(_file_bytes, url)
            assert b"destiny" not in stored, "nothing stored before they choose"
        ordinary = next(a["data"] for a in asked["attachments"][0]["content"]["actions"]
                        if a["data"][verbs.ACTION] == verbs.NONAMES_ORDINARY)
        await env.submit(TEACHER, ordinary)
        assert env.question(TEACHER).prompt.id != step.prompt.id, "answered: the flow moved on"
        assert len(_audits(engine, "nonames.ordinary_word")) == 1
        # The old button again: nothing held any more, nothing changes.
        await env.submit(TEACHER, ordinary)
        assert "no longer works" in env.said(TEACHER)[-1]["text"]
        assert len(_audits(engine, "nonames.ordinary_word")) == 1

        await env.play(TEACHER)
        assert env.rows(intents.FLOW_COMPLETED, TEACHER)
        with session_scope(engine) as s:
            [c] = s.exec(select(Consultation)).all()
        assert (c.platform, env.professional_platform(c.professional_id)) == ("teams", "teams")
        duty = env.sv.policy.channel("consultation_duty", "teams")
        [card] = env.rows(intents.CONSULTATION_CARD)
        assert intents.Address.of(card) == intents.Address(duty, False)
        assert card.platform == "teams"
        assert card.subject_id == c.id

        # The duty advisor answers in a dialog (anyone else is refused); the advice is
        # queued for the professional, who says they will follow it.
        advise = {verbs.ACTION: verbs.CONSULT_ADVISE, verbs.CONSULTATION: c.id}
        task = await env.dialog(OUTSIDER, "task/fetch", advise)
        assert task["value"] == "Only duty advisors can answer consultations."
        task = await env.dialog(ADVISOR, "task/fetch", advise)
        assert task["type"] == "continue"
        advice = "Start an Early Help Assessment with the family."
        task = await env.dialog(ADVISOR, "task/submit", {
            **advise, verbs.IN_OUTCOME: "early_help", verbs.IN_TEXT: advice})
        assert task["type"] == "message", task
        [sent] = env.rows(intents.ADVICE)
        assert intents.Address.of(sent) == intents.Address(TEACHER, True)
        # "I'm doing something else" is a dialog, for the professional who asked only.
        not_followed = {verbs.ACTION: verbs.ADVICE_NOT_FOLLOWED, verbs.CONSULTATION: c.id}
        task = await env.dialog(ADVISOR, "task/fetch", not_followed)
        assert task["value"] == "Only the professional who asked can answer."
        task = await env.dialog(TEACHER, "task/fetch", not_followed)
        assert task["type"] == "continue"
        env.typed.append(REFUSED)
        task = await env.dialog(TEACHER, "task/submit", {**not_followed, verbs.IN_TEXT: REFUSED})
        assert task["type"] == "continue" and "a name in your first sentence" in json.dumps(
            [el for el in task["value"]["card"]["content"]["body"] if "id" not in el])
        answer = await env.execute(OUTSIDER, verbs.ADVICE_FOLLOWED, {verbs.CONSULTATION: c.id})
        assert answer["value"] == "Only the professional who asked can answer."
        answer = await env.execute(OUTSIDER, verbs.ADVICE_FOLLOWED,
                                   {verbs.CONSULTATION: c.id + 100})
        assert answer["value"] == "Only the professional who asked can answer.", (
            "whether a consultation exists is not said")
        answer = await env.execute(TEACHER, verbs.ADVICE_FOLLOWED, {verbs.CONSULTATION: c.id})
        assert "recorded in the consultation log" in answer["value"]
        with session_scope(engine) as s:
            c = s.get(Consultation, c.id)
            assert (c.status, c.advisor_user_id, c.advice_outcome, c.followed_advice) == (
                "advised", ADVISOR, "early_help", True)

        # The consultation log: advisors only, in their own chat, audited.
        await env.say(OUTSIDER, "caflog")
        assert env.said(OUTSIDER)[-1]["text"].startswith("Only the front door's duty advisors")
        assert [a.actor for a in _audits(engine, "denied.caflog")] == [OUTSIDER]
        await env.say(ADVISOR, "<at>Front Door</at> caflog", personal=False,
                      entities=[MENTION])
        assert "personal chat" in env.connector.to(CHANNEL)[-1]["text"]
        await env.say(ADVISOR, "caflog outcome:early_help")
        log = json.dumps(env.said(ADVISOR)[-1]["attachments"])
        assert c.reference in log and "1 of 1" in log
        [viewed] = _audits(engine, "caflog.viewed")
        assert viewed.actor == ADVISOR

        # Filter…: the log's filters in a dialog, for advisors only; a problem is said in
        # the dialog naming the field, the search words never shown again; the log it
        # shows stays in the dialog, out of the chat.
        card = env.said(ADVISOR)[-1]["attachments"][0]["content"]
        [button] = card["actions"]
        await env.say(ADVISOR, "caflog since:*soon*")  # a filter it cannot read
        bad = env.said(ADVISOR)[-1]
        assert "Filters are words like" in bad["text"]
        assert bad["textFormat"] == "plain", "what was typed is not read as markdown"
        assert button["data"] == {"msteams": {"type": "task/fetch"},
                                  verbs.ACTION: verbs.CAFLOG_FILTER}
        assert (await env.dialog(OUTSIDER, "task/fetch", button["data"]))["value"].startswith(
            "Only the front door's duty advisors")
        assert len(_audits(engine, "denied.caflog")) == 2
        form = await env.dialog(ADVISOR, "task/fetch", button["data"])
        assert form["type"] == "continue"
        assert_valid_card(form["value"]["card"]["content"])
        said = len(env.said(ADVISOR))
        wrong = await env.dialog(ADVISOR, "task/submit", {
            verbs.ACTION: verbs.CAFLOG_FILTER, verbs.IN_SINCE: "2026-11-30",
            verbs.IN_UNTIL: "2026-11-01", verbs.IN_TEXT: "Kyra"})
        shown = json.dumps(wrong["value"]["card"]["content"])
        assert "From: must not be after To" in shown and "search word 1" in shown
        assert "Kyra" not in shown
        found = await env.dialog(ADVISOR, "task/submit", {
            verbs.ACTION: verbs.CAFLOG_FILTER, verbs.IN_OUTCOME: "early_help",
            verbs.IN_ADVISOR: ADVISOR})
        log = json.dumps(found["value"]["card"]["content"])
        assert found["type"] == "continue" and c.reference in log and "1 of 1" in log
        assert len(env.said(ADVISOR)) == said, "the filtered log is not posted in the chat"
        assert len(_audits(engine, "caflog.viewed")) == 2


async def test_referral_story_manager_only_decision_tells_the_referrer(
    teams_db: tuple[Engine, str],
) -> None:
    engine, url = teams_db
    async with teams_env(engine, url) as env:
        # "@Front Door refer" in a channel: the flow runs in the personal chat.
        await env.say(HEALTH, "<at>Front Door</at> refer", personal=False, entities=[MENTION])
        assert "personal chat" in env.connector.to(CHANNEL)[-1]["text"]
        assert env.question(HEALTH).flow_kind == "refer"
        await env.play(HEALTH)
        [posted] = env.rows(intents.TRIAGE_CARD)
        assert (posted.platform, intents.Address.of(posted).id) == (
            "teams", env.sv.policy.channel("mash_managers", "teams")), "Teams' managers' channel"
        card_id = posted.subject_id
        data = {verbs.CARD: card_id, verbs.VERSION: 1}

        # Not a manager: refused, to them alone, audited; the card unchanged.
        answer = await env.execute(OUTSIDER, verbs.CARD_APPROVE, data)
        assert answer["type"] == "application/vnd.microsoft.activity.message"
        assert answer["value"] == ("Only the front door's managers can approve a rating. "
                                   "Nothing was changed.")
        assert [a.actor for a in _audits(engine, "denied.approve")] == [OUTSIDER]
        with session_scope(engine) as s:
            assert s.get(TriageCard, card_id).status == "new"
        assert not env.rows(intents.REFERRER_OUTCOME)

        # The manager approves: the invoke answers with the card as it now is; the redraw
        # and the referrer's outcome are queued with the decision.
        invoke_id = f"f:{uuid.uuid4().hex}"
        answer = await env.execute(MANAGER, verbs.CARD_APPROVE, data, activity_id=invoke_id)
        assert answer["type"] == "application/vnd.microsoft.card.adaptive"
        assert answer["value"]["type"] == "AdaptiveCard"
        with session_scope(engine) as s:
            card = s.get(TriageCard, card_id)
            assert (card.status, card.decided_by) == ("decided", MANAGER)
        [outcome] = env.rows(intents.REFERRER_OUTCOME)
        assert intents.Address.of(outcome) == intents.Address(HEALTH, True)
        assert [r.platform for r in env.rows(intents.TRIAGE_CARD_UPDATE)] == ["teams"]
        assert outcome.platform == "teams"

        # Teams delivers the same invoke again: one effect.
        await env.execute(MANAGER, verbs.CARD_APPROVE, data, activity_id=invoke_id)
        assert len(env.rows(intents.REFERRER_OUTCOME)) == 1
        assert len(env.rows(intents.TRIAGE_CARD_UPDATE)) == 1
        assert len(_audits(engine, "rating.approve")) == 1
        # A repeatable action (snooze, near the next warning) delivered again ten minutes
        # later, when it would move the warning again: one effect.
        env.clock.advance(hours=11, minutes=35)
        snooze_id = f"f:{uuid.uuid4().hex}"
        for _ in range(2):
            env.clock.advance(minutes=10)
            answer = await env.execute(MANAGER, verbs.CARD_SNOOZE, {**data, verbs.IN_SNOOZE: "30"},
                                       activity_id=snooze_id)
            assert answer["type"] == "application/vnd.microsoft.card.adaptive", answer
        assert len(_audits(engine, "card.snooze")) == 1
        assert len(env.rows(intents.CARD_NOTE)) == 1


async def test_change_rating_dialog_guards_the_reason_in_the_dialog(
    teams_db: tuple[Engine, str],
) -> None:
    engine, url = teams_db
    async with teams_env(engine, url) as env:
        card_id = await env.referral_card(HEALTH)
        change = {verbs.ACTION: verbs.CARD_CHANGE, verbs.CARD: card_id}
        # Not a manager: refused before the form opens, audited.
        task = await env.dialog(OUTSIDER, "task/fetch", change)
        assert task == {"type": "message", "value": "Only the front door's managers can "
                        "change a rating. Nothing was changed."}
        assert [a.actor for a in _audits(engine, "denied.change")] == [OUTSIDER]
        task = await env.dialog(MANAGER, "task/fetch", change)
        form = task["value"]["card"]["content"]
        assert {el["id"] for el in form["body"] if "id" in el} == {verbs.IN_RATING, verbs.IN_TEXT}

        # An identifier in the reason: an error in the dialog naming its kind and place.
        typed = "Spoke to Kyra Smith at school. Mum agrees."
        env.typed.append(typed)
        task = await env.dialog(MANAGER, "task/submit", {
            **change, verbs.IN_RATING: "amber_cin", verbs.IN_TEXT: typed})
        # The error names the kind and place; the field keeps what was typed, in the
        # dialog only (as Slack's modal does), for the manager to rewrite.
        body = task["value"]["card"]["content"]["body"]
        shown = json.dumps([el for el in body if el.get("id") != verbs.IN_TEXT])
        assert task["type"] == "continue" and "a name in your first sentence" in shown
        assert "Kyra" not in shown and "Smith" not in shown
        assert [el["value"] for el in body if el.get("id") == verbs.IN_TEXT] == [typed]
        with session_scope(engine) as s:
            assert s.get(TriageCard, card_id).status == "new"
        assert not env.rows(intents.REFERRER_OUTCOME)

        # A word that may be a name: asked in the dialog; ticked as ordinary, it is saved.
        unsure = {**change, verbs.IN_RATING: "amber_cin", verbs.IN_TEXT: UNCERTAIN}
        task = await env.dialog(MANAGER, "task/submit", unsure)
        assert "may be a name" in json.dumps(task) and "destiny" not in json.dumps(
            [el for el in task["value"]["card"]["content"]["body"] if "id" not in el])
        assert any(el.get("id") == verbs.IN_ORDINARY
                   for el in task["value"]["card"]["content"]["body"])
        task = await env.dialog(MANAGER, "task/submit", {**unsure, verbs.IN_ORDINARY: "true"})
        assert task["type"] == "message", task
        with session_scope(engine) as s:
            card = s.get(TriageCard, card_id)
            assert (card.status, card.rating, card.decided_by) == ("decided", "amber_cin",
                                                                   MANAGER)
        assert len(_audits(engine, "nonames.ordinary_word")) == 1
        [outcome] = env.rows(intents.REFERRER_OUTCOME)
        assert intents.Address.of(outcome) == intents.Address(HEALTH, True)


async def test_the_same_activity_twice_has_one_effect(teams_db: tuple[Engine, str]) -> None:
    engine, url = teams_db
    async with teams_env(engine, url) as env:
        start = await env.say(TEACHER, "consult")
        await env.post(start)  # Teams retries: the same id in the same conversation
        assert len(env.rows(intents.FLOW_QUESTION)) == 1
        assert not env.said(TEACHER), "nothing said about a flow already running"
        # Typed again (a new activity): told it is running, and asked the question again.
        await env.say(TEACHER, "consult")
        assert "in progress" in env.said(TEACHER)[-1]["text"]
        assert len(env.rows(intents.FLOW_QUESTION)) == 2
        step = await env.to_text_question(TEACHER)
        body = await env.say(TEACHER, PLAIN)
        moved = env.question(TEACHER)
        assert moved.version == step.version + 1
        await env.post(body)
        assert env.question(TEACHER) == moved
        with session_scope(engine) as s:
            [flow] = s.exec(select(FlowSession)).all()
            assert flow.version == moved.version


async def test_a_stale_card_is_refused_as_in_slack(teams_db: tuple[Engine, str]) -> None:
    engine, url = teams_db
    async with teams_env(engine, url) as env:
        await env.say(TEACHER, "consult")
        first = env.question(TEACHER)
        await env.answer(TEACHER, SAFE)
        second = env.question(TEACHER)
        assert second.prompt.id != first.prompt.id
        # The first question's card clicked again: already answered, nothing changes.
        stale = {verbs.ACTION: verbs.FLOW_ANSWER, verbs.FLOW: first.flow_id,
                 verbs.VERSION: first.version, verbs.QUESTION: first.prompt.id,
                 verbs.IN_ANSWER: first.prompt.options[0].value}
        await env.submit(TEACHER, stale)
        assert env.said(TEACHER)[-1]["text"] == "That question was already answered."
        again = env.question(TEACHER)
        assert again.prompt.id == second.prompt.id and again.version == second.version
        # Back on a card of an earlier flow: refused.
        await env.submit(TEACHER, {**stale, verbs.ACTION: verbs.FLOW_BACK,
                                   verbs.FLOW: (first.flow_id or 0) + 100})
        assert "earlier conversation" in env.said(TEACHER)[-1]["text"]
        assert env.question(TEACHER).version == second.version


async def test_install_remembers_the_conversation_reference(sqlite_engine: Engine,
                                                            sqlite_url: str) -> None:
    async with teams_env(sqlite_engine, sqlite_url) as env:
        body = env.activity(TEACHER, kind="installationUpdate", action="add")
        status, _ = await env.post(body)
        assert status in (200, 202)
        ref = env.references.get(TEACHER)
        assert ref is not None
        assert (ref.service_url, ref.tenant_id, ref.bot_id, ref.conversation_id) == (
            env.connector.url, TENANT, BOT, f"a:1on1-{TEACHER}")
        # Added to a team: the channel is remembered too.
        body = env.activity(MANAGER, kind="conversationUpdate", personal=False,
                            membersAdded=[{"id": BOT}])
        await env.post(body)
        assert env.references.get(CHANNEL).conversation_id == CHANNEL
        assert env.references.get(MANAGER).conversation_id is None


async def test_a_failure_says_plain_words_never_the_error(
    sqlite_engine: Engine, sqlite_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    async with teams_env(sqlite_engine, sqlite_url) as env:
        with sqlite_engine.begin() as cx:  # the flows' table gone: every flow action fails
            cx.execute(text("ALTER TABLE flow_session RENAME TO flow_session_gone"))
        await env.say(TEACHER, "consult")
        [said] = env.said(TEACHER)
        assert said["text"].startswith("Front Door is busy")
        assert "flow_session" not in json.dumps(said) and "Exception" not in json.dumps(said)
        assert "OperationalError" in caplog.text and "consult" not in caplog.text
        # A click and a dialog: the same words, to the one who clicked.
        with sqlite_engine.begin() as cx:
            cx.execute(text("ALTER TABLE triage_card RENAME TO triage_card_gone"))
        answer = await env.execute(MANAGER, verbs.CARD_APPROVE, {verbs.CARD: 1})
        assert answer["type"] == "application/vnd.microsoft.activity.message"
        assert answer["value"].startswith("Front Door is busy")
        task = await env.dialog(MANAGER, "task/fetch", {verbs.ACTION: verbs.CARD_CHANGE,
                                                       verbs.CARD: 1})
        assert task["type"] == "message" and task["value"].startswith("Front Door is busy")


# --- authentication -----------------------------------------------------------------


APP_ID = "00000000-0000-4000-8000-00000000a99d"
ISSUER = "https://api.botframework.com"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _token(key: rsa.RSAPrivateKey, *, kid: str = "k1", serviceurl: str = "") -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": APP_ID, "iat": now, "nbf": now, "exp": now + 600,
              "serviceurl": serviceurl}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@contextlib.asynccontextmanager
async def trusted_keys(key: rsa.RSAPrivateKey) -> AsyncIterator[None]:
    """Microsoft's signing keys, as the SDK fetches them, replaced by ``key``'s public half
    served locally (the SDK's key cache is pointed at it; restored afterwards)."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}

    async def keys(_request: web.Request) -> web.Response:
        return web.json_response(jwks)

    app = web.Application()
    app.router.add_get("/keys", keys)
    cache = JwtTokenValidator._jwk_client_manager._cache
    uri = BOTFRAMEWORK_JWKS_URIS[ISSUER]
    saved = cache.get(uri)
    async with on_loopback(app) as url:
        cache[uri] = _JwkClientCacheEntry(PyJWKClient(f"{url}/keys"), threading.Lock())
        try:
            yield
        finally:
            if saved is None:
                cache.pop(uri, None)
            else:
                cache[uri] = saved


async def test_a_missing_or_forged_token_is_401_when_an_app_id_is_set(
    sqlite_engine: Engine, sqlite_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    trusted, forger = _key(), _key()
    auth = TeamsAuth(app_id=APP_ID, app_password="unused", tenant_id=TENANT)
    async with teams_env(sqlite_engine, sqlite_url, auth=auth) as env, trusted_keys(trusted):
        body = env.activity(TEACHER, text="consult")
        assert (await env.post(body))[0] == 401
        forged = _token(forger, serviceurl=env.connector.url)
        assert (await env.post(body, {"Authorization": f"Bearer {forged}"}))[0] == 401
        # Refused for its signature: the trusted keys were read, and the forger's is not one.
        assert "did not verify (InvalidSignatureError)" in caplog.text
        assert (await env.post(body, {"Authorization": "Bearer not-a-token"}))[0] == 401
        assert (await env.post(body, {"Authorization": f"Basic {forged}"}))[0] == 401
        assert not env.rows() and not env.connector.sent, "nothing ran"
        assert env.references.get(TEACHER) is None


async def test_a_malformed_activity_is_a_400_and_runs_nothing(sqlite_engine: Engine,
                                                              sqlite_url: str) -> None:
    async with teams_env(sqlite_engine, sqlite_url) as env:
        for raw in (b"{not json", b"[1, 2]", b'{"type": "message"}',
                    json.dumps({**env.activity(TEACHER, text="consult"),
                                "conversation": "not an object"}).encode()):
            async with env.http.post(env.url, data=raw,
                                     headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 400, (raw, resp.status)
        assert not env.rows() and not env.connector.sent


async def test_no_app_id_means_no_endpoint_unless_anonymous_is_asked_for(
    sqlite_engine: Engine, sqlite_url: str,
) -> None:
    async with aiohttp.ClientSession() as http:
        settings = Settings(bot_token="xoxb-unused", database_url=sqlite_url)
        sv = Services.build(settings, teams_policy(), sqlite_engine, http)
        with pytest.raises(ValueError, match="MICROSOFT_APP_ID"):
            routes(sv, auth=TeamsAuth())
        assert routes(sv, auth=TeamsAuth(app_id=APP_ID, app_password="x", tenant_id=TENANT))
        sv.tx.close()


def test_nothing_outside_the_teams_package_imports_the_agents_sdk() -> None:
    root = Path(__file__).resolve().parent.parent
    teams = root / "bot" / "handlers" / "teams"
    outside = [p.relative_to(root) for top in ("bot", "store") for p in (root / top).rglob("*.py")
               if teams not in p.parents and "microsoft_agents" in p.read_text()]
    assert outside == []


def test_a_held_answer_is_for_its_person_once_and_not_for_ever() -> None:
    clock = Clock(TUESDAY)
    held = Pending(clock)
    key = held.hold(TEACHER, 1, "worry", UNCERTAIN, frozenset({"destiny"}))
    assert held.take(key, OUTSIDER) is None, "someone else's click takes nothing"
    assert held.take(key, TEACHER).text == UNCERTAIN
    assert held.take(key, TEACHER) is None, "once"
    key = held.hold(TEACHER, 1, "worry", UNCERTAIN, frozenset({"destiny"}))
    clock.advance(minutes=31)
    assert held.take(key, TEACHER) is None, "forgotten after its time"


async def test_an_error_past_the_listeners_is_logged_by_kind_and_never_posted(
    sqlite_engine: Engine, sqlite_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    async with teams_env(sqlite_engine, sqlite_url) as env:
        with sqlite_engine.begin() as cx:
            cx.execute(text("ALTER TABLE flow_session RENAME TO flow_session_gone"))
        # The chat itself unreachable too: even the plain words fail, and the error leaves
        # the listeners. The SDK's default handler would post the exception into the chat
        # (and, failing, answer 500); ours logs its kind and answers Teams normally.
        body = env.activity(TEACHER, text="consult", serviceUrl="http://127.0.0.1:9/")
        status, _ = await env.post(body)
        assert status in (200, 202)
        assert "teams message failed: ClientConnectorError" in caplog.text
        assert "Exception caught" not in caplog.text and "consult" not in caplog.text
