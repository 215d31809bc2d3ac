"""Slack's people directory: a user ID from an e-mail address (``users.lookupByEmail``),
and a professional's own profile (``users.info``).

Used by ``frontdoor caf import``, whose file may name the lead professional and the
co-ordinator by their work e-mail address (staff know those, not Slack user IDs).
The importer is platform-neutral: it is handed :func:`directory`, Slack's words for
its directory and :func:`email_resolver`'s callable.
The app needs the ``users:read.email`` scope for this method (and for the e-mail
address in a profile).

:func:`profile` reads who a professional is for the CAF consultation log, at the time
they consult or advise: plain values handed to the domain (``bot.flows.consultation.log``), or None
when Slack did not answer (the log then says "not available"; the consultation
itself never depends on it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.flows.caf.importer import Directory, DirectoryError, EmailResolver
from bot.flows.consultation.log import Person
from bot.handlers.slack.client import make_client, make_session

log = logging.getLogger("frontdoor.directory")
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


def directory(token: str = "", api_url: str = "") -> Directory:
    """Slack's directory for ``frontdoor caf import``: its words, and its lookup when a
    bot token is set (without one, an address is refused with what to set)."""
    return Directory(
        platform="slack", members="this Slack workspace",
        needs="Slack to look it up (set SLACK_BOT_TOKEN)",
        asks="Slack's directory (needs SLACK_BOT_TOKEN and the app's users:read.email scope)",
        resolve=email_resolver(token, api_url) if token else None)


async def profile(client: AsyncWebClient, user: str) -> Person | None:
    """Who ``user`` is, as their Slack profile says now: name, title and contact (e-mail,
    then phone). None when Slack gives no profile (an error, no answer): never raises."""
    try:
        answer = await client.users_info(user=user)
    except SlackApiError as exc:
        log.warning("users.info failed (%s): the log records 'not available'",
                    exc.response.get("error") if exc.response is not None else "an error")
        return None
    except Exception as exc:  # noqa: BLE001 - a network fault must not fail the caller
        log.warning("users.info failed (%s): the log records 'not available'",
                    type(exc).__name__)
        return None
    found = answer.get("user") or {}
    prof = found.get("profile") or {}
    name = str(found.get("real_name") or prof.get("real_name") or prof.get("display_name")
               or "").strip()
    contact = "; ".join(str(v).strip() for v in (prof.get("email"), prof.get("phone"))
                        if v and str(v).strip())
    return Person(name=name, title=str(prof.get("title") or "").strip(), contact=contact)


__all__ = ["directory", "email_resolver", "profile", "user_ids_by_email"]
