"""A tiny Bolt app that uses every Block Kit piece the sandbox page must render.

It lets the page and its API be tested without the real bot: the same Slack
protocol (signed requests in, Web API calls out), none of Front Door's flows.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.policy import load_policy
from bot.sandbox import demo
from bot.sandbox.signing import SlackSender
from bot.sandbox.ui import SandboxUI, WorkspaceClock
from bot.sandbox.webapi import FakeSlack

TOKEN = "xoxb-stub"
SECRET = "stub-signing-secret"
CHANNEL = "C0CONSULT"


def question_blocks() -> list[dict[str, Any]]:
    """A message using header, section (fields, accessory), context, divider and actions."""
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "A question :warning:"}},
        {
            "type": "section",
            "block_id": "intro",
            "text": {
                "type": "mrkdwn",
                "text": "*Bold* and _italic_ and `code` for <@U0TEACHER> in <#C0CONSULT> "
                "&amp; &lt;b&gt;not html&lt;/b&gt; <!subteam^S0MASHMGRS>",
            },
            "accessory": {
                "type": "overflow",
                "action_id": "stub.overflow",
                "options": [
                    {"text": {"type": "plain_text", "text": "Snooze 1 hour"}, "value": "60"},
                    {"text": {"type": "plain_text", "text": "Snooze 2 hours"}, "value": "120"},
                ],
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Reference*\nFD-2026-000001"},
                {"type": "mrkdwn", "text": "*Rating*\n:red_circle: Red"},
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Step 1 of 2"}]},
        {"type": "divider"},
        {
            "type": "actions",
            "block_id": "q:1:danger",
            "elements": [
                {"type": "button", "action_id": "stub.answer:0", "value": "yes",
                 "text": {"type": "plain_text", "text": "Yes"}, "style": "primary"},
                {"type": "button", "action_id": "stub.answer:1", "value": "no",
                 "text": {"type": "plain_text", "text": "No"}},
                {"type": "button", "action_id": "stub.cancel", "value": "danger",
                 "text": {"type": "plain_text", "text": "Cancel"}, "style": "danger",
                 "confirm": {
                     "title": {"type": "plain_text", "text": "Cancel this?"},
                     "text": {"type": "mrkdwn", "text": "Nothing will be sent."},
                     "confirm": {"type": "plain_text", "text": "Yes, cancel"},
                     "deny": {"type": "plain_text", "text": "No, keep going"},
                     "style": "danger",
                 }},
            ],
        },
        {
            "type": "actions",
            "block_id": "choices",
            "elements": [
                {"type": "static_select", "action_id": "stub.select",
                 "placeholder": {"type": "plain_text", "text": "Choose one"},
                 "options": [
                     {"text": {"type": "plain_text", "text": "Five to ten"}, "value": "5-10"},
                     {"text": {"type": "plain_text", "text": "Eleven to fifteen"},
                      "value": "11-15"},
                 ]},
                {"type": "multi_static_select", "action_id": "stub.multi",
                 "placeholder": {"type": "plain_text", "text": "Choose all that apply"},
                 "options": [
                     {"text": {"type": "plain_text", "text": "Neglect"}, "value": "neglect"},
                     {"text": {"type": "plain_text", "text": "Emotional"}, "value": "emotional"},
                 ]},
                {"type": "button", "action_id": "stub.multi_done", "value": "next",
                 "text": {"type": "plain_text", "text": "Next"}},
                {"type": "datepicker", "action_id": "stub.date",
                 "placeholder": {"type": "plain_text", "text": "Choose a date"}},
                {"type": "button", "action_id": "stub.open_modal", "value": "modal",
                 "text": {"type": "plain_text", "text": "Give advice"}},
            ],
        },
    ]


def modal_view() -> dict[str, Any]:
    """A modal with a select and a required multi-line text input."""
    return {
        "type": "modal",
        "callback_id": "stub.modal",
        "private_metadata": "42",
        "title": {"type": "plain_text", "text": "Give advice"},
        "submit": {"type": "plain_text", "text": "Send advice"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": "outcome", "label": {"type": "plain_text",
             "text": "Outcome"},
             "element": {"type": "static_select", "action_id": "outcome",
                         "initial_option": {"text": {"type": "plain_text", "text": "Refer"},
                                            "value": "refer"},
                         "options": [
                             {"text": {"type": "plain_text", "text": "Refer"}, "value": "refer"},
                             {"text": {"type": "plain_text", "text": "Early help"},
                              "value": "early_help"},
                         ]}},
            {"type": "input", "block_id": "advice", "label": {"type": "plain_text",
             "text": "Advice"},
             "hint": {"type": "plain_text", "text": "No names."},
             "element": {"type": "plain_text_input", "action_id": "advice", "multiline": True}},
        ],
    }


@dataclass
class StubBot:
    """The stub app's record of what reached it."""

    seen: list[tuple[str, Any]] = field(default_factory=list)


def build_stub(client: AsyncWebClient) -> tuple[AsyncApp, StubBot]:
    """The Bolt app, with listeners for each piece the page drives."""
    app = AsyncApp(client=client, signing_secret=SECRET,
                   process_before_response=True, raise_error_for_unhandled_request=False)
    record = StubBot()

    @app.command("/consult")
    async def consult(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack()
        record.seen.append(("command", command["text"]))
        await client.chat_postMessage(channel=command["user_id"], text="A question",
                                      blocks=question_blocks())

    @app.command("/refer")
    async def refer(ack: AsyncAck) -> None:
        await ack("I've started this in our direct messages.")

    @app.action({"action_id": "stub.answer:0"})
    @app.action({"action_id": "stub.answer:1"})
    async def answer(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        record.seen.append(("answer", action["value"]))
        channel, ts = body["channel"]["id"], body["message"]["ts"]
        said = f"You answered *{action['value']}*"
        await client.chat_update(channel=channel, ts=ts, text=said, blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": said}}])
        await client.chat_postMessage(channel=channel, thread_ts=ts, text="A reply in the thread")

    @app.action("stub.cancel")
    async def cancel(ack: AsyncAck) -> None:
        await ack()
        record.seen.append(("cancel", None))

    @app.action("stub.select")
    @app.action("stub.overflow")
    async def selected(ack: AsyncAck, action: dict[str, Any]) -> None:
        await ack()
        record.seen.append((action["action_id"], action["selected_option"]["value"]))

    @app.action("stub.multi")
    async def multi(ack: AsyncAck) -> None:
        await ack()

    @app.action("stub.multi_done")
    async def multi_done(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        chosen = body["state"]["values"]["choices"]["stub.multi"]["selected_options"]
        record.seen.append(("multi", [o["value"] for o in chosen]))

    @app.action("stub.date")
    async def date(ack: AsyncAck, action: dict[str, Any]) -> None:
        await ack()
        record.seen.append(("date", action["selected_date"]))

    @app.action("stub.open_modal")
    async def open_modal(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=modal_view())

    @app.view("stub.modal")
    async def submitted(ack: AsyncAck, view: dict[str, Any], body: dict[str, Any]) -> None:
        values = view["state"]["values"]
        advice = values["advice"]["advice"]["value"] or ""
        if "Tyler" in advice:
            await ack(response_action="errors", errors={"advice": "That looks like a name."})
            return
        await ack()
        outcome = values["outcome"]["outcome"]["selected_option"]["value"]
        record.seen.append(("advice", (outcome, advice)))
        await client.chat_postMessage(channel=CHANNEL, text=f"Advice given: {outcome}")

    @app.event("app_home_opened")
    async def home(event: dict[str, Any]) -> None:
        await client.views_publish(user_id=event["user"], view={
            "type": "home",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Your front door"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "Nothing waiting."}},
            ],
        })

    @app.event("message")
    async def dm(event: dict[str, Any]) -> None:
        record.seen.append(("dm", event.get("text")))
        if "Tyler" in (event.get("text") or ""):
            await client.chat_postEphemeral(channel=event["channel"], user=event["user"],
                                            text=":no_entry: That looks like a name.")
        else:
            await client.chat_postMessage(channel=event["channel"], text="Thanks, noted.")
        if event.get("text") == "missing piece":
            await client.api_call("chat.scheduleMessage", json={"channel": event["channel"]})

    return app, record


@dataclass
class StubSandbox:
    """The page and fake workspace, with the stub app behind them."""

    url: str
    fake: FakeSlack
    ui: SandboxUI
    clock: WorkspaceClock
    record: StubBot
    swept: list[datetime]


@contextlib.asynccontextmanager
async def stub_sandbox() -> AsyncIterator[StubSandbox]:
    """Serve the page + Web API on a free port, with the stub app as "the bot"."""
    policy = load_policy("cambridgeshire")
    clock = WorkspaceClock(base=lambda: datetime(2026, 3, 9, 10, 0, tzinfo=UTC))
    fake = FakeSlack(tokens=[TOKEN], clock=clock.timestamp)
    demo.seed(fake, policy)
    ui = SandboxUI(fake, clock=clock, people=demo.people_for(fake),
                   channels=[cid for cid, _ in demo.policy_channels(policy)],
                   authority=policy.authority)
    ui.mount(fake.app)
    await fake.start()
    swept: list[datetime] = []
    try:
        async with aiohttp.ClientSession() as http:
            client = AsyncWebClient(token=TOKEN, base_url=fake.base_url, session=http)
            bolt, record = build_stub(client)

            async def events(request: web.Request) -> web.Response:
                return await to_aiohttp_response(await bolt.async_dispatch(
                    await to_bolt_request(request)))

            bot_app = web.Application()
            bot_app.router.add_post("/slack/events", events)
            runner = web.AppRunner(bot_app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            try:
                async with SlackSender(f"http://127.0.0.1:{port}/slack/events", SECRET,
                                       workspace=fake) as sender:

                    async def on_clock(now: datetime) -> dict[str, Any]:
                        swept.append(now)
                        await client.chat_postMessage(
                            channel=CHANNEL, text=f"Swept as of {now:%Y-%m-%d %H:%M}")
                        return {"reminders": {"sent": 1}, "posted": 1}

                    ui.connect(sender, on_clock=on_clock)
                    yield StubSandbox(f"{fake.root_url}/", fake, ui, clock, record, swept)
            finally:
                await runner.cleanup()
    finally:
        await fake.stop()

