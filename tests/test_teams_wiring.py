"""Teams in the running bot (``bot.server.running``, as ``frontdoor serve`` runs it): the
endpoint is on the one server when the policy names Teams people, anonymous only when the
caller (the sandbox, a test) asks, and what the outbox holds for Teams reaches the Bot
Connector through Teams' renderer and transport.

The real server, the real fake Slack and fake Bot Connector over HTTP, SQLite.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import intents
from bot.config import Settings, load_settings
from bot.handlers.teams import Connector
from bot.handlers.teams.http import PATH
from bot.policy import Policy, load_policy
from bot.sandbox import demo
from bot.sandbox.botconnector import FakeBotConnector
from bot.sandbox.webapi import FakeSlack
from bot.server import Running, running
from store.db import session_scope
from tests.slackenv import SECRET, TOKEN
from tests.teamsenv import ALEX, PEOPLE

TEACHER = demo.teams_id(demo.TEACHER)


def teams_policy() -> Policy:
    """The default policy with the sandbox's Teams section (the demo tenant's ids)."""
    return demo.with_teams(load_policy("cambridgeshire"))


@contextlib.asynccontextmanager
async def bot(tmp_path: Path, policy: Policy, **settings: Any) -> AsyncIterator[Running]:
    """The bot as ``serve`` runs it, in HTTP mode on loopback; ``teams_options`` passed on."""
    options = settings.pop("teams_options", None)
    async with FakeSlack(tokens=[TOKEN]) as fake:
        s = Settings(bot_token=TOKEN, signing_secret=SECRET, api_url=fake.base_url,
                     database_url=f"sqlite:///{tmp_path / 'fd.db'}", port=0,
                     shutdown_timeout=5, **settings)
        async with running(s, policy=policy, reminders=False, host="127.0.0.1",
                           http_mode=True, pace=0, teams_options=options) as r:
            yield r


def activity(service_url: str, user: str = TEACHER, text: str = "hello") -> dict[str, Any]:
    """A message in the person's 1:1 chat, as Teams posts it."""
    return {
        "type": "message", "id": f"1:{uuid.uuid4().hex}", "text": text,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(), "serviceUrl": service_url,
        "channelId": "msteams", "from": {"id": "29:1person", "aadObjectId": user},
        "conversation": {"id": f"a:1{user}", "conversationType": "personal",
                         "tenantId": demo.TEAMS_TENANT},
        "recipient": {"id": "28:front-door", "name": "Front Door"},
        "channelData": {"tenant": {"id": demo.TEAMS_TENANT}},
    }


async def post(r: Running, body: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{r.port}{PATH}", json=body, headers=headers or {}) as resp:
        return resp.status


def test_settings_read_the_entra_app_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROSOFT_APP_ID", "00000000-0000-4000-8000-00000000a991")
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "not-a-real-secret")
    monkeypatch.setenv("MICROSOFT_APP_TENANT_ID", demo.TEAMS_TENANT)
    s = load_settings(env_file=None)
    assert (s.microsoft_app_id, s.microsoft_app_password, s.microsoft_app_tenant_id) == (
        "00000000-0000-4000-8000-00000000a991", "not-a-real-secret", demo.TEAMS_TENANT)


async def test_serve_without_an_app_id_answers_teams_401_and_sends_nothing(
        tmp_path: Path) -> None:
    async with bot(tmp_path, teams_policy()) as r:
        assert await post(r, activity("http://127.0.0.1:9/")) == 401
        assert "teams" not in r.sv.sender.platforms


async def test_serve_with_an_app_id_refuses_a_missing_or_forged_token(tmp_path: Path) -> None:
    async with bot(tmp_path, teams_policy(), microsoft_app_id=str(uuid.uuid4()),
                   microsoft_app_password="not-a-real-secret",
                   microsoft_app_tenant_id=demo.TEAMS_TENANT) as r:
        body = activity("http://127.0.0.1:9/")
        assert await post(r, body) == 401
        assert await post(r, body, {"Authorization": "Bearer forged.not.signed"}) == 401
        assert "teams" in r.sv.sender.platforms


async def test_a_policy_without_teams_has_no_teams_endpoint(tmp_path: Path) -> None:
    async with bot(tmp_path, load_policy("cambridgeshire")) as r:
        assert await post(r, activity("http://127.0.0.1:9/")) == 404
        assert "teams" not in r.sv.sender.platforms


async def test_what_the_outbox_holds_for_teams_reaches_the_bot_connector(
        tmp_path: Path) -> None:
    """A Teams row queued by the services is drawn by Teams' renderer and sent by Teams'
    transport (a 1:1 chat created for the person, with the bot's own token), and the
    anonymous endpoint takes an activity and answers through the fake, in the same run."""
    policy = demo.with_teams(load_policy("cambridgeshire"))
    async with FakeBotConnector(anonymous=True) as fake:
        for aad, (pid, name) in PEOPLE.items():
            fake.add_person(pid, name, aad)
        options = {"anonymous": True, "connector": Connector(
            fake.service_url, fake.app_id, fake.password, fake.tenant_id,
            authority=fake.authority, ca_file=fake.ca_file)}
        async with bot(tmp_path, policy, teams_options=options) as r:
            with session_scope(r.sv.engine, write=True) as s:
                intents.queue(s, intents.NOTICE, key="wiring:1", to=intents.person(ALEX),
                              data={"text": "Your referral has been received."},
                              platform="teams")
            r.sv.sender.kick()
            [sent] = await fake.wait_for("send")
            assert sent.conversation == f"a:1{ALEX.replace('-', '')}"
            assert "Your referral has been received." in str(sent.body)
            assert [c.op for c in fake.calls[:3]] == ["token", "create", "send"]
            # The endpoint is anonymous here (the caller asked): an activity is taken, and
            # answered in the person's chat.
            said = activity(fake.service_url, ALEX, "caf")
            said["conversation"]["id"] = sent.conversation
            fake.heard.add(said["id"])
            assert await post(r, said) in (200, 202)
            [reply] = await fake.wait_for("reply")  # the SDK answers the message in the turn
            assert "register a CAF. Nothing was changed." in str(reply.body)


async def test_a_worker_sends_teams_rows_only_with_an_entra_app(tmp_path: Path) -> None:
    """``frontdoor worker`` has no endpoint, but its sender claims Teams' rows too: it gets
    Teams' transport with the app (else a Teams row it claimed would be dead-lettered), and
    none without one."""
    from bot.handlers import teams
    from bot.services import Services
    from store.db import make_engine
    from store.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'fd.db'}")
    upgrade(engine)
    try:
        async with aiohttp.ClientSession() as http:
            for app_id, policy, delivered in ((str(uuid.uuid4()), teams_policy(), True),
                                              ("", teams_policy(), False),
                                              (str(uuid.uuid4()), load_policy(None), False)):
                s = Settings(bot_token=TOKEN, microsoft_app_id=app_id,
                             microsoft_app_password="not-a-real-secret",
                             microsoft_app_tenant_id=demo.TEAMS_TENANT)
                sv = Services.build(s, policy, engine, http)
                assert (teams.deliver(sv) is not None) is delivered
                assert ("teams" in sv.sender.platforms) is delivered
                sv.tx.close()
    finally:
        engine.dispose()


async def test_a_council_on_teams_alone_runs_without_slack(tmp_path: Path) -> None:
    """No SLACK_BOT_TOKEN, a policy naming Teams people only: ``serve`` starts (the command
    line does not refuse it), has no Slack endpoint, checks Teams' tokens, and sends what
    the services queue through the Bot Connector; a dead letter's alert is Teams' too."""
    policy = teams_policy().model_copy(update={"slack": None})
    assert policy.platforms == ("teams",)
    async with FakeBotConnector() as fake:
        for aad, (pid, name) in PEOPLE.items():
            fake.add_person(pid, name, aad)
        s = Settings(database_url=f"sqlite:///{tmp_path / 'fd.db'}", port=0,
                     shutdown_timeout=5, microsoft_app_id=fake.app_id,
                     microsoft_app_password=fake.password, microsoft_app_tenant_id=fake.tenant_id)
        assert s.chat_platform == "Microsoft Teams"  # so the command line starts it
        options = {"connector": Connector(fake.service_url, fake.app_id, fake.password,
                                          fake.tenant_id, authority=fake.authority,
                                          ca_file=fake.ca_file)}
        async with running(s, policy=policy, reminders=False, host="127.0.0.1",
                           http_mode=True, pace=0, teams_options=options) as r:
            assert r.app is None and r.sv.sender.escalation_platform == "teams"
            async with aiohttp.ClientSession() as http, http.post(
                    f"http://127.0.0.1:{r.port}/slack/events", data=b"{}") as resp:
                assert resp.status == 404, "no Slack endpoint without Slack"
            assert await post(r, activity(fake.service_url)) == 401, "Teams' token checked"
            with session_scope(r.sv.engine, write=True) as db:
                intents.queue(db, intents.NOTICE, key="teams-only:1", to=intents.person(ALEX),
                              data={"text": "Your referral has been received."},
                              platform="teams")
            r.sv.sender.kick()
            [sent] = await fake.wait_for("send")
            assert "Your referral has been received." in str(sent.body)
