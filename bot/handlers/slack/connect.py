"""The Slack side of the process's services: the Web API client and who holds which role."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.handlers.slack.client import make_client
from bot.handlers.slack.roles import Roles
from bot.policy import Policy

Client = AsyncWebClient  # the Web API client's type, for code outside this package


@dataclass(frozen=True)
class Slack:
    """The Web API client listeners use, and the policy's roles resolved through it."""

    client: AsyncWebClient
    roles: Roles


def connect(settings: Settings, policy: Policy, http: aiohttp.ClientSession) -> Slack:
    """The client (retrying 429s and 5xx answers) on the process's one HTTP session."""
    client = make_client(settings.bot_token, settings.api_url, http)
    return Slack(client=client, roles=Roles(policy, client))
