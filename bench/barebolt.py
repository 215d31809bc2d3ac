"""The baseline: a bare Bolt ``AsyncApp`` whose listeners ack and post one message.

``python -m bench.barebolt`` reads the same environment as ``frontdoor serve``
(``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``, ``SLACK_API_URL``, ``PORT``)
and serves ``POST /slack/events`` the same way: Bolt's aiohttp adapter on an
aiohttp ``AppRunner``, ``process_before_response=False``, INFO logging with
aiohttp's access log. Every slash command, block action and DM message is
acked and answered with one ``chat.postMessage`` to the person's DM, which is
all the load generator waits for before its next request.
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


def build_app(client: AsyncWebClient, signing_secret: str) -> AsyncApp:
    """The bare app: ack, then one chat.postMessage."""
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False,
                   raise_error_for_unhandled_request=False)

    @app.command(ANY)
    async def command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postMessage(channel=command["user_id"], text="ok")

    @app.action(ANY)
    async def action(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postMessage(channel=body["user"]["id"], text="ok")

    @app.event("message")
    async def message(ack: AsyncAck, event: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if event.get("bot_id") or not event.get("user"):
            return
        await client.chat_postMessage(channel=event["user"], text="ok")

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
        app = build_app(client, os.environ["SLACK_SIGNING_SECRET"])

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
