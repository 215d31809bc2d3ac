"""manifest.yaml is valid against slackapi's published schema and matches the code."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from tests.conftest import DATA

ROOT = Path(__file__).resolve().parent.parent


def _manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))


def test_manifest_matches_slack_schema() -> None:
    schema = json.loads((DATA / "manifest.schema.json").read_text(encoding="utf-8"))
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(_manifest()), key=lambda e: list(e.path)
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_manifest_has_the_commands_events_and_socket_mode() -> None:
    m = _manifest()
    commands = {c["command"] for c in m["features"]["slash_commands"]}
    assert commands == {"/consult", "/refer", "/caf", "/caflog"}
    assert set(m["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_home_opened", "message.im"}
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["socket_mode_enabled"] is True
    assert m["features"]["app_home"]["home_tab_enabled"] is True


def test_manifest_asks_only_for_scopes_it_uses() -> None:
    scopes = set(_manifest()["oauth_config"]["scopes"]["bot"])
    # Broad read scopes the bot has no use for must never creep in.
    assert not scopes & {"channels:read", "admin", "chat:write.public", "files:read",
                         "mpim:history"}
    # users:read.email: `caf import` resolves lead professionals' addresses (issue 18).
    assert {"commands", "chat:write", "im:history", "usergroups:read",
            "users:read.email"} <= scopes


def test_schema_catches_a_broken_manifest() -> None:
    schema = json.loads((DATA / "manifest.schema.json").read_text(encoding="utf-8"))
    broken = _manifest()
    broken["features"]["slash_commands"][0]["command"] = "consult"  # no leading slash
    broken["display_information"].pop("name")
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))
