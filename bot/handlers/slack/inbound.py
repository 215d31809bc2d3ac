"""Slack's HTTP request as Bolt's request, with the interactivity payload decoded fast.

A click arrives as ``payload=<the whole JSON, URL-encoded>``, and the JSON
carries the message clicked, so several kilobytes of ``%XX``. Bolt decodes it
with ``urllib.parse.parse_qsl``, pure Python: 120 us for a 4 kB payload, about
a tenth of a whole request's CPU here (measured). yarl's C unquoter (aiohttp's
own URL library) gives the same text in 14 us. The JSON (that text, or an
event's body) is read with ``store.jsontext`` (orjson, with the standard
library's answer wherever orjson refuses) and handed to Bolt parsed, as Bolt's
Socket Mode does: Bolt's ``json.loads`` of the same text took as long again.
Every listener sees the body Bolt's own decoding gives; ``tests/test_inbound.py``
holds the two decodings equal.
"""

from __future__ import annotations

from collections.abc import Mapping

from slack_bolt.request.async_request import AsyncBoltRequest
from yarl import URL

from store import jsontext

_PAYLOAD = "payload="


def decode(raw: bytes, charset: str | None, headers: Mapping[str, str],
           query: str = "") -> AsyncBoltRequest:
    """Bolt's request for ``raw`` (a verified body), as Bolt's aiohttp adapter builds it.

    Raises ``UnicodeDecodeError``, ``LookupError`` (an unknown charset),
    ``ValueError`` (bad JSON) or ``AttributeError``/``TypeError`` (JSON that is
    not an object) for a body that is not Slack's: the caller answers 400.
    """
    text = raw.decode(charset or "utf-8")
    if text.startswith(_PAYLOAD) and "&" not in text:
        # The one field Slack sends for interactivity. (A second field would make
        # Bolt's "last one wins" and yarl's "first one wins" differ: Bolt decodes.)
        payload = URL.build(query_string=text, encoded=True).query.get("payload", "")
        if payload.startswith("{"):  # Bolt parses a body starting "{" as JSON
            text = payload
    if text.startswith("{"):
        try:
            body = jsontext.loads(text)
        except (ValueError, RecursionError):
            body = None  # Bolt's own parse below raises what it raises
        if isinstance(body, dict):
            # Bolt takes a parsed body only in Socket Mode; the request is then the one
            # HTTP mode builds from ``text``, but for these two fields.
            req = AsyncBoltRequest(body=body, query=query, headers=headers,  # type: ignore[arg-type]
                                   mode="socket_mode")
            req.raw_body, req.mode = text, "http"
            return req
    return AsyncBoltRequest(body=text, query=query, headers=headers)  # type: ignore[arg-type]
