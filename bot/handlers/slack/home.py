"""App Home: a professional's own items; a manager's open cards, overdue first."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.handlers.slack.blocks import home as home_blocks
from bot.handlers.slack.common import guarded, services
from bot.services import Services


def register(app: AsyncApp) -> None:
    """Register the App Home listener on ``app``."""
    app.event("app_home_opened")(home_opened)


async def home_opened(event: dict[str, Any], body: dict[str, Any],
                      context: AsyncBoltContext) -> None:
    """The Home tab was opened: draw it afresh."""
    if event.get("tab", "home") != "home":
        return
    await publish(services(context), body=body, user=event["user"])


@guarded
async def publish(sv: Services, *, body: dict[str, Any], user: str) -> None:
    """Publish ``user``'s Home tab."""
    is_manager = await sv.roles.is_manager(user)
    is_advisor = await sv.roles.is_advisor(user)
    data = await sv.overview.aitems(user, is_manager, is_advisor)
    view = home_blocks.home_view(
        user_id=user, is_manager=is_manager, is_advisor=is_advisor, policy=sv.policy,
        now=sv.clock(), **data,
    )
    # App Home is redrawn on every open, so it is published directly, not queued.
    await sv.client.views_publish(user_id=user, view=view)
