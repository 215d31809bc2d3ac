"""Settings from the environment (and a ``.env`` file): DESIGN.md section 5."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dotenv import load_dotenv

DEFAULT_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class Settings:
    """The bot's configuration; every field has the environment variable's name."""

    bot_token: str = ""
    signing_secret: str = ""
    app_token: str = ""
    api_url: str = DEFAULT_API_URL
    database_url: str = "sqlite:///frontdoor.db"
    policy: str = ""
    port: int = 3000

    @property
    def socket_mode(self) -> bool:
        """Socket Mode when an app-level token is set; HTTP mode otherwise."""
        return bool(self.app_token)


def load_settings(env_file: str | None = ".env") -> Settings:
    """Read settings from the environment, after loading ``.env`` if present."""
    if env_file and os.path.exists(env_file):
        load_dotenv(env_file, override=False)
    api_url = os.environ.get("SLACK_API_URL") or DEFAULT_API_URL
    if not api_url.endswith("/"):
        api_url += "/"
    port = os.environ.get("PORT") or "3000"
    if not port.isdigit():
        raise SystemExit(f"PORT must be a number, not {port!r}")
    return Settings(
        bot_token=os.environ.get("SLACK_BOT_TOKEN", ""),
        signing_secret=os.environ.get("SLACK_SIGNING_SECRET", ""),
        app_token=os.environ.get("SLACK_APP_TOKEN", ""),
        api_url=api_url,
        database_url=os.environ.get("DATABASE_URL") or "sqlite:///frontdoor.db",
        policy=os.environ.get("FRONTDOOR_POLICY", ""),
        port=int(port),
    )
