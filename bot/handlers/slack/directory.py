"""Slack's people directory: a user ID from an e-mail address (``users.lookupByEmail``).

Used by ``frontdoor caf import``, whose file may name the lead professional and the
co-ordinator by their work e-mail address (staff know those, not Slack user IDs).
The importer is platform-neutral: it is handed :func:`email_resolver`'s callable.
The app needs the ``users:read.email`` scope for this method.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.caf.importer import DirectoryError, EmailResolver
from bot.handlers.slack.client import make_client, make_session

NOT_FOUND = "users_not_found"
# What an operator can do about Slack's other answers.
HINTS = {
    "missing_scope": "the Slack app needs the users:read.email scope (reinstall it with "
                     "the manifest)",
    "invalid_auth": "SLACK_BOT_TOKEN is not valid for this workspace",
    "not_authed": "SLACK_BOT_TOKEN is not set",
    "account_inactive": "SLACK_BOT_TOKEN belongs to an app that was uninstalled",
}


async def user_ids_by_email(client: AsyncWebClient, emails: Iterable[str]) -> dict[str, str]:
    """The user ID of each address a workspace member has (others are left out).

    A deleted member or a bot is not a person to nudge: left out too. Any answer but
    ``users_not_found`` (or no answer) raises :class:`DirectoryError`, so that an
    import is refused whole rather than half-resolved.
    """
    found: dict[str, str] = {}
    for email in emails:
        try:
            answer = await client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "an error")
            if error == NOT_FOUND:
                continue
            raise DirectoryError(f"Slack answered {error}"
                                 + (f": {HINTS[error]}" if error in HINTS else "")) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DirectoryError(f"Slack could not be reached ({type(exc).__name__})") from None
        user = answer.get("user") or {}
        if user.get("id") and not user.get("deleted") and not user.get("is_bot"):
            found[email] = str(user["id"])
    return found


def email_resolver(token: str, api_url: str) -> EmailResolver:
    """A blocking resolver for the command line: one Web API client per lookup batch."""

    def resolve(emails: Sequence[str]) -> Mapping[str, str]:
        async def run() -> dict[str, str]:
            async with make_session() as http:
                return await user_ids_by_email(make_client(token, api_url, http), emails)

        return asyncio.run(run())

    return resolve


__all__ = ["email_resolver", "user_ids_by_email"]
