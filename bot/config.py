"""Settings from the environment (and a ``.env`` file): DESIGN.md section 5."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dotenv import load_dotenv

DEFAULT_API_URL = "https://slack.com/api/"
SERVE_DATABASE_URL = "sqlite:///frontdoor.db"  # ``serve``'s; the sandbox has its own
# Teams' global Bot Connector address: where the first message to a person goes before any
# activity from the tenant told us its regional one (``serviceUrl``, then remembered).
DEFAULT_TEAMS_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
# What ``serve`` needs to reach each chat platform.
CHAT_PLATFORM_VARIABLES = {
    "Slack": "SLACK_BOT_TOKEN, with SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET "
             "(HTTP mode)",
    "Microsoft Teams": "MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD and MICROSOFT_APP_TENANT_ID "
                       "(and a teams: section in the policy)",
}


@dataclass(frozen=True)
class Settings:
    """The bot's configuration; every field has the environment variable's name."""

    bot_token: str = ""
    signing_secret: str = ""
    app_token: str = ""
    api_url: str = DEFAULT_API_URL
    database_url: str = SERVE_DATABASE_URL
    policy: str = ""
    port: int = 3000
    outbox_pace: float = 1.0  # seconds between messages to one channel
    outbox_lease: float = 60.0  # seconds before a dead sender's claimed row is taken over
    shutdown_timeout: float = 20.0  # seconds from SIGTERM to exit, work in progress finished
    ops_port: int | None = None  # Socket Mode and worker: /healthz, /readyz, /metrics here
    # Microsoft Teams: the bot's Entra app registration (single tenant). Without an app id
    # ``serve`` answers Teams' endpoint with 401 (only the sandbox and tests run anonymous).
    microsoft_app_id: str = ""
    microsoft_app_password: str = ""
    microsoft_app_tenant_id: str = ""
    teams_service_url: str = DEFAULT_TEAMS_SERVICE_URL

    @property
    def socket_mode(self) -> bool:
        """Socket Mode when an app-level token is set; HTTP mode otherwise."""
        return bool(self.app_token)

    @property
    def slack(self) -> bool:
        """Whether the bot runs in Slack (its token is set)."""
        return bool(self.bot_token)

    @property
    def chat_platform(self) -> str | None:
        """The chat platforms the bot is configured for ("Slack", "Microsoft Teams", or
        both), or None: none is. Teams also needs the policy's ``teams:`` section."""
        found = [name for name, on in (("Slack", self.slack),
                                       ("Microsoft Teams", bool(self.microsoft_app_id))) if on]
        return " and ".join(found) or None


def no_chat_platform(command: str) -> str:
    """Why ``command`` will not start without a chat platform, and what to do instead."""
    ways = "".join(
        f"  To run the bot in {platform}, set {variables} in the environment or in .env.\n"
        for platform, variables in CHAT_PLATFORM_VARIABLES.items()
    )
    return (
        f"frontdoor {command}: no chat platform is configured, so there is nowhere to send "
        "messages; nothing was started and no database was touched.\n"
        f"{ways}"
        '  (See "Installing in Slack" in README.md.)\n'
        "  To try Front Door without Slack, run `frontdoor sandbox`: the local workspace, "
        "on its own database."
    )


def load_env_file(env_file: str | None = ".env") -> None:
    """Load ``.env`` (if present) into the environment; variables already set win."""
    if env_file and os.path.exists(env_file):
        load_dotenv(env_file, override=False)


def load_settings(env_file: str | None = ".env") -> Settings:
    """Read settings from the environment, after loading ``.env`` if present."""
    load_env_file(env_file)
    api_url = os.environ.get("SLACK_API_URL") or DEFAULT_API_URL
    if not api_url.endswith("/"):
        api_url += "/"
    port = os.environ.get("PORT") or "3000"
    if not port.isdigit():
        raise SystemExit(f"PORT must be a number, not {port!r}")
    pace = _number("FRONTDOOR_OUTBOX_PACE", 1.0)
    lease = _number("FRONTDOOR_OUTBOX_LEASE", 60.0)
    shutdown = _number("FRONTDOOR_SHUTDOWN_TIMEOUT", 20.0)
    ops_port = os.environ.get("FRONTDOOR_OPS_PORT") or None
    if ops_port is not None and not ops_port.isdigit():
        raise SystemExit(f"FRONTDOOR_OPS_PORT must be a number, not {ops_port!r}")
    return Settings(
        bot_token=os.environ.get("SLACK_BOT_TOKEN", ""),
        signing_secret=os.environ.get("SLACK_SIGNING_SECRET", ""),
        app_token=os.environ.get("SLACK_APP_TOKEN", ""),
        api_url=api_url,
        database_url=os.environ.get("DATABASE_URL") or SERVE_DATABASE_URL,
        policy=os.environ.get("FRONTDOOR_POLICY", ""),
        port=int(port),
        outbox_pace=pace,
        outbox_lease=lease,
        shutdown_timeout=shutdown,
        ops_port=int(ops_port) if ops_port is not None else None,
        microsoft_app_id=os.environ.get("MICROSOFT_APP_ID", ""),
        microsoft_app_password=os.environ.get("MICROSOFT_APP_PASSWORD", ""),
        microsoft_app_tenant_id=os.environ.get("MICROSOFT_APP_TENANT_ID", ""),
        teams_service_url=os.environ.get("TEAMS_SERVICE_URL") or DEFAULT_TEAMS_SERVICE_URL,
    )


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise SystemExit(f"{name} must not be negative")
    return value
