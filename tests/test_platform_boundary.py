"""Slack lives in one package: nothing else imports it or spells its markup, ids or methods.

Every module under ``bot/`` and ``store/`` outside ``bot/handlers/slack/`` is read as
source and must not

* import ``slack_bolt``, ``slack_sdk`` or ``bot.handlers.slack`` -- by a statement,
  ``importlib.import_module``, ``__import__`` or a module name kept in a string -- (but
  for the wiring modules in ``WIRING``, which build the Slack app and its services;
  their Slack parts are moving into the package, and this list shrinks with them);
* contain Slack markup (``<@``, ``<#``, ``<!``, ``<https://...|words>``), a Slack id
  literal (``U0ADA``, ``U0HEALTH``, ``C0123ABCD``), a Web API method name, dotted or as
  slack_sdk spells it (``chat.postMessage``, ``client.users_info(``), Slack's request
  headers (``X-Slack-Signature``), or Slack's ``*bold*`` in a string a message shows.

The shipped policies (``bot/policies/*.yaml``) are read too: Slack's ids belong in
their ``slack:`` section, and nowhere else in them.

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
# What may still *spell* Slack's terms, and why. A module's name in SPELLS exempts the
# whole of it (empty, and to stay so); a ``(module, name)`` pair in SPELLING_TABLES
# exempts only the lines of that one top-level assignment.
SPELLS: dict[str, str] = {}
SPELLING_TABLES: dict[tuple[str, str], str] = {
    ("bot/policy.py", "ID_EXAMPLES"): "the one table of each platform's id, with an example "
    "of one that the words refusing a wrong id show",
    ("store/migrations/versions/0005_platforms.py", "_RENDERED"): "turns the last release's "
    "queued Slack calls into intents: it must name the methods it converts",
}

SLACK_MODULES = ("slack_bolt", "slack_sdk", "bot.handlers.slack")
# A string that names one of them, e.g. for importlib.import_module or __import__.
SLACK_MODULE_NAME = re.compile(r"(?:slack_bolt|slack_sdk|bot\.handlers\.slack)(?:\.\w+)*")
MARKUP = re.compile(r"(?<!\(\?)<[@#!]")  # not a regular expression's look-behind "(?<!"
# Slack's link markup, ``<https://example.org|the words>``.
LINK = re.compile(r"<(?:https?|mailto):[^\s|>]*\|")
# Slack's request headers (``X-Slack-Signature``...): only its endpoint reads them.
HEADER = re.compile(r"\bX-Slack-[\w-]+", re.IGNORECASE)
# Slack's mrkdwn bold, ``*words*``, in a string a message shows: the renderers own
# emphasis (Teams' markdown reads a single star as italics, or as nothing).
# A Slack emoji short code, ``:red_circle:`` (a policy gives the emoji itself, which every
# platform shows; a time, ``09:00-17:00``, or an address, ``https://``, is not one).
SHORT_CODE = re.compile(r"(?<![\w:]):[a-z][a-z0-9_+-]*:(?![\w/])")
# Words inside (a regular expression's ``[0-9]*\\s*`` is not).
MRKDWN = re.compile(r"(?<![\w*])\*[\w{][^*\n]*[\w}.?!)]\*(?![\w*])")
# A Slack id: U/W (users), C/G/D (conversations), S (user groups), B (bots), T
# (workspaces), E (enterprise grids), then capitals and digits. Either a digit first and
# at least one capital after it, 5 or more in all (the short ids tests and examples use:
# ``U0ADA``, ``U0HEALTH``, ``C0123ABCD``), or 9 or more in all with at least one digit
# (Slack's own, which may start ``U2C...``). An English word in capitals has no digit; a
# lint code (``BLE001``, ``E501``) or a hash name (``SHA256``) starts with letters or has
# no capital after its digits.
SLACK_ID = re.compile(
    r"\b[UWCGDSBTE](?:\d(?=[A-Z0-9]*[A-Z])[A-Z0-9]{3,}|(?=[A-Z0-9]*\d)[A-Z0-9]{8,})\b")
# A Web API method, dotted (``chat.postMessage``) or as slack_sdk spells it
# (``chat_postMessage``, ``users_info``, ``files_upload_v2``): a method family, any
# sub-families, then a camelCase name or one of the single-word verbs Slack uses.
_FAMILIES = ("chat|conversations|users|usergroups|views|files|team|reactions|pins"
             "|bookmarks|apps|auth|dnd|emoji|reminders|stars|search|bots|calls|dialog"
             "|oauth|openid|admin|workflows|canvases|rtm")
_VERBS = ("open|close|info|list|history|replies|members|create|join|leave|invite|kick"
          "|archive|unarchive|rename|mark|update|delete|add|remove|publish|push|test|upload"
          "|get|set|enable|disable|revoke|access|connect|start|end|edit|profile|identity"
          "|presence|preferences|uninstall|users")
METHOD = re.compile(
    rf"\b(?:{_FAMILIES})(?:[._](?:[a-z]+[A-Z]\w*|{_VERBS}|connections|remote|scheduledMessages"
    rf"|sections|channels|integrationLogs|billableInfo|accessLogs))*[._]"
    rf"(?:[a-z]+[A-Z][A-Za-z]*|(?:{_VERBS})(?![a-z]))(?:_v2)?\b")


def _modules() -> list[Path]:
    out = []
    for top in ("bot", "store"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if not any(path.is_relative_to(p) for p in EXEMPT):
                out.append(path)
    return out


def _policies() -> list[Path]:
    """The shipped policy files: what they say reaches every platform's users."""
    return sorted((ROOT / "bot" / "policies").glob("*.yaml"))


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _imported(node: ast.ImportFrom, package: str) -> list[str]:
    """The modules a ``from ... import`` names: its module, or (when that is not a Slack
    one) each name under it, as ``from bot.handlers import slack`` imports the package.
    A relative import is resolved against ``package`` (the importing module's)."""
    module = node.module or ""
    if node.level:
        parts = package.split(".") if package else []
        base = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
        module = ".".join(base + ([module] if module else []))
    if SLACK_MODULE_NAME.fullmatch(module):
        return [module]
    return [f"{module}.{a.name}" for a in node.names]


def slack_imports(source: str, package: str = "") -> list[str]:
    """The Slack modules ``source`` imports (anywhere in it, lazily too), by an import
    statement (relative ones against ``package``), ``importlib.import_module`` or
    ``__import__``, or names as a string."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else _imported(node, package) if isinstance(node, ast.ImportFrom)
                 # Any string that is a Slack module's name: import_module("slack_sdk"),
                 # __import__("slack_bolt"), or a name kept in a variable to import later.
                 else [node.value] if isinstance(node, ast.Constant)
                 and isinstance(node.value, str) else [])
        found += [n for n in names if SLACK_MODULE_NAME.fullmatch(n.strip())]
    return found


def _table_lines(source: str, names: set[str]) -> set[int]:
    """The lines of the top-level assignments to ``names`` in ``source``."""
    lines: set[int] = set()
    for node in ast.parse(source).body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id in names for t in targets):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def slack_spellings(source: str, exempt_tables: set[str] | None = None) -> list[str]:
    """Slack markup, ids and Web API method names in ``source``, by line; the lines of
    the top-level assignments named in ``exempt_tables`` (Python source) are skipped."""
    skip = _table_lines(source, exempt_tables) if exempt_tables else set()
    found = []
    for no, line in enumerate(source.splitlines(), 1):
        if no in skip:
            continue
        for rx in (MARKUP, LINK, HEADER, SLACK_ID, METHOD):
            found += [f"{no}: {m.group(0)!r} in {line.strip()[:80]!r}"
                      for m in rx.finditer(line)]
    return found


def mrkdwn_strings(source: str) -> list[str]:
    """Slack's ``*bold*`` in ``source``'s string literals, by line: the texts a message
    may show. Docstrings are not shown to anyone, and reST's ``*emphasis*`` is theirs."""
    tree = ast.parse(source)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                    ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr)
                  and isinstance(n.body[0].value, ast.Constant)}
    texts: list[tuple[int, str]] = []
    for n in ast.walk(tree):
        if isinstance(n, ast.JoinedStr):  # an f-string: its words, {} for each value
            texts.append((n.lineno, "".join(
                v.value if isinstance(v, ast.Constant) else "{}" for v in n.values)))
            docstrings.update(id(v) for v in n.values)  # read once, as a whole
        elif (isinstance(n, ast.Constant) and isinstance(n.value, str)
              and id(n) not in docstrings):
            texts.append((n.lineno, n.value))
    return [f"{no}: {m.group(0)!r}" for no, text in texts for m in MRKDWN.finditer(text)]


def platform_sections(text: str) -> set[int]:
    """The lines of a policy's top-level ``slack:`` section, where Slack's ids belong
    (up to the next line that starts in the first column)."""
    lines, inside = set(), False
    for no, line in enumerate(text.splitlines(), 1):
        if line[:1].strip():
            inside = line.startswith("slack:")
        if inside:
            lines.add(no)
    return lines


MODULES = _modules()


def test_the_check_reads_the_modules_and_sees_slack() -> None:
    """The boundary is checked on the real tree, and each rule catches what it names."""
    assert len(MODULES) > 40 and ROOT / "bot" / "flows" / "triage" / "messaging.py" in MODULES
    assert not any(p.is_relative_to(SLACK_PACKAGE) for p in MODULES)
    assert slack_imports("from slack_sdk.errors import SlackApiError") == ["slack_sdk.errors"]
    assert slack_imports("def f():\n    import bot.handlers.slack.render\n")
    assert slack_imports("from bot.handlers import slackish") == []
    assert slack_imports("from bot.handlers import teams, slack") == ["bot.handlers.slack"]
    # Relative imports, from the module's own package.
    assert slack_imports("from ..slack import render", "bot.handlers.teams") == [
        "bot.handlers.slack"]
    assert slack_imports("from .. import slack", "bot.handlers.teams") == ["bot.handlers.slack"]
    assert slack_imports("from . import slack", "bot.handlers") == ["bot.handlers.slack"]
    assert slack_imports("from . import cards", "bot.handlers.teams") == []
    said = slack_spellings('t = f"<@{u}> in <#C0FRONT123> via chat.postMessage"')
    assert len(said) == 4, said  # the mention, the link, the channel id, the method
    assert slack_spellings("x = '<!subteam^S0MANAGERS>'")
    # Ordinary words in capitals, references and keys are not Slack ids.
    assert slack_spellings("WORKSPACE SAFEGUARDING FD-2026-000123 CAMBRIDGESHIRE") == []
    assert slack_spellings("q(id) <= 3 and a->b and x<y") == []
    assert slack_spellings('re.compile(r"(?<!\\w)word")') == []  # a look-behind


@pytest.mark.parametrize("path", [p for p in MODULES if _name(p) not in WIRING], ids=_name)
def test_no_slack_imports_outside_the_slack_package(path: Path) -> None:
    package = ".".join(path.relative_to(ROOT).parts[:-1])  # for relative imports
    assert slack_imports(path.read_text(), package) == [], (
        f"{_name(path)} imports Slack: move that code into bot/handlers/slack/")


def test_the_check_catches_short_ids_other_spellings_dynamic_imports_and_tables() -> None:
    """What an audit found the first check let through is caught (issue 17's boundary)."""
    # Short, test-style ids; ordinary constants and lint codes are not ids.
    for said in ("U0123ABC", "U0HEALTH", "D0HEALTH", "C0ONE", "U0ADA", "T1DC2JH3J",
                 "U2CERLKJA", "W0123ABC", "E0GRID42"):
        assert slack_spellings(f"who = {said!r}"), said
    assert slack_spellings("CLOCK_LABELS URGENT DEFAULT BLE001 SLF001 E501 SHA256 "
                           "CAF20417 FD-2026-0042 UTF8 B008 C0123") == []
    # slack_sdk's snake-case methods, and dotted names beyond the first list.
    for said in ("client.chat_postMessage(", "await c.conversations_open(users=u)",
                 "client.users_info(user=u)", "client.views_open(", "files_upload_v2(",
                 "usergroups_users_list(", "apps_connections_open(", "auth_test()",
                 "'team.info'", "'pins.add'", "'bookmarks.list'", "'users.profile.get'",
                 "'apps.connections.open'", "'chat.scheduleMessage'", "'files.remote.add'",
                 "'reactions.add'", "'conversations.replies'", "'usergroups.users.list'",
                 "'auth.test'", "'views.publish'", "'files.getUploadURLExternal'"):
        assert slack_spellings(said), said
    assert slack_spellings("team.name, users.count, files_dir, views = 1, chat_id, "
                           "self.team.rename_to") == []
    # Imports by name: importlib, __import__, or a module name kept to import later.
    assert slack_imports('importlib.import_module("slack_sdk.web.async_client")')
    assert slack_imports('__import__("slack_bolt")')
    assert slack_imports('m = "bot.handlers.slack.render"\nimportlib.import_module(m)')
    assert slack_imports('"""Talks to slack_sdk through the Slack package."""') == []
    # A table exempts only its own lines: the same id a line later is caught.
    src = 'T: dict = {\n    "slack": "U0123ABCD",\n}\nx = "U0123ABCD"\n'
    assert [f[:2] for f in slack_spellings(src, {"T"})] == ["4:"]
    assert len(slack_spellings(src)) == 2
    # Slack's link markup and request headers.
    assert slack_spellings('f"<https://example.org/help|{words}>"')
    assert slack_spellings('request.headers.get("X-Slack-Request-Timestamp")')
    assert slack_spellings('"see <https://example.org> and x <= y|z"') == []
    # mrkdwn bold in a string a message shows; docstrings, globs and maths are not it.
    said = mrkdwn_strings('X = "use *Change my answer* on it"\nY = f"*{n}* cards"\n')
    assert [f[:2] for f in said] == ["1:", "2:"], said
    assert mrkdwn_strings('"""Use *Route to a CAF*."""\ng = "*.yaml"\nm = "a * b * c"\n'
                          'k = "**Teams bold**"\ndef f(*a, **k):\n    "A *doc*."\n') == []
    # A policy's slack: section may hold Slack's ids; nothing else in it may.
    policy = ("ratings:\n  red:\n    meaning: ask <@U0LEAD>\nslack:  # ids\n"
              "  channels:\n    mash_managers: C0MASHMGR\n# teams:\nphones: {}\n")
    assert platform_sections(policy) == {4, 5, 6}
    assert {f[:2] for f in _policy_spellings(policy)} == {"3:"}  # the mention and the id
    # A rating's emoji is the emoji itself, not Slack's short code for it.
    assert _policy_spellings('red:\n  emoji: ":red_circle:"\n') == ["2: ':red_circle:'"]
    assert _policy_spellings('red:\n  emoji: "\U0001f534"  # :x: in a comment\n'
                             'monday: "09:00-17:00"\nurl: https://example.org\n') == []


@pytest.mark.parametrize("path", [p for p in MODULES if _name(p) not in SPELLS], ids=_name)
def test_no_slack_markup_ids_or_methods_outside_the_slack_package(path: Path) -> None:
    tables = {t for (m, t) in SPELLING_TABLES if m == _name(path)}
    source = path.read_text()
    assert slack_spellings(source, tables) + mrkdwn_strings(source) == [], (
        f"{_name(path)} spells Slack: structured data (bot.intents) that the Slack "
        "renderer draws instead")


def _policy_spellings(text: str) -> list[str]:
    skip = platform_sections(text)
    codes = [f"{no}: {m.group(0)!r}" for no, line in enumerate(text.splitlines(), 1)
             for m in SHORT_CODE.finditer(line.split(" #", 1)[0])]
    return [f for f in slack_spellings(text) + codes if int(f.split(":", 1)[0]) not in skip]


@pytest.mark.parametrize("path", _policies(), ids=_name)
def test_no_slack_markup_or_ids_in_the_shipped_policies(path: Path) -> None:
    """A shipped policy is read on every platform: no Slack markup, ids or emoji short
    codes in it."""
    assert _policy_spellings(path.read_text()) == [], (
        f"{_name(path)} spells Slack (markup, an id or an emoji short code) outside its "
        "slack: section, which alone holds Slack's ids")
