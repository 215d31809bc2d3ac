"""The baseline: a bare Bolt ``AsyncApp`` whose listeners ack and post one message.

``python -m bench.barebolt`` reads the same environment as ``frontdoor serve``
(``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``, ``SLACK_API_URL``, ``PORT``)
and serves ``POST /slack/events`` the same way: Bolt's aiohttp adapter on an
aiohttp ``AppRunner``, ``process_before_response=False``, INFO logging with
aiohttp's access log. Every slash command, block action and DM message is
acked and answered with one ``chat.postMessage`` to the person's DM, which is
all the load generator waits for before its next request.

With ``BAREBOLT_CALLS=same`` (``python -m bench load --baseline same``) it makes the
Slack calls Front Door makes for a step instead: the question answered is redrawn
(``chat.update`` of the last message posted to that person) and the next message
carries a question's blocks (the clicked message's own), so the ratio measures Front
Door's work beyond Slack's traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

ANY = re.compile(".*")


def build_app(client: AsyncWebClient, signing_secret: str, *, same: bool = False) -> AsyncApp:
    """The bare app: ack, then one chat.postMessage (``same``: Front Door's calls)."""
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False,
                   raise_error_for_unhandled_request=False)
    last: dict[str, tuple[str, str, list[Any]]] = {}  # person -> (DM, ts, blocks) last posted

    async def post(user: str, blocks: list[Any] | None = None) -> None:
        if not same:
            await client.chat_postMessage(channel=user, text="ok")
            return
        shown = blocks or (last[user][2] if user in last else [])
        r = await client.chat_postMessage(channel=user, text="ok", blocks=shown)
        last[user] = (str(r["channel"]), str(r["ts"]), shown)

    async def answered(user: str, blocks: list[Any] | None = None) -> None:
        # Front Door sends the next question, then redraws the one answered (here, the
        # message posted before).
        before = last.get(user)
        await post(user, blocks)
        if same and before is not None:
            dm, ts, shown = before
            await client.chat_update(channel=dm, ts=ts, text="ok", blocks=shown)

    @app.command(ANY)
    async def command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await post(command["user_id"])

    @app.action(ANY)
    async def action(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await answered(body["user"]["id"], (body.get("message") or {}).get("blocks"))

    @app.event("message")
    async def message(ack: AsyncAck, event: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if event.get("bot_id") or not event.get("user"):
            return
        await answered(event["user"])

    return app


async def serve() -> None:
    """Serve on ``PORT`` until SIGTERM/SIGINT."""
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    async with aiohttp.ClientSession() as http:
        client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"],
                                base_url=os.environ["SLACK_API_URL"], session=http, timeout=15)
        app = build_app(client, os.environ["SLACK_SIGNING_SECRET"],
                        same=os.environ.get("BAREBOLT_CALLS") == "same")

        async def events(request: web.Request) -> web.Response:
            resp = await app.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(resp)

        async def healthz(_request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        web_app = web.Application()
        web_app.router.add_post("/slack/events", events)
        web_app.router.add_get("/healthz", healthz)
        runner = web.AppRunner(web_app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", int(os.environ.get("PORT") or 3000))
        await site.start()
        print(f"bare Bolt: HTTP on port {os.environ.get('PORT')}", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await done.wait()
        await runner.cleanup()


def main() -> int:
    """Entry point: logging as ``frontdoor serve`` sets it up, then serve."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
