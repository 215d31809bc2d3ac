"""The one Slack Web API client: shared aiohttp session, retries that honour Retry-After."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from store import jsontext

# slack_sdk decides whether to format its debug lines (every request's whole body)
# from its logger's own level, not the effective one: left unset, it builds them
# on every call and throws them away (a third of each call's cost, measured).
# Its own level, set here, makes that check false unless DEBUG is asked for.
_LOG = logging.getLogger("frontdoor.slack_api")
_LOG.setLevel(logging.INFO)


class _Response(aiohttp.ClientResponse):
    """A Web API answer whose JSON is read with ``store.jsontext`` (slack_sdk calls
    ``json()`` without a ``loads``; ``chat.postMessage`` answers with the whole message)."""

    async def json(self, *, encoding: str | None = None,
                   loads: Callable[[str], Any] = jsontext.loads,
                   content_type: str | None = "application/json") -> Any:
        """The body as JSON (aiohttp's checks, then ``loads``)."""
        return await super().json(encoding=encoding, loads=loads, content_type=content_type)


def make_session() -> aiohttp.ClientSession:
    """The process's one HTTP session for the Web API: JSON written and read with orjson
    (each message is encoded once more to send it: see ``store.jsontext``)."""
    return aiohttp.ClientSession(json_serialize=jsontext.dumps, response_class=_Response)


def make_client(
    token: str, base_url: str, session: aiohttp.ClientSession, *, max_retries: int = 2
) -> AsyncWebClient:
    """An AsyncWebClient on ``base_url`` sharing ``session``.

    slack_sdk's handlers retry 429s after the server's Retry-After, 5xx answers
    and dropped connections; the outbox adds its own slower retries on top, so
    a long outage is survived without blocking a listener for minutes.
    """
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        session=session,
        timeout=15,
        logger=_LOG,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=max_retries),
            AsyncServerErrorRetryHandler(max_retry_count=max_retries),
            AsyncConnectionErrorRetryHandler(max_retry_count=max_retries),
        ],
    )
