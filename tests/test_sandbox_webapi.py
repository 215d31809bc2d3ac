"""The fake Slack Web API, driven by slack_sdk's real AsyncWebClient over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.webapi import FakeSlack

TOKEN = "xoxb-test"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(tokens=[TOKEN]) as fake:
        fake.add_user("U0ADA", "ada", real_name="Ada Teacher")
        fake.add_user("U0SAM", "sam", real_name="Sam Manager")
        fake.add_channel("C0FRONT", "front-door")
        fake.add_channel("C0PRIV", "duty-team", is_private=True, members=["U0SAM"])
        fake.add_usergroup("S0DUTY", "duty-managers", ["U0SAM"])
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake.base_url)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(blocks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Consultation"},
        "blocks": blocks,
        **extra,
    }


async def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


# --------------------------------------------------------------------- basics


async def test_base_url_ends_with_api(fake: FakeSlack) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.base_url.endswith("/api/")


async def test_auth_test_identifies_the_bot(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.auth_test()
    assert resp["ok"] is True
    assert resp["user_id"] == "U0FRONTBOT"
    assert resp["bot_id"] == "B0FRONTBOT"
    assert resp["team_id"] == "T0FRONT"
    assert "chat:write" in resp.headers["X-OAuth-Scopes"]
    assert fake.calls_to("auth.test")[0].token == TOKEN


async def test_missing_token_is_not_authed(fake: FakeSlack) -> None:
    err = await slack_error(AsyncWebClient(base_url=fake.base_url).auth_test())
    assert err.response["error"] == "not_authed"


async def test_unknown_token_is_invalid_auth(fake: FakeSlack) -> None:
    err = await slack_error(AsyncWebClient(token="xoxb-nope", base_url=fake.base_url).auth_test())
    assert err.response["error"] == "invalid_auth"


async def test_token_may_come_as_a_form_field(fake: FakeSlack) -> None:
    anonymous = AsyncWebClient(base_url=fake.base_url)
    resp = await anonymous.api_call("auth.test", data={"token": TOKEN})
    assert resp["ok"] is True
    assert "token" not in fake.calls[-1].args


async def test_unknown_method(client: AsyncWebClient) -> None:
    err = await slack_error(client.api_call("chat.teleport", json={"channel": "C0FRONT"}))
    assert err.response.status_code == 200
    assert err.response["error"] == "unknown_method"


# ------------------------------------------------------------------ messages


async def test_post_message_records_call_and_stores_message(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    resp = await client.chat_postMessage(
        channel="C0FRONT", text="New consultation", blocks=[section("*New consultation*")]
    )
    assert resp["channel"] == "C0FRONT"
    assert resp["message"]["text"] == "New consultation"
    assert resp["message"]["bot_id"] == "B0FRONTBOT"
    # Slack gives every stored block an id; the fake does too.
    assert resp["message"]["blocks"][0]["block_id"]
    (call,) = fake.calls_to("chat.postMessage")
    assert call.args["blocks"] == [section("*New consultation*")]
    assert call.ok
    assert fake.message("C0FRONT", resp["ts"]) == resp["message"]


async def test_ts_values_are_unique_and_increasing(client: AsyncWebClient) -> None:
    stamps = [
        (await client.chat_postMessage(channel="C0FRONT", text=f"m{i}"))["ts"] for i in range(5)
    ]
    assert len(set(stamps)) == 5
    assert stamps == sorted(stamps, key=float)
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


async def test_form_encoded_blocks_are_decoded(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.api_call(
        "chat.postMessage",
        data={"channel": "C0FRONT", "text": "hi", "blocks": json.dumps([section("hi")])},
    )
    assert resp["ok"]
    assert fake.calls[-1].args["blocks"] == [section("hi")]


async def test_update_message(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0FRONT", text="Triage: open")
    updated = await client.chat_update(
        channel="C0FRONT", ts=posted["ts"], text="Triage: accepted", blocks=[section("accepted")]
    )
    assert updated["ts"] == posted["ts"]
    assert updated["text"] == "Triage: accepted"
    stored = fake.message("C0FRONT", posted["ts"])
    assert stored is not None
    assert stored["text"] == "Triage: accepted"
    assert stored["edited"]["user"] == "U0FRONTBOT"

    err = await slack_error(client.chat_update(channel="C0FRONT", ts="1.000001", text="x"))
    assert err.response["error"] == "message_not_found"


async def test_cannot_update_or_delete_a_persons_message(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    theirs = fake.add_message("C0FRONT", "U0ADA", "hello")
    err = await slack_error(client.chat_update(channel="C0FRONT", ts=theirs["ts"], text="x"))
    assert err.response["error"] == "cant_update_message"
    err = await slack_error(client.chat_delete(channel="C0FRONT", ts=theirs["ts"]))
    assert err.response["error"] == "cant_delete_message"


async def test_delete_and_permalink(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0FRONT", text="to delete")
    link = await client.chat_getPermalink(channel="C0FRONT", message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/C0FRONT/p{posted['ts'].replace('.', '')}")
    await client.chat_delete(channel="C0FRONT", ts=posted["ts"])
    assert fake.message("C0FRONT", posted["ts"]) is None
    err = await slack_error(client.chat_getPermalink(channel="C0FRONT", message_ts=posted["ts"]))
    assert err.response["error"] == "message_not_found"


async def test_thread_replies_and_history(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C0FRONT", text="Case card")
    await client.chat_postMessage(channel="C0FRONT", text="note 1", thread_ts=parent["ts"])
    broadcast = await client.chat_postMessage(
        channel="C0FRONT", text="note 2", thread_ts=parent["ts"], reply_broadcast=True
    )
    replies = await client.conversations_replies(channel="C0FRONT", ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["Case card", "note 1", "note 2"]
    assert replies["messages"][0]["reply_count"] == 2
    assert all(m["thread_ts"] == parent["ts"] for m in replies["messages"])

    history = await client.conversations_history(channel="C0FRONT")
    # Newest first; plain replies stay in the thread, broadcast ones show in the channel.
    assert [m["ts"] for m in history["messages"]] == [broadcast["ts"], parent["ts"]]

    err = await slack_error(client.conversations_replies(channel="C0FRONT", ts="1.000001"))
    assert err.response["error"] == "thread_not_found"


async def test_history_paginates(client: AsyncWebClient) -> None:
    for i in range(5):
        await client.chat_postMessage(channel="C0FRONT", text=f"m{i}")
    first = await client.conversations_history(channel="C0FRONT", limit=3)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3", "m2"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    second = await client.conversations_history(channel="C0FRONT", limit=3, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["m1", "m0"]
    assert second["has_more"] is False


async def test_history_and_replies_page_back_to_oldest_with_metadata_on_request(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    # As Slack: newest first in history, oldest first in a thread (the parent leading the
    # first page only); ``oldest``/``latest`` bound both; metadata only when asked for.
    meta = {"event_type": "test", "event_payload": {"key": "k"}}
    parent = await client.chat_postMessage(channel="C0FRONT", text="parent")
    posted = [await client.chat_postMessage(channel="C0FRONT", text=f"m{i}", metadata=meta)
              for i in range(7)]
    replies = [await client.chat_postMessage(channel="C0FRONT", text=f"r{i}",
                                             thread_ts=parent["ts"]) for i in range(7)]
    seen: list[str] = []
    cursor = ""
    while True:
        page = await client.conversations_history(
            channel="C0FRONT", oldest=posted[1]["ts"], latest=posted[6]["ts"], limit=2,
            cursor=cursor or None, include_all_metadata=True)
        seen += [m["text"] for m in page["messages"]]
        assert all(m["metadata"] == meta for m in page["messages"])
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert seen == ["m5", "m4", "m3", "m2"]  # neither end without ``inclusive``
    bare = await client.conversations_history(channel="C0FRONT", limit=1)
    assert [m["text"] for m in bare["messages"]] == ["m6"] and "metadata" not in bare["messages"][0]
    first = await client.conversations_replies(channel="C0FRONT", ts=parent["ts"],
                                               oldest=replies[3]["ts"], inclusive=True, limit=2)
    assert [m["text"] for m in first["messages"]] == ["parent", "r3"]
    rest = await client.conversations_replies(channel="C0FRONT", ts=parent["ts"],
                                              oldest=replies[3]["ts"], inclusive=True, limit=2,
                                              cursor=first["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["r4", "r5"] and rest["has_more"] is True


async def test_ephemeral_is_stored_per_user(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.chat_postEphemeral(channel="C0FRONT", user="U0ADA", text="Only you")
    assert resp["message_ts"]
    assert [m["text"] for m in fake.ephemerals_for("U0ADA", "C0FRONT")] == ["Only you"]
    assert fake.ephemerals_for("U0SAM") == []
    assert fake.history("C0FRONT") == []

    err = await slack_error(client.chat_postEphemeral(channel="C0PRIV", user="U0ADA", text="x"))
    assert err.response["error"] == "user_not_in_channel"
    err = await slack_error(client.chat_postEphemeral(channel="C0FRONT", user="U0NOBODY", text="x"))
    assert err.response["error"] == "user_not_found"


async def test_conversations_open_gives_a_stable_dm(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    first = await client.conversations_open(users="U0ADA")
    second = await client.conversations_open(users=["U0ADA"])
    dm = first["channel"]["id"]
    assert dm.startswith("D")
    assert second["channel"]["id"] == dm
    assert second["already_open"] is True
    info = await client.conversations_info(channel=dm)
    assert info["channel"]["is_im"] is True
    assert info["channel"]["user"] == "U0ADA"
    # Posting "to a user" lands in the app's DM with them, as at Slack.
    posted = await client.chat_postMessage(channel="U0ADA", text="Your referral is logged")
    assert posted["channel"] == dm
    err = await slack_error(client.conversations_open(users="U0NOBODY"))
    assert err.response["error"] == "user_not_found"


async def test_channel_not_found(client: AsyncWebClient) -> None:
    err = await slack_error(client.chat_postMessage(channel="C0NOPE", text="x"))
    assert err.response["error"] == "channel_not_found"
    err = await slack_error(client.conversations_info(channel="C0NOPE"))
    assert err.response["error"] == "channel_not_found"


async def test_reactions_add(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0FRONT", text="done")
    await client.reactions_add(channel="C0FRONT", timestamp=posted["ts"], name="white_check_mark")
    stored = fake.message("C0FRONT", posted["ts"])
    assert stored is not None
    assert stored["reactions"] == [
        {"name": "white_check_mark", "users": ["U0FRONTBOT"], "count": 1}
    ]
    err = await slack_error(
        client.reactions_add(channel="C0FRONT", timestamp=posted["ts"], name="white_check_mark")
    )
    assert err.response["error"] == "already_reacted"


# -------------------------------------------------------- users and groups


async def test_users_and_usergroups(client: AsyncWebClient) -> None:
    info = await client.users_info(user="U0ADA")
    assert info["user"]["real_name"] == "Ada Teacher"
    assert info["user"]["tz"] == "Europe/London"
    assert info["user"]["is_bot"] is False
    found = await client.users_lookupByEmail(email="sam@example.org")
    assert found["user"]["id"] == "U0SAM"
    members = await client.usergroups_users_list(usergroup="S0DUTY")
    assert members["users"] == ["U0SAM"]

    assert (await slack_error(client.users_info(user="U0NOBODY"))).response[
        "error"
    ] == "user_not_found"
    assert (await slack_error(client.users_lookupByEmail(email="x@example.org"))).response[
        "error"
    ] == "users_not_found"
    assert (await slack_error(client.usergroups_users_list(usergroup="S0NOPE"))).response[
        "error"
    ] == "no_such_subteam"


# --------------------------------------------------------------------- views


async def test_views_open_update_and_triggers(fake: FakeSlack, client: AsyncWebClient) -> None:
    form = modal(
        [
            {
                "type": "input",
                "block_id": "concern",
                "label": {"type": "plain_text", "text": "Concern"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            }
        ],
        submit={"type": "plain_text", "text": "Send"},
        callback_id="consult",
        external_id="consult-1",
    )
    opened = await client.views_open(trigger_id="123.456.abc", view=form)
    view = opened["view"]
    assert view["id"].startswith("V")
    assert view["callback_id"] == "consult"
    assert view["hash"]
    assert view["state"] == {"values": {}}

    # One trigger opens one view.
    err = await slack_error(client.views_open(trigger_id="123.456.abc", view=form))
    assert err.response["error"] == "exchanged_trigger_id"
    err = await slack_error(client.views_open(trigger_id="", view=form))
    assert err.response["error"] == "invalid_trigger_id"

    changed = modal([section("Thanks, sent")])
    by_id = await client.views_update(view_id=view["id"], view=changed, hash=view["hash"])
    assert by_id["view"]["id"] == view["id"]
    assert by_id["view"]["hash"] != view["hash"]
    err = await slack_error(
        client.views_update(view_id=view["id"], view=changed, hash=view["hash"])
    )
    assert err.response["error"] == "hash_conflict"
    by_external = await client.views_update(external_id="consult-1", view=changed)
    assert by_external["view"]["id"] == view["id"]
    err = await slack_error(client.views_update(view_id="V0NOPE", view=changed))
    assert err.response["error"] == "not_found"

    pushed = await client.views_push(trigger_id="789.456.def", view=modal([section("More")]))
    assert pushed["view"]["id"] != view["id"]
    assert [c.method for c in fake.calls if c.ok] == [
        "views.open",
        "views.update",
        "views.update",
        "views.push",
    ]


async def test_views_publish_home(fake: FakeSlack, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [section("Your open consultations: 0")]}
    first = await client.views_publish(user_id="U0ADA", view=home)
    again = await client.views_publish(user_id="U0ADA", view=home)
    assert first["view"]["type"] == "home"
    assert again["view"]["id"] == first["view"]["id"]
    assert fake.home_views["U0ADA"]["blocks"][0]["text"]["text"] == "Your open consultations: 0"
    err = await slack_error(client.views_publish(user_id="U0NOBODY", view=home))
    assert err.response["error"] == "user_not_found"
    err = await slack_error(client.views_publish(user_id="", view=home))
    assert err.response["error"] == "invalid_arguments"
    err = await slack_error(client.views_publish(user_id="U0ADA", view=modal([section("x")])))
    assert err.response["error"] == "invalid_arguments"


# --------------------------------------------------------------------- files


async def test_files_upload_v2_end_to_end(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C0FRONT", text="Case card")
    resp = await client.files_upload_v2(
        channel="C0FRONT",
        content="date,event\n2024-11-22,referral\n",
        filename="caf-log.csv",
        title="CAF log",
        initial_comment="Export attached",
        thread_ts=parent["ts"],
    )
    file = resp["file"]
    assert file["name"] == "caf-log.csv"
    assert file["title"] == "CAF log"
    assert file["mimetype"] == "text/csv"
    assert [c.method for c in fake.calls[-3:]] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    shared = fake.thread("C0FRONT", parent["ts"])[-1]
    assert shared["text"] == "Export attached"
    assert shared["files"][0]["id"] == file["id"]
    async with (
        aiohttp.ClientSession() as session,
        session.get(file["url_private"]) as download,
    ):
        assert await download.text() == "date,event\n2024-11-22,referral\n"


async def test_complete_upload_without_upload_is_file_not_found(client: AsyncWebClient) -> None:
    ticket = await client.files_getUploadURLExternal(filename="x.txt", length=3)
    err = await slack_error(
        client.files_completeUploadExternal(files=[{"id": ticket["file_id"], "title": "x"}])
    )
    assert err.response["error"] == "file_not_found"


# ------------------------------------------------------------- Block Kit limits


async def test_more_than_50_blocks_is_invalid_blocks(client: AsyncWebClient) -> None:
    err = await slack_error(
        client.chat_postMessage(channel="C0FRONT", text="x", blocks=[{"type": "divider"}] * 51)
    )
    assert err.response["error"] == "invalid_blocks"
    assert err.response["errors"] == [
        "must provide an array with no more than 50 items [json-pointer:/blocks]"
    ]
    assert err.response["response_metadata"]["messages"] == [
        "[ERROR] must provide an array with no more than 50 items [json-pointer:/blocks]"
    ]


async def test_view_with_more_than_100_blocks_is_rejected(client: AsyncWebClient) -> None:
    err = await slack_error(
        client.views_open(trigger_id="1.2.3", view=modal([{"type": "divider"}] * 101))
    )
    assert err.response["error"] == "invalid_arguments"
    assert (
        "no more than 100 items [json-pointer:/view/blocks]"
        in (err.response["response_metadata"]["messages"][0])
    )
    ok = await client.views_open(trigger_id="1.2.4", view=modal([{"type": "divider"}] * 100))
    assert len(ok["view"]["blocks"]) == 100


@pytest.mark.parametrize(
    ("block", "pointer"),
    [
        (section("x" * 3001), "/blocks/0/text/text"),
        (
            {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
            "/blocks/0/text/text",
        ),
        (
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "b" * 76},
                        "action_id": "a",
                    }
                ],
            },
            "/blocks/0/elements/0/text/text",
        ),
        (
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "ok"},
                        "action_id": "a" * 256,
                    }
                ],
            },
            "/blocks/0/elements/0/action_id",
        ),
        ({**section("x"), "block_id": "b" * 256}, "/blocks/0/block_id"),
        ({"type": "carousel"}, "/blocks/0/type"),
        (
            {"type": "actions", "elements": [{"type": "plain_text_input", "action_id": "a"}]},
            "/blocks/0/elements/0/type",
        ),
        ({"type": "section", "text": {"type": "mrkdwn", "text": ""}}, "/blocks/0/text/text"),
    ],
    ids=[
        "section-3001",
        "header-151",
        "button-76",
        "action_id-256",
        "block_id-256",
        "unknown-type",
        "input-in-actions",
        "empty-text",
    ],
)
async def test_invalid_blocks(client: AsyncWebClient, block: dict[str, Any], pointer: str) -> None:
    err = await slack_error(client.chat_postMessage(channel="C0FRONT", text="x", blocks=[block]))
    assert err.response["error"] == "invalid_blocks"
    assert err.response["errors"][0].endswith(f"[json-pointer:{pointer}]")


async def test_limits_at_the_edge_are_accepted(client: AsyncWebClient) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        section("x" * 3000),
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "b" * 75},
                    "action_id": "a" * 255,
                },
                {
                    "type": "static_select",
                    "action_id": "pick",
                    "options": [
                        {"text": {"type": "plain_text", "text": "Low"}, "value": "low"},
                        {"text": {"type": "plain_text", "text": "High"}, "value": "high"},
                    ],
                },
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "SLA: 24h"}]},
        {"type": "divider"},
    ] + [{"type": "divider"}] * 45
    resp = await client.chat_postMessage(channel="C0FRONT", text="x", blocks=blocks)
    assert len(resp["message"]["blocks"]) == 50


def options(n: int) -> list[dict[str, Any]]:
    return [{"text": {"type": "plain_text", "text": f"o{i}"}, "value": f"v{i}"} for i in range(n)]


@pytest.mark.parametrize(
    ("element", "pointer"),
    [
        ({"type": "static_select", "action_id": "s", "options": options(101)}, "/options"),
        ({"type": "radio_buttons", "action_id": "r", "options": options(11)}, "/options"),
        ({"type": "checkboxes", "action_id": "c", "options": options(11)}, "/options"),
        ({"type": "datepicker", "action_id": "d", "initial_date": "22/11/2024"}, "/initial_date"),
        (
            {"type": "button", "action_id": "b", "text": {"type": "plain_text", "text": "x"}},
            "/type",
        ),
    ],
    ids=["select-101", "radio-11", "checkboxes-11", "bad-date", "button-in-input"],
)
async def test_invalid_view_elements(
    client: AsyncWebClient, element: dict[str, Any], pointer: str
) -> None:
    block = {"type": "input", "label": {"type": "plain_text", "text": "L"}, "element": element}
    view = modal([block], submit={"type": "plain_text", "text": "Send"})
    err = await slack_error(client.views_open(trigger_id="1.2.3", view=view))
    assert err.response["error"] == "invalid_arguments"
    message = err.response["response_metadata"]["messages"][0]
    assert message.endswith(f"[json-pointer:/view/blocks/0/element{pointer}]")


async def test_overflow_allows_five_options(client: AsyncWebClient) -> None:
    def card(n: int) -> list[dict[str, Any]]:
        overflow = {"type": "overflow", "action_id": "more", "options": options(n)}
        return [{**section("Case card"), "accessory": overflow}]

    assert (await client.chat_postMessage(channel="C0FRONT", text="x", blocks=card(5)))["ok"]
    err = await slack_error(client.chat_postMessage(channel="C0FRONT", text="x", blocks=card(6)))
    assert err.response["errors"] == [
        "must provide an array with no more than 5 items [json-pointer:/blocks/0/accessory/options]"
    ]


async def test_modal_with_inputs_needs_submit(client: AsyncWebClient) -> None:
    block = {
        "type": "input",
        "label": {"type": "plain_text", "text": "Concern"},
        "element": {"type": "plain_text_input", "action_id": "t"},
    }
    err = await slack_error(client.views_open(trigger_id="1.2.3", view=modal([block])))
    assert err.response["error"] == "invalid_arguments"
    assert "/view/submit" in err.response["response_metadata"]["messages"][0]
    ok = await client.views_open(
        trigger_id="1.2.4", view=modal([block], submit={"type": "plain_text", "text": "Send"})
    )
    # Slack fills in generated block and action ids; the fake does too.
    assert ok["view"]["blocks"][0]["block_id"]
    assert ok["view"]["blocks"][0]["element"]["action_id"] == "t"


async def test_malformed_arguments_are_invalid_arguments(client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C0FRONT", text="x")
    err = await slack_error(client.conversations_history(channel="C0FRONT", latest="yesterday"))
    assert err.response.status_code == 200
    assert err.response["error"] == "invalid_arguments"


async def test_duplicate_block_ids_are_invalid(client: AsyncWebClient) -> None:
    blocks = [{**section("a"), "block_id": "same"}, {**section("b"), "block_id": "same"}]
    err = await slack_error(client.chat_postMessage(channel="C0FRONT", text="x", blocks=blocks))
    assert err.response["error"] == "invalid_blocks"


async def test_text_limits(client: AsyncWebClient) -> None:
    err = await slack_error(client.chat_postMessage(channel="C0FRONT", text="x" * 40_001))
    assert err.response["error"] == "msg_too_long"
    with pytest.warns(UserWarning):  # slack_sdk itself warns about the missing text
        err = await slack_error(client.chat_postMessage(channel="C0FRONT"))
    assert err.response["error"] == "no_text"
    resp = await client.chat_postMessage(channel="C0FRONT", text="x" * 40_000)
    assert resp["ok"]


# ---------------------------------------------------------------- faults


async def test_rate_limit_then_success_with_retry_handler(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=429, times=1, retry_after=1)
    client = AsyncWebClient(
        token=TOKEN,
        base_url=fake.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    started = time.monotonic()
    resp = await client.chat_postMessage(channel="C0FRONT", text="after the storm")
    elapsed = time.monotonic() - started
    assert resp["ok"]
    attempts = fake.calls_to("chat.postMessage")
    assert [c.fault for c in attempts] == ["429", None]
    assert attempts[0].response == {"ok": False, "error": "ratelimited"}
    assert elapsed >= 1.0  # the handler honoured Retry-After
    assert len(fake.history("C0FRONT")) == 1


async def test_rate_limit_without_handler_surfaces_retry_after(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=7)
    err = await slack_error(client.chat_postMessage(channel="C0FRONT", text="x"))
    assert err.response.status_code == 429
    assert err.response.headers["Retry-After"] == "7"
    assert err.response["error"] == "ratelimited"
    # The fault is used up: the next call goes through.
    assert (await client.chat_postMessage(channel="C0FRONT", text="x"))["ok"]


async def test_server_error_then_success_with_retry_handler(fake: FakeSlack) -> None:
    fake.fail("chat.update", status=500, times=1)
    fake.fail("chat.postMessage", status=503, times=1)
    client = AsyncWebClient(
        token=TOKEN,
        base_url=fake.base_url,
        retry_handlers=[
            AsyncServerErrorRetryHandler(
                max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
            )
        ],
    )
    posted = await client.chat_postMessage(channel="C0FRONT", text="x")
    await client.chat_update(channel="C0FRONT", ts=posted["ts"], text="y")
    assert [c.fault for c in fake.calls_to("chat.postMessage")] == ["503", None]
    assert [c.fault for c in fake.calls_to("chat.update")] == ["500", None]


async def test_server_error_without_handler(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail("*", status=500, times=2, error="internal_error")
    for _ in range(2):
        err = await slack_error(client.users_info(user="U0ADA"))
        assert err.response.status_code == 500
        assert err.response["error"] == "internal_error"
    assert (await client.users_info(user="U0ADA"))["ok"]


async def test_injected_api_error_with_status_200(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail("chat.postMessage", status=200, error="is_archived")
    err = await slack_error(client.chat_postMessage(channel="C0FRONT", text="x"))
    assert err.response.status_code == 200
    assert err.response["error"] == "is_archived"


async def test_disconnect(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", exc="disconnect", times=1)
    bare = AsyncWebClient(token=TOKEN, base_url=fake.base_url, retry_handlers=[])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await bare.chat_postMessage(channel="C0FRONT", text="x")

    # slack_sdk's default handler retries one connection error by itself.
    fake.fail("chat.postMessage", exc="disconnect", times=1)
    default = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
    assert (await default.chat_postMessage(channel="C0FRONT", text="x"))["ok"]
    assert [c.fault for c in fake.calls_to("chat.postMessage")] == [
        "disconnect",
        "disconnect",
        None,
    ]


# ----------------------------------------------- waiting, events, response_url


async def test_wait_for_wakes_on_the_call(fake: FakeSlack, client: AsyncWebClient) -> None:
    task = asyncio.create_task(client.chat_postMessage(channel="C0FRONT", text="later"))
    calls = await fake.wait_for("chat.postMessage", predicate=lambda c: c.args["text"] == "later")
    assert calls[0].ok
    await task
    with pytest.raises(TimeoutError, match="chat.delete"):
        await fake.wait_for("chat.delete", timeout=0.05)
    fake.clear()
    assert fake.calls == []


async def test_subscribe_sees_posts_ephemerals_and_views(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    events = fake.subscribe()
    posted = await client.chat_postMessage(channel="C0FRONT", text="hello")
    await client.chat_postEphemeral(channel="C0FRONT", user="U0ADA", text="psst")
    await client.views_publish(user_id="U0ADA", view={"type": "home", "blocks": []})
    seen = [events.get_nowait() for _ in range(3)]
    assert [e["type"] for e in seen] == ["message", "ephemeral", "home_published"]
    assert seen[0]["ts"] == posted["ts"]
    assert seen[1]["user"] == "U0ADA"
    fake.unsubscribe(events)
    await client.chat_postMessage(channel="C0FRONT", text="unseen")
    assert events.empty()


async def test_response_url(fake: FakeSlack, client: AsyncWebClient) -> None:
    card = await client.chat_postMessage(channel="C0FRONT", text="Triage card")
    url = fake.response_url("C0FRONT", "U0ADA", message_ts=card["ts"])
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"text": "Only for Ada"}) as r:
            assert r.status == 200
        async with session.post(url, json={"text": "Accepted", "replace_original": True}) as r:
            assert r.status == 200
        async with session.post(url, json={"text": "FYI all", "response_type": "in_channel"}) as r:
            assert r.status == 200
    assert [m["text"] for m in fake.ephemerals_for("U0ADA")] == ["Only for Ada"]
    assert [m["text"] for m in fake.history("C0FRONT")] == ["Accepted", "FYI all"]
    assert len(fake.calls_to("response_url")) == 3


async def test_snapshot_never_keeps_what_people_typed() -> None:
    """A refused answer typed in a DM stays in memory for the page, never on disk."""
    async with FakeSlack(tokens=["xoxb-snap"]) as fake:
        fake.add_user("U0TEACHER", "ada.teacher")
        dm = fake.dm_channel("U0TEACHER")
        fake.add_message(dm, "U0TEACHER", "Tyler Brookes lives near CB4 1XY")
        client = AsyncWebClient(token="xoxb-snap", base_url=fake.base_url)
        await client.chat_postMessage(channel="U0TEACHER", text="What are you worried about?")
        snap = json.dumps(fake.snapshot())
    assert "What are you worried about?" in snap
    assert "Tyler" not in snap and "CB4 1XY" not in snap
