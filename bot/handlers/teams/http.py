"""``POST /api/messages``: Teams' endpoint, on the bot's one aiohttp server.

The Microsoft 365 Agents SDK authenticates each request (the Bot Connector's JWT, checked
against Microsoft's signing keys and our app id) and parses the activity; our agent
(``listeners.FrontDoorAgent``) does the work before the SDK answers, so a click or a
message is committed before Teams hears back. Anonymous requests are accepted only when no
app id is configured (the sandbox and the tests); with one, a missing or forged token is a
401 and nothing runs.

The SDK's own ``on_turn_error`` posts the exception's text into the person's chat: it is
replaced by one that logs the error's kind only and says nothing in the chat.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from jwt import PyJWTError
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import (
    AgentAuthConfiguration,
    ClaimsIdentity,
    JwtTokenValidator,
    TurnContext,
)

from bot.config import Settings
from bot.handlers.teams.conversations import MemoryReferences, References
from bot.handlers.teams.listeners import FrontDoorAgent
from bot.handlers.teams.people import Roster
from bot.services import Services

log = logging.getLogger("frontdoor.teams")
PATH = "/api/messages"
SDK_CONNECTIONS_LOG = "microsoft_agents.hosting.core.authorization.connection_manager"
MAX_BODY = 256 * 1024  # an activity is a few KB; Teams caps a message at about 28 KB


@dataclass(frozen=True)
class TeamsAuth:
    """The Entra app registration the bot runs as (all empty: anonymous, sandbox only)."""

    app_id: str = ""
    app_password: str = ""
    tenant_id: str = ""

    @classmethod
    def of(cls, settings: Settings) -> TeamsAuth:
        """``MICROSOFT_APP_ID``, ``MICROSOFT_APP_PASSWORD``, ``MICROSOFT_APP_TENANT_ID``,
        as ``load_settings`` read them."""
        return cls(settings.microsoft_app_id, settings.microsoft_app_password,
                   settings.microsoft_app_tenant_id)

    def configuration(self) -> AgentAuthConfiguration:
        """The SDK's configuration: anonymous allowed only when no app id is set (which
        ``routes`` accepts only when asked to, for the sandbox and the tests)."""
        return AgentAuthConfiguration(
            client_id=self.app_id or None, client_secret=self.app_password or None,
            tenant_id=self.tenant_id or None, anonymous_allowed=not self.app_id,
        )


def make_adapter(auth: TeamsAuth) -> CloudAdapter:
    """The SDK's adapter, with our ``on_turn_error`` instead of its chatty default."""
    # The SDK prints its connection settings at INFO, a dozen lines, on every start: above
    # the address ``serve`` and the sandbox say first. Its warnings still show.
    logging.getLogger(SDK_CONNECTIONS_LOG).setLevel(logging.WARNING)
    config = auth.configuration()
    adapter = CloudAdapter(connection_manager=MsalConnectionManager(
        connections_configurations={"SERVICE_CONNECTION": config}))
    adapter.on_turn_error = quiet_turn_error
    return adapter


async def quiet_turn_error(context: TurnContext, error: Exception) -> None:
    """A listener failed: log the error's kind and the activity's type (never its text or
    the exception's message, which may quote it) and say nothing in the chat; the listener
    already told the person what they need to know where it could."""
    log.error("teams %s failed: %s", context.activity.type if context.activity else "turn",
              type(error).__name__)


def routes(sv: Services, *, auth: TeamsAuth | None = None,
           references: References | None = None, anonymous: bool = False,
           roster: Roster | None = None) -> list[web.RouteDef]:
    """The route definitions for Teams' endpoint (the caller mounts them).

    Without an app id every request would be let in unauthenticated: only the sandbox and
    the tests may want that, and say so with ``anonymous``; anything else is refused here,
    before a route exists. ``roster``: membership of the teams the policy's roles name
    (without one, a team grants nothing).
    """
    auth = auth or TeamsAuth.of(sv.settings)
    if not auth.app_id and not anonymous:
        raise ValueError("Teams needs MICROSOFT_APP_ID (with MICROSOFT_APP_PASSWORD and "
                         "MICROSOFT_APP_TENANT_ID): without it anyone could post activities")
    config = auth.configuration()
    validator = JwtTokenValidator(config)
    adapter = make_adapter(auth)
    agent = FrontDoorAgent(sv, references if references is not None else MemoryReferences(),
                           roster=roster)

    async def messages(request: web.Request) -> web.StreamResponse:
        if request.content_length and request.content_length > MAX_BODY:
            return web.json_response({"error": "payload too large"}, status=413)
        identity = await _authenticated(request, config, validator)
        if identity is None:
            return web.json_response({"error": "unauthorized"}, status=401)
        with warnings.catch_warnings():  # the SDK's adapter reads this plain string key
            warnings.simplefilter("ignore", NotAppKeyWarning)
            request["claims_identity"] = identity
        try:
            response = await adapter.process(request, agent)
        except (ValueError, TypeError) as exc:  # a body that is not an activity
            log.warning("teams: refused a malformed activity (%s)", type(exc).__name__)
            return web.json_response({"error": "bad request"}, status=400)
        return response or web.Response(status=202)

    return [web.post(PATH, messages)]


async def _authenticated(request: web.Request, config: AgentAuthConfiguration,
                         validator: JwtTokenValidator) -> ClaimsIdentity | None:
    """The caller's identity from the Bot Connector's token (the SDK's validator), the
    anonymous identity when allowed and no token came, else None (a 401)."""
    header = request.headers.get("Authorization", "")
    if not header:
        return validator.get_anonymous_claims() if config.ANONYMOUS_ALLOWED else None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        return None
    try:
        return await validator.validate_token(token)
    except (PyJWTError, ValueError, KeyError) as exc:
        log.warning("teams: refused a request whose token did not verify (%s)",
                    type(exc).__name__)
        return None
