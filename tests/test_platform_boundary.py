"""Slack lives in one package: nothing else imports it or spells its markup, ids or methods.

Every module under ``bot/`` and ``store/`` outside ``bot/handlers/slack/`` is read as
source and must not

* import ``slack_bolt``, ``slack_sdk`` or ``bot.handlers.slack`` (but for the wiring
  modules in ``WIRING``, which build the Slack app and its services; their Slack parts
  are moving into the package, and this list shrinks with them);
* contain Slack markup (``<@``, ``<#``, ``<!``), a Slack id literal (``U0ADVISOR``,
  ``C0123ABCD``) or a Web API method name (``chat.postMessage``, ``conversations.open``).

``bot/sandbox/`` is exempt: it *is* a fake Slack workspace (its Web API, its signed
requests, its browser UI), a development and test tool that no production path
imports. Docstrings and comments count too: a comment that spells Slack's terms is
where the next line of Slack code in the wrong place starts.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SLACK_PACKAGE = ROOT / "bot" / "handlers" / "slack"
EXEMPT = (SLACK_PACKAGE, ROOT / "bot" / "sandbox")
# The process's wiring: each builds the Slack app (or its client) for the process it
# starts. Another change moves their Slack parts into the package.
WIRING = {"bot/server.py", "bot/services.py", "bot/worker.py", "bot/cli.py",
          "bot/lifecycle.py"}
# Modules that may still *spell* Slack's terms, and why (empty is the goal: each goes
# with the part of issue 17 named).
SPELLS: dict[str, str] = {
    "bot/policy.py": "ID_EXAMPLES: the one table of each platform's id, with an example of "
    "one that the words refusing a wrong id show",
    "store/migrations/versions/0005_platforms.py": "turns the last release's queued Slack "
    "calls into intents: it must name the methods it converts",
}

SLACK_MODULES = ("slack_bolt", "slack_sdk", "bot.handlers.slack")
MARKUP = re.compile(r"(?<!\(\?)<[@#!]")  # not a regular expression's look-behind "(?<!"
# A Slack id: U/W (users), C/G/D (conversations), S (user groups), B (bots), T
# (workspaces), then 8 or more capitals and digits with at least one digit (Slack's ids
# are such; an English word in capitals has none).
SLACK_ID = re.compile(r"\b[UWCGDSBT](?=[A-Z0-9]*\d)[A-Z0-9]{8,}\b")
METHOD = re.compile(
    r"\b(?:chat\.(?:postMessage|postEphemeral|update|delete|getPermalink)|conversations\.\w+"
    r"|users\.(?:info|list|lookupByEmail|conversations)|usergroups\.\w+|views\.(?:open|update"
    r"|publish|push)|files\.(?:upload\w*|completeUploadExternal|getUploadURLExternal)"
    r"|apps\.connections\.open|auth\.test|reactions\.\w+)\b"
)


def _modules() -> list[Path]:
    out = []
    for top in ("bot", "store"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if not any(path.is_relative_to(p) for p in EXEMPT):
                out.append(path)
    return out


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def slack_imports(source: str) -> list[str]:
    """The Slack modules ``source`` imports (anywhere in it, lazily too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found += [n for n in names if n.split(".")[0] in ("slack_bolt", "slack_sdk")
                  or n == "bot.handlers.slack" or n.startswith("bot.handlers.slack.")]
    return found


def slack_spellings(source: str) -> list[str]:
    """Slack markup, ids and Web API method names in ``source``, by line."""
    found = []
    for no, line in enumerate(source.splitlines(), 1):
        for rx in (MARKUP, SLACK_ID, METHOD):
            found += [f"{no}: {m.group(0)!r} in {line.strip()[:80]!r}"
                      for m in rx.finditer(line)]
    return found


MODULES = _modules()


def test_the_check_reads_the_modules_and_sees_slack() -> None:
    """The boundary is checked on the real tree, and each rule catches what it names."""
    assert len(MODULES) > 40 and ROOT / "bot" / "flows" / "triage" / "messaging.py" in MODULES
    assert not any(p.is_relative_to(SLACK_PACKAGE) for p in MODULES)
    assert slack_imports("from slack_sdk.errors import SlackApiError") == ["slack_sdk.errors"]
    assert slack_imports("def f():\n    import bot.handlers.slack.render\n")
    assert slack_imports("from bot.handlers import slackish") == []
    said = slack_spellings('t = f"<@{u}> in <#C0FRONT123> via chat.postMessage"')
    assert len(said) == 4, said  # the mention, the link, the channel id, the method
    assert slack_spellings("x = '<!subteam^S0MANAGERS>'")
    # Ordinary words in capitals, references and keys are not Slack ids.
    assert slack_spellings("WORKSPACE SAFEGUARDING FD-2026-000123 CAMBRIDGESHIRE") == []
    assert slack_spellings("q(id) <= 3 and a->b and x<y") == []
    assert slack_spellings('re.compile(r"(?<!\\w)word")') == []  # a look-behind


@pytest.mark.parametrize("path", [p for p in MODULES if _name(p) not in WIRING], ids=_name)
def test_no_slack_imports_outside_the_slack_package(path: Path) -> None:
    assert slack_imports(path.read_text()) == [], (
        f"{_name(path)} imports Slack: move that code into bot/handlers/slack/")


@pytest.mark.parametrize("path", [p for p in MODULES if _name(p) not in SPELLS], ids=_name)
def test_no_slack_markup_ids_or_methods_outside_the_slack_package(path: Path) -> None:
    assert slack_spellings(path.read_text()) == [], (
        f"{_name(path)} spells Slack: structured data (bot.intents) that the Slack "
        "renderer draws instead")
