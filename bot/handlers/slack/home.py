"""App Home: a lead professional's CAFs; a professional's own items; a manager's open cards,
overdue first; references linked to their messages.

A link is built from the workspace's address (``auth.test``'s ``url``), asked once per
process, and the message's place (``message_ref``): ``…/archives/<channel>/p<ts>``, the
form ``chat.getPermalink`` answers with. One call per process rather than one
``chat.getPermalink`` per reference on every Home opened: a Home lists up to some
sixty references, and that method is rate-limited per workspace.
"""

from __future__ import annotations

import logging
from typing import Any
from weakref import WeakKeyDictionary

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.handlers.slack.blocks import home as home_blocks
from bot.handlers.slack.common import guarded, services
from bot.services import Services

log = logging.getLogger("frontdoor.home")
# The archive's address per Web API client (one per process): the workspace does not move.
_ARCHIVES: WeakKeyDictionary[AsyncWebClient, str] = WeakKeyDictionary()


def register(app: AsyncApp) -> None:
    """Register the App Home listener on ``app``."""
    app.event("app_home_opened")(home_opened)


async def home_opened(event: dict[str, Any], body: dict[str, Any],
                      context: AsyncBoltContext) -> None:
    """The Home tab was opened: draw it afresh."""
    if event.get("tab", "home") != "home":
        return
    await publish(services(context), body=body, user=event["user"])


async def archive(client: AsyncWebClient) -> str | None:
    """``https://<team>.slack.com/archives/``, asked of ``auth.test`` once; None (no links
    this time, asked again next time) when Slack does not answer."""
    known = _ARCHIVES.get(client)
    if known is not None:
        return known
    try:
        url = str((await client.auth_test()).get("url") or "")
    except Exception as exc:  # noqa: BLE001 - a Home without links, never no Home
        log.warning("auth.test failed (%s): the Home's references are not links",
                    type(exc).__name__)
        return None
    if not url.startswith(("https://", "http://")):
        return None
    _ARCHIVES[client] = known = url.rstrip("/") + "/archives/"
    return known


@guarded
async def publish(sv: Services, *, body: dict[str, Any], user: str) -> None:
    """Publish ``user``'s Home tab."""
    is_manager = await sv.roles.is_manager(user)
    is_advisor = await sv.roles.is_advisor(user)
    data = await sv.overview.aitems(user, is_manager, is_advisor)
    view = home_blocks.home_view(
        user_id=user, is_manager=is_manager, is_advisor=is_advisor, policy=sv.policy,
        now=sv.clock(), archive=await archive(sv.client), **data,
    )
    # App Home is redrawn on every open, so it is published directly, not queued.
    await sv.client.views_publish(user_id=user, view=view)
