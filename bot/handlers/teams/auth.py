"""The bot's own token for the Bot Connector: client credentials from Entra ID, through
the Microsoft 365 Agents SDK's MSAL provider.

One token serves every call until shortly before it expires (``REFRESH_BEFORE``): asking
MSAL each call would cost a thread hop each time (MSAL is synchronous). The token
endpoint's authority is configurable so tests and the sandbox use the fake Bot
Connector's (``bot.sandbox.botconnector``); with none, Microsoft's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import requests
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.core import AgentAuthConfiguration, AuthTypes
from msal import ConfidentialClientApplication

# What the Bot Connector accepts: a token for the Bot Framework's resource.
BOT_FRAMEWORK_RESOURCE = "https://api.botframework.com"
BOT_FRAMEWORK_SCOPE = f"{BOT_FRAMEWORK_RESOURCE}/.default"
# Fetch a new token this long before the old one expires: a call in flight must not carry
# a token that lapses on the way.
REFRESH_BEFORE = 300.0


class Tokens(Protocol):
    """Where the transport gets a bearer token."""

    async def token(self) -> str:
        """A bearer token valid for a while yet."""
        ...


class _Msal(MsalAuth):
    """MsalAuth with a named authority that is used as given: no instance discovery at
    login.microsoftonline.com (a national cloud, or the fake), and a CA bundle of its
    own when the authority's certificate is not a public one (the fake's)."""

    def __init__(self, config: AgentAuthConfiguration, ca_file: str | None) -> None:
        super().__init__(config)
        self._ca_file = ca_file

    def _create_client_application(  # type: ignore[override]
        self, tenant_id: str | None = None
    ) -> ConfidentialClientApplication:
        config = self.configuration
        http = requests.Session()
        if self._ca_file:
            http.verify = self._ca_file
            http.trust_env = False  # else REQUESTS_CA_BUNDLE would replace this CA
        return ConfidentialClientApplication(
            client_id=config.CLIENT_ID, client_credential=config.CLIENT_SECRET,
            authority=MsalAuth._resolve_authority(config, tenant_id),
            instance_discovery=False, http_client=http,
        )


@dataclass
class MsalTokens:
    """The bot's token from Entra ID (single tenant), cached until ``REFRESH_BEFORE``
    its expiry. ``authority``: ``https://<host>/<tenant>`` (default Microsoft's);
    ``ca_file``: trust for an authority with a private certificate (tests)."""

    app_id: str
    password: str
    tenant_id: str
    authority: str | None = None
    ca_file: str | None = None
    clock: Callable[[], float] = time.time
    refresh_before: float = REFRESH_BEFORE

    def __post_init__(self) -> None:
        config = AgentAuthConfiguration(
            AuthTypes.client_secret, self.app_id, self.tenant_id, self.password,
            authority=self.authority, scopes=[BOT_FRAMEWORK_SCOPE],
        )
        self._msal: MsalAuth = _Msal(config, self.ca_file) if self.authority else MsalAuth(config)
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()  # one fetch at a time: a burst of sends asks once

    async def token(self) -> str:
        """The cached token, or a new one when it is near expiry (MSAL itself fetches a new
        one when its own copy has less than five minutes left)."""
        async with self._lock:
            if self._token is None or self.clock() >= self._expires - self.refresh_before:
                # The SDK builds its MSAL client on first use inside the event loop, and
                # that blocks on an HTTP call (the tenant's OpenID discovery): build it in
                # a thread first.
                await asyncio.to_thread(self._msal._get_client)  # noqa: SLF001
                # The SDK's public get_access_token drops the expiry this cache needs.
                got = await self._msal._get_access_token(  # noqa: SLF001
                    BOT_FRAMEWORK_RESOURCE, [BOT_FRAMEWORK_SCOPE])
                self._token, self._expires = got.token, float(got.expires_on)
            return self._token
