"""Only the sandbox's own page may use the sandbox's server: :class:`PageGuard`.

The page has no login and the server listens on loopback, but a web page open
in any browser on the machine can still send requests to ``127.0.0.1``, and with
DNS rebinding (its own name made to point at ``127.0.0.1``) read the answers.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger("frontdoor.sandbox")

TOKEN_HEADER = "X-Frontdoor-Token"
TOKEN_SLOT = "{{frontdoor-token}}"  # in static/index.html
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def json_error(status: int, message: str) -> web.Response:
    """The page API's error answer: ``{"ok": false, "error": message}``."""
    return web.json_response({"ok": False, "error": message}, status=status)


class PageGuard:
    """Lets through only the sandbox's own page, on loopback, and this start's token.

    A web page open in any browser on the machine can send requests to
    ``127.0.0.1``; with DNS rebinding it can even read the answers. So:

    * ``Host`` must be ``localhost``, ``127.0.0.1`` or ``[::1]`` with the port the
      request came in on (everything the server answers, ``/api/`` and files too);
    * on ``/ui/``, ``Origin`` (when sent) must be the same origin, and
      ``Sec-Fetch-Site`` (when sent) ``same-origin`` or ``none`` (typed by hand);
    * a ``/ui/`` write (not GET) must carry :attr:`token` in ``X-Frontdoor-Token``.
      A cross-site page cannot set that header, nor read the page that holds it.
    """

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(32)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse (403, JSON) a request that is not the page's own."""
        refused = self.refusal(request)
        if refused is not None:
            log.warning("refused %s %s: %s", request.method, request.path, refused)
            return json_error(403, refused)
        return await handler(request)

    def refusal(self, request: web.Request) -> str | None:
        """Why ``request`` is refused (None: let it through)."""
        host = request.headers.get("Host", "").lower()
        if not _loopback_host(host, _local_port(request)):
            return "host_not_allowed"
        if not request.path.startswith("/ui/"):
            return None
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() != f"http://{host}":
            return "cross_origin_request"
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return "cross_origin_request"
        if request.method in ("GET", "HEAD"):
            return None
        sent = request.headers.get(TOKEN_HEADER)
        if not sent:
            return "token_missing"
        if not hmac.compare_digest(sent.encode(), self.token.encode()):
            return "token_invalid"
        return None


def _local_port(request: web.Request) -> int | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else None


def _loopback_host(host: str, port: int | None) -> bool:
    """Whether a ``Host`` header names this server by a loopback name and its port."""
    if port is None:
        return False
    if host.startswith("["):  # an IPv6 address, e.g. [::1]:3000
        end = host.find("]")
        name, rest = host[: end + 1], host[end + 1 :]
    else:
        name, colon, tail = host.partition(":")
        rest = colon + tail
    given = rest[1:] if rest.startswith(":") else ("80" if not rest else "")
    return name in LOOPBACK_NAMES and given == str(port)
