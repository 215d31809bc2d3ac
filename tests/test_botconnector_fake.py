"""The fake Bot Connector answers like Teams: tokens through MSAL, 1:1 chats, sends,
replies, updates, the roster, Teams' errors and the faults a test injects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.handlers.teams.auth import MsalTokens
from bot.sandbox.botconnector import FakeBotConnector
from tests.teamsenv import ALEX, MASH, NO_APP, PEOPLE, seed


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotConnector]:
    async with FakeBotConnector() as f:
        seed(f)
        yield f


class Client:
    """Plain HTTP to the fake, with a token MSAL fetched from it."""

    def __init__(self, fake: FakeBotConnector, http: aiohttp.ClientSession, token: str) -> None:
        self.fake, self.http, self.token = fake, http, token

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None,
                   token: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        async with self.http.request(method, self.fake.service_url + path, json=body,
                                     headers=headers) as resp:
            return resp.status, await resp.json(content_type=None) or {}, dict(resp.headers)


@pytest.fixture
async def client(fake: FakeBotConnector) -> AsyncIterator[Client]:
    tokens = MsalTokens(fake.app_id, fake.password, fake.tenant_id, authority=fake.authority,
                        ca_file=fake.ca_file)
    async with aiohttp.ClientSession() as http:
        yield Client(fake, http, await tokens.token())


def chat_with(fake: FakeBotConnector, aad: str) -> dict[str, Any]:
    return {"bot": {"id": f"28:{fake.app_id}"}, "members": [{"id": aad}], "isGroup": False,
            "tenantId": fake.tenant_id}


MESSAGE = {"type": "message", "text": "Your referral has been received."}


async def test_msal_fetches_the_token_and_only_that_token_is_accepted(
        fake: FakeBotConnector, client: Client) -> None:
    assert [c.op for c in fake.calls] == ["token"]
    assert fake.calls[0].body == {"scope": "https://api.botframework.com/.default"}
    status, _, _ = await client.call("GET", f"v3/conversations/{MASH}/members")
    assert status == 200
    status, body, _ = await client.call("GET", f"v3/conversations/{MASH}/members",
                                        token="made-up")
    assert status == 401 and body["error"]["code"] == "Unauthorized"
    fake.clock = lambda: fake.tokens[client.token] + 1  # the token has expired
    status, _, _ = await client.call("GET", f"v3/conversations/{MASH}/members")
    assert status == 401


async def test_a_wrong_password_gets_no_token(fake: FakeBotConnector) -> None:
    tokens = MsalTokens(fake.app_id, "not-the-password", fake.tenant_id,
                        authority=fake.authority, ca_file=fake.ca_file)
    with pytest.raises(ValueError, match="invalid_client"):
        await tokens.token()
    assert not fake.tokens


async def test_a_chat_is_made_once_per_person_and_refused_without_the_app(
        fake: FakeBotConnector, client: Client) -> None:
    status, first, _ = await client.call("POST", "v3/conversations", chat_with(fake, ALEX))
    again = await client.call("POST", "v3/conversations", chat_with(fake, ALEX))
    assert status == 201 and again[1] == first
    status, body, _ = await client.call("POST", "v3/conversations", chat_with(fake, NO_APP))
    assert (status, body["error"]["code"]) == (403, "BotNotInConversationRoster")
    other = {**chat_with(fake, ALEX), "tenantId": "someone-elses-tenant"}
    assert (await client.call("POST", "v3/conversations", other))[0] == 403


async def test_send_reply_update_and_roster(fake: FakeBotConnector, client: Client) -> None:
    status, sent, _ = await client.call("POST", f"v3/conversations/{MASH}/activities", MESSAGE)
    assert status == 201 and sent["id"]
    reply = {"type": "message", "text": "A note in the thread."}
    status, replied, _ = await client.call(
        "POST", f"v3/conversations/{MASH}/activities/{sent['id']}", reply)
    assert status == 201
    status, _, _ = await client.call(
        "PUT", f"v3/conversations/{MASH}/activities/{sent['id']}",
        {"type": "message", "text": "Redrawn."})
    assert status == 201
    said = {a["id"]: a for a in fake.activities(MASH)}
    assert said[sent["id"]]["text"] == "Redrawn."
    assert said[replied["id"]]["replyToId"] == sent["id"]
    status, roster, _ = await client.call("GET", f"v3/conversations/{MASH}/members")
    assert {m["aadObjectId"] for m in roster["members"]} == set(PEOPLE)
    # What is not there is 404, a bad activity 400.
    assert (await client.call("PUT", f"v3/conversations/{MASH}/activities/1",
                              MESSAGE))[0] == 404
    assert (await client.call("POST", "v3/conversations/19:nowhere/activities",
                              MESSAGE))[0] == 404
    assert (await client.call("POST", f"v3/conversations/{MASH}/activities",
                              {"text": "no type"}))[0] == 400


async def test_a_new_thread_in_a_channel(fake: FakeBotConnector, client: Client) -> None:
    status, made, _ = await client.call("POST", "v3/conversations", {
        "isGroup": True, "channelData": {"channel": {"id": MASH}}, "activity": MESSAGE})
    assert status == 201 and made["id"] == f"{MASH};messageid={made['activityId']}"
    status, _, _ = await client.call("POST", f"v3/conversations/{made['id']}/activities",
                                     {"type": "message", "text": "In the thread."})
    assert status == 201 and len(fake.activities(MASH)) == 2


async def test_injected_faults_store_nothing(fake: FakeBotConnector, client: Client) -> None:
    fake.fail("send", status=429, retry_after=7, times=2)
    fake.fail("send", status=412)
    fake.fail("send", status=502)
    path = f"v3/conversations/{MASH}/activities"
    answers = [await client.call("POST", path, MESSAGE) for _ in range(4)]
    assert [a[0] for a in answers] == [429, 429, 412, 502]
    assert answers[0][2]["Retry-After"] == "7"
    assert [a[1]["error"]["code"] for a in answers] == [
        "TooManyRequests", "TooManyRequests", "PreconditionFailed", "ServiceError"]
    fake.fail("*", exc="disconnect")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.call("POST", path, MESSAGE)
    assert fake.activities(MASH) == []
    assert (await client.call("POST", path, MESSAGE))[0] == 201  # the faults are used up
    assert [c.fault for c in fake.calls_to("send")] == ["429", "429", "412", "502",
                                                        "disconnect", None]
