"""The Bolt app: one AsyncApp; each listener module's ``register(app)``; the services in
every request's context."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.handlers.slack import caf, caf_qa, caflog, cards, consultations, flows, home
from bot.handlers.slack.common import GiveServices
from bot.services import Services

log = logging.getLogger("frontdoor.app")


def build_app(sv: Services) -> AsyncApp:
    """Build the app around the shared services; nothing registers at import time."""
    app = AsyncApp(
        client=sv.client,
        signing_secret=sv.settings.signing_secret,
        # Bolt answers Slack as soon as a listener acks, and the listener carries on.
        # Actions and submissions commit first and ack after (``handlers.common``), so an
        # acknowledged decision is never lost; sending and modals come after the ack.
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        # ``server.make_web_app`` checks every HTTP request's signature on the raw bytes
        # before Bolt sees it (Socket Mode needs none): checking again costs each click.
        request_verification_enabled=False,
    )
    app.use(GiveServices(sv))  # how a listener reaches the services (``common.services``)
    for module in (flows, cards, consultations, home, caf, caf_qa, caflog):
        module.register(app)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Never echo the payload: it may hold what a professional typed.
        log.error("unhandled %s in a listener (%s)", type(error).__name__, body.get("type"))

    return app
