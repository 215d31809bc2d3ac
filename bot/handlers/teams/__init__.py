"""Microsoft Teams: its listeners, Adaptive Card renderer, transport, ids and the app
package. Nothing outside this package imports microsoft_agents or spells Teams markup
(``<at>``) or Bot Connector calls.

The running bot wires Teams in with :func:`mount` alone (``bot.server``), as it wires
Slack with ``bot.handlers.slack.http.mount``. The SDK is imported only when Teams is
mounted, so ``frontdoor teams package`` and a Slack-only bot never load it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

    from bot.services import Services

# The ``platform`` of every row this package writes or reads (people, flows, cards, outbox).
TEAMS = "teams"
log = logging.getLogger("frontdoor.teams")
SDK_NO_APP_ID_LOG = "microsoft_agents.hosting.core.connector.client.user_token_client"


@dataclass(frozen=True)
class Connector:
    """Where the bot's own calls to Teams go and how it gets its token for them: the
    Bot Connector (``service_url``, until a person's own regional one is known) and the
    Entra app it runs as. ``authority`` and ``ca_file``: another token endpoint than
    Microsoft's (the sandbox's fake Bot Connector, with its own certificate)."""

    service_url: str
    app_id: str
    password: str
    tenant_id: str
    authority: str | None = None
    ca_file: str | None = None


def mount(web_app: web.Application, sv: Services, *, anonymous: bool = False,
          connector: Connector | None = None,
          directory: Mapping[str, Mapping[str, str]] | None = None) -> bool:
    """Teams' endpoint (``POST /api/messages``) on ``web_app`` and Teams' renderer and
    transport in the outbox, when the policy names Teams people and channels.

    Without ``MICROSOFT_APP_ID`` nobody could check who is calling: unless ``anonymous``
    (the sandbox and the tests only), the endpoint answers every request 401 and nothing
    is sent to Teams. ``connector`` replaces the Bot Connector and Entra of the settings
    (the sandbox's fake); ``directory``: display names for the cards (``people``,
    ``groups``, ``channels``, ``links``: id -> name). Returns whether
    Teams is live (requests taken, messages sent).
    """
    if sv.policy.teams is None:
        return False
    from aiohttp import web as aioweb

    from bot.handlers.teams.http import PATH, TeamsAuth, routes

    auth = TeamsAuth.of(sv.settings)
    if not auth.app_id and not anonymous:
        log.warning("the policy names Teams channels but MICROSOFT_APP_ID is not set: "
                    "%s refuses every request (401) and nothing is sent to Teams", PATH)

        async def refused(_request: aioweb.Request) -> aioweb.Response:
            return aioweb.json_response({"error": "unauthorized"}, status=401)

        web_app.router.add_post(PATH, refused)
        return False

    from bot.handlers.teams.conversations import DbReferences
    from bot.handlers.teams.people import Roster

    if anonymous and not auth.app_id:
        # No Entra app by design (the sandbox, tests): the SDK warns of it on every turn,
        # which says nothing anyone can act on.
        logging.getLogger(SDK_NO_APP_ID_LOG).setLevel(logging.ERROR)
    references = DbReferences(sv.tx)
    sending = deliver(sv, connector=connector, references=references, directory=directory)
    # Roles may be held by membership of a named team, asked of the Bot Connector with
    # the bot's own token: none without an Entra app to ask as (a team then grants nothing).
    roster = (Roster(sv.http, sending.tokens, sending.service_url, clock=sv.clock)
              if sending else None)
    web_app.add_routes(routes(sv, auth=auth, references=references, anonymous=anonymous,
                              roster=roster))
    return True


@dataclass(frozen=True)
class Sending:
    """How the bot calls Teams once it delivers there: its token and the Bot Connector."""

    tokens: Any  # bot.handlers.teams.auth.MsalTokens (imported with the SDK, when mounted)
    service_url: str


def deliver(sv: Services, *, connector: Connector | None = None, references: Any = None,
            directory: Mapping[str, Mapping[str, str]] | None = None) -> Sending | None:
    """Teams' renderer and transport in ``sv``'s outbox sender (``serve``'s, and a
    ``worker``'s, which has no endpoint but sends Teams' rows too), when the policy names
    Teams people and the bot has an Entra app to send as. Without them a Teams row is
    dead-lettered by whichever sender claims it. Returns how Teams is called (None: it
    is not delivered)."""
    s = sv.settings
    connector = connector or Connector(s.teams_service_url, s.microsoft_app_id,
                                       s.microsoft_app_password, s.microsoft_app_tenant_id)
    if sv.policy.teams is None or not connector.app_id:
        return None
    from bot.handlers.teams.auth import MsalTokens
    from bot.handlers.teams.cards.ac import Directory
    from bot.handlers.teams.conversations import DbReferences
    from bot.handlers.teams.render import TeamsRenderer
    from bot.handlers.teams.transport import TeamsTransport
    from bot.journal import OutboxJournal

    tokens = MsalTokens(connector.app_id, connector.password, connector.tenant_id,
                        authority=connector.authority, ca_file=connector.ca_file)
    transport = TeamsTransport(sv.http, tokens, service_url=connector.service_url,
                               tenant_id=connector.tenant_id, app_id=connector.app_id,
                               references=references or DbReferences(sv.tx),
                               journal=OutboxJournal(sv.tx),
                               **({"pace": 0.0} if sv.sender.pace == 0 else {}))
    renderer = TeamsRenderer(sv.policy, sv.clock, Directory(**(directory or {})))
    sv.sender.add_platform(renderer, transport)
    return Sending(tokens, connector.service_url)
