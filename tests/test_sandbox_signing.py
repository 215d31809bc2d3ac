"""Request signing and SlackSender, against a real Bolt AsyncApp served over aiohttp.

The Bolt app talks to the fake Web API over HTTP, so every assertion about what
the bot did is an assertion about the calls the fake recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond, AsyncSay
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.signing import SlackSender, sign, state_value
from bot.sandbox.webapi import FakeSlack

SECRET = "sandbox-signing-secret"
TOKEN = "xoxb-test"

CONSULT_VIEW: dict[str, Any] = {
    "type": "modal",
    "callback_id": "consult",
    "title": {"type": "plain_text", "text": "Consultation"},
    "submit": {"type": "plain_text", "text": "Send"},
    "private_metadata": "case-7",
    "blocks": [
        {
            "type": "input",
            "block_id": "concern",
            "label": {"type": "plain_text", "text": "Concern"},
            "element": {"type": "plain_text_input", "action_id": "text"},
        },
        {
            "type": "input",
            "block_id": "urgency",
            "label": {"type": "plain_text", "text": "Urgency"},
            "element": {
                "type": "static_select",
                "action_id": "level",
                "options": [
                    {"text": {"type": "plain_text", "text": "Routine"}, "value": "routine"},
                    {"text": {"type": "plain_text", "text": "Same day"}, "value": "same_day"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "seen",
            "optional": True,
            "label": {"type": "plain_text", "text": "Last seen"},
            "element": {"type": "datepicker", "action_id": "date"},
        },
    ],
}

TRIAGE_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Triage card* - no names"}},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "triage_accept",
                "text": {"type": "plain_text", "text": "Accept"},
                "value": "case-7",
                "style": "primary",
            }
        ],
    },
]


def build_bolt_app(fake: FakeSlack) -> AsyncApp:
    """A tiny Bolt app whose listeners leave traces in the fake Web API."""
    app = AsyncApp(
        signing_secret=SECRET,
        # Bolt takes its token from the client when one is given.
        client=AsyncWebClient(token=TOKEN, base_url=fake.base_url),
    )

    @app.command("/frontdoor")
    async def frontdoor(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=command["trigger_id"], view=CONSULT_VIEW)

    @app.command("/frontdoor-echo")
    async def echo(
        ack: AsyncAck, command: dict[str, Any], say: AsyncSay, respond: AsyncRespond
    ) -> None:
        await ack()
        await say(f"echo from {command['user_name']}: {command['text']}")
        await respond("Only you can see this")

    @app.action("triage_accept")
    async def accept(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_update(
            channel=body["channel"]["id"],
            ts=body["message"]["ts"],
            text=f"Accepted by <@{body['user']['id']}> ({body['actions'][0]['value']})",
        )

    @app.view("consult")
    async def submitted(
        ack: AsyncAck, view: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        values = view["state"]["values"]
        concern = values["concern"]["text"]["value"]
        if not concern:
            await ack(response_action="errors", errors={"concern": "Please describe the concern"})
            return
        await ack()
        level = values["urgency"]["level"]["selected_option"]["value"]
        seen = values["seen"]["date"]["selected_date"]
        await client.chat_postMessage(
            channel=body["user"]["id"],
            text=f"{view['private_metadata']}: {concern} [{level}] seen {seen}",
        )

    @app.action("home_refresh")
    async def refresh(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_publish(
            user_id=body["user"]["id"],
            hash=body["view"]["hash"],  # guards against overwriting a newer Home
            view={
                "type": "home",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Refreshed"}}],
            },
        )

    @app.event("message")
    async def dm(event: dict[str, Any], say: AsyncSay) -> None:
        if event.get("channel_type") == "im":
            await say(f"echo: {event['text']}")

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.views_publish(
            user_id=event["user"],
            view={"type": "home", "blocks": [{"type": "divider"}]},
        )

    return app


@dataclass
class Rig:
    fake: FakeSlack
    slack: SlackSender
    app: AsyncApp


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with FakeSlack(tokens=[TOKEN]) as fake:
        fake.add_user("U0ADA", "ada", real_name="Ada Teacher")
        fake.add_user("U0SAM", "sam", real_name="Sam Manager")
        fake.add_channel("C0FRONT", "front-door")
        app = build_bolt_app(fake)

        async def events(request: web.Request) -> web.Response:
            return await to_aiohttp_response(
                await app.async_dispatch(await to_bolt_request(request))
            )

        web_app = web.Application()
        web_app.router.add_post("/slack/events", events)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        try:
            async with SlackSender(
                f"http://{host}:{port}/slack/events", SECRET, workspace=fake
            ) as slack:
                yield Rig(fake, slack, app)
        finally:
            await runner.cleanup()


# ------------------------------------------------------------------ signing


def test_sign_matches_slacks_documented_example() -> None:
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
        "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
        "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com"
        "%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert (
        sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, body)
        == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


@pytest.mark.parametrize(
    "body",
    ["", "command=%2Ffrontdoor&text=hello", '{"type":"event_callback","text":"caf\u00e9 \u2713"}'],
)
def test_sign_agrees_with_slack_sdk_verifier(body: str) -> None:
    now = int(time.time())
    verifier = SignatureVerifier(SECRET)
    expected = verifier.generate_signature(timestamp=str(now), body=body)
    assert sign(SECRET, now, body) == expected
    assert sign(SECRET, now, body.encode()) == expected
    assert verifier.is_valid(body, str(now), sign(SECRET, now, body))
    assert not verifier.is_valid(body, str(now), sign(SECRET + "x", now, body))


# ---------------------------------------------------------- Bolt end to end


async def test_slash_command_opens_modal(rig: Rig) -> None:
    delivery = await rig.slack.slash_command("U0ADA", "/frontdoor", "new consultation")
    assert delivery.status == 200
    (call,) = await rig.fake.wait_for("views.open")
    assert call.ok
    assert call.args["trigger_id"] == delivery.sent["trigger_id"]
    assert call.args["view"]["callback_id"] == "consult"
    # Bolt authorises once per app with auth.test.
    assert len(rig.fake.calls_to("auth.test")) == 1


async def test_slash_command_say_and_respond(rig: Rig) -> None:
    delivery = await rig.slack.slash_command(
        "U0ADA", "frontdoor-echo", "hello", channel_id="C0FRONT"
    )
    assert delivery.status == 200
    assert delivery.sent["channel_name"] == "front-door"
    (posted,) = await rig.fake.wait_for("chat.postMessage")
    assert posted.args["channel"] == "C0FRONT"
    assert posted.args["text"] == "echo from ada: hello"
    await rig.fake.wait_for("response_url")
    assert [m["text"] for m in rig.fake.ephemerals_for("U0ADA", "C0FRONT")] == [
        "Only you can see this"
    ]


async def test_block_action_updates_the_message(rig: Rig) -> None:
    bot = AsyncWebClient(token=TOKEN, base_url=rig.fake.base_url)
    card = await bot.chat_postMessage(channel="C0FRONT", text="Triage card", blocks=TRIAGE_BLOCKS)
    delivery = await rig.slack.block_action(
        "U0SAM", "triage_accept", channel_id="C0FRONT", message_ts=card["ts"]
    )
    assert delivery.status == 200
    action = delivery.sent["actions"][0]
    # The sender took type, text, value and generated block_id from the stored message.
    assert action["type"] == "button"
    assert action["value"] == "case-7"
    assert action["block_id"] == card["message"]["blocks"][1]["block_id"]
    assert delivery.sent["container"]["message_ts"] == card["ts"]

    (update,) = await rig.fake.wait_for("chat.update")
    assert update.ok
    stored = rig.fake.message("C0FRONT", card["ts"])
    assert stored is not None
    assert stored["text"] == "Accepted by <@U0SAM> (case-7)"


async def test_block_action_in_app_home(rig: Rig) -> None:
    bot = AsyncWebClient(token=TOKEN, base_url=rig.fake.base_url)
    button = {
        "type": "button",
        "action_id": "home_refresh",
        "text": {"type": "plain_text", "text": "Refresh"},
    }
    await bot.views_publish(
        user_id="U0SAM",
        view={"type": "home", "blocks": [{"type": "actions", "elements": [button]}]},
    )
    home = rig.fake.home_views["U0SAM"]
    delivery = await rig.slack.block_action("U0SAM", "home_refresh", view=home)
    assert delivery.status == 200
    assert delivery.sent["container"] == {"type": "view", "view_id": home["id"]}
    assert "response_url" not in delivery.sent
    published = await rig.fake.wait_for("views.publish", count=2)
    assert published[-1].ok
    assert rig.fake.home_views["U0SAM"]["blocks"][0]["text"]["text"] == "Refreshed"


async def test_view_submission_fills_state_values(rig: Rig) -> None:
    await rig.slack.slash_command("U0ADA", "/frontdoor")
    (opened,) = await rig.fake.wait_for("views.open")
    view = opened.response["view"] if opened.response else {}

    delivery = await rig.slack.view_submission(
        "U0ADA",
        view,
        {"text": "Worried about attendance", "level": "same_day", "date": dt.date(2024, 11, 20)},
    )
    assert delivery.status == 200
    assert delivery.body == ""
    values = delivery.sent["view"]["state"]["values"]
    assert values["urgency"]["level"]["selected_option"]["text"]["text"] == "Same day"

    (posted,) = await rig.fake.wait_for("chat.postMessage")
    assert posted.args["text"] == "case-7: Worried about attendance [same_day] seen 2024-11-20"
    assert posted.response is not None
    assert posted.response["channel"] == rig.fake.dm_channel("U0ADA")


async def test_view_submission_errors_come_back_in_the_response(rig: Rig) -> None:
    delivery = await rig.slack.view_submission("U0ADA", CONSULT_VIEW, {"level": "routine"})
    assert delivery.status == 200
    assert delivery.json() == {
        "response_action": "errors",
        "errors": {"concern": "Please describe the concern"},
    }
    values = delivery.sent["view"]["state"]["values"]
    # Unfilled inputs are reported with Slack's empty shapes.
    assert values["concern"]["text"] == {"type": "plain_text_input", "value": None}
    assert values["seen"]["date"] == {"type": "datepicker", "selected_date": None}


async def test_message_im_event(rig: Rig) -> None:
    delivery = await rig.slack.message_im("U0ADA", None, "is anyone there?")
    assert delivery.status == 200
    dm = rig.fake.dm_channel("U0ADA")
    (reply,) = await rig.fake.wait_for("chat.postMessage")
    assert reply.args == {"channel": dm, "text": "echo: is anyone there?", "team_id": "T0FRONT"}
    assert [m["text"] for m in rig.fake.history(dm)] == [
        "is anyone there?",
        "echo: is anyone there?",
    ]


async def test_app_home_opened(rig: Rig) -> None:
    await rig.slack.app_home_opened("U0SAM")
    (published,) = await rig.fake.wait_for("views.publish")
    assert published.args["user_id"] == "U0SAM"
    assert rig.fake.home_views["U0SAM"]["type"] == "home"


async def test_event_retries_carry_slack_headers(rig: Rig) -> None:
    seen: list[tuple[str | None, str | None]] = []

    # Bolt injects middleware arguments by name, so the parameter must be called `next`.
    @rig.app.middleware
    async def record_retry(req: Any, resp: Any, next: Any) -> Any:
        seen.append(
            (
                req.headers.get("x-slack-retry-num", [None])[0],
                req.headers.get("x-slack-retry-reason", [None])[0],
            )
        )
        return await next()

    first = await rig.slack.message_im("U0ADA", None, "hello")
    retry = await rig.slack.event(first.sent["event"], event_id=first.sent["event_id"], retry_num=1)
    assert retry.status == 200
    assert retry.sent["event_id"] == first.sent["event_id"]
    assert seen == [(None, None), ("1", "http_timeout")]
    await rig.fake.wait_for("chat.postMessage", count=2)


async def test_url_verification(rig: Rig) -> None:
    delivery = await rig.slack.url_verification(
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    )
    assert delivery.status == 200
    assert delivery.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


# ----------------------------------------------------------- rejected requests


async def test_forged_signature_is_rejected(rig: Rig) -> None:
    delivery = await rig.slack.slash_command("U0ADA", "/frontdoor-echo", "x", forged=True)
    assert delivery.status == 401
    # Verification runs before any listener or auth.test, so nothing reached the API.
    assert rig.fake.calls == []


@pytest.mark.parametrize("skew", [-301, 301], ids=["stale", "future"])
async def test_timestamp_outside_five_minutes_is_rejected(rig: Rig, skew: int) -> None:
    delivery = await rig.slack.message_im(
        "U0ADA", None, "replayed", timestamp=int(time.time()) + skew
    )
    assert delivery.status == 401
    assert rig.fake.calls_to("chat.postMessage") == []


async def test_timestamp_within_five_minutes_is_accepted(rig: Rig) -> None:
    delivery = await rig.slack.slash_command(
        "U0ADA", "/frontdoor-echo", "late", timestamp=int(time.time()) - 240
    )
    assert delivery.status == 200


async def test_sender_clock_drives_the_signed_timestamp(rig: Rig) -> None:
    ten_minutes_ago = time.time() - 600
    async with SlackSender(rig.slack.events_url, SECRET, clock=lambda: ten_minutes_ago) as stale:
        delivery = await stale.url_verification("abc")
    assert delivery.status == 401


# ------------------------------------------------------------- payload shapes


def test_state_value_shapes() -> None:
    select = CONSULT_VIEW["blocks"][1]["element"]
    assert state_value("plain_text_input", "hi") == {"type": "plain_text_input", "value": "hi"}
    assert state_value("static_select", "routine", select)["selected_option"] == {
        "text": {"type": "plain_text", "text": "Routine"},
        "value": "routine",
    }
    assert (
        state_value("multi_static_select", ["routine"], select)["selected_options"][0]["value"]
        == "routine"
    )
    assert state_value("multi_static_select", None) == {
        "type": "multi_static_select",
        "selected_options": [],
    }
    assert state_value("datepicker", "2024-11-22") == {
        "type": "datepicker",
        "selected_date": "2024-11-22",
    }
    assert state_value("users_select", "U0SAM") == {
        "type": "users_select",
        "selected_user": "U0SAM",
    }
    assert state_value("checkboxes", None) == {"type": "checkboxes", "selected_options": []}


async def test_sender_without_workspace_builds_plausible_payloads() -> None:
    sender = SlackSender("http://127.0.0.1:9/unused", SECRET)
    triggers = {sender.trigger_id() for _ in range(50)}
    assert len(triggers) == 50
    assert all(t.count(".") == 2 for t in triggers)
    state = sender.view_state(CONSULT_VIEW, {"concern": {"text": "by block id"}})
    assert state["concern"]["text"]["value"] == "by block id"
    assert json.dumps(state)  # serialisable as sent
    await sender.close()
