"""One way each (issue 17): listeners registered one way and kept thin, one default "now".

Read from the source: a listener module that opens a session, runs SQL or hands work to
a thread itself, or registers listeners another way, fails here by name.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from bot.handlers.slack import caf, caf_qa, caflog, cards, common, consultations, flows, home
from bot.handlers.teams import actions as teams_actions
from bot.handlers.teams import cafdialogs as teams_cafdialogs
from bot.handlers.teams import caflog as teams_caflog
from bot.handlers.teams import cafqa as teams_cafqa
from bot.handlers.teams import cafroute as teams_cafroute
from bot.handlers.teams import dialogs as teams_dialogs
from bot.handlers.teams import flows as teams_flows
from bot.handlers.teams import listeners as teams_listeners

ROOT = Path(__file__).resolve().parent.parent
LISTENERS = (caf, caf_qa, caflog, cards, consultations, flows, home)
# Teams' listeners are methods of its agent (the SDK's way), held to the same rule.
TEAMS_LISTENERS = (teams_actions, teams_cafdialogs, teams_cafqa, teams_cafroute, teams_caflog,
                   teams_dialogs, teams_flows, teams_listeners)
# What only the domain and the store do: sessions, the ORM, SQL, threads.
NOT_IN_A_LISTENER = ("store.db", "store.sql", "store.repo", "sqlmodel", "asyncio")


def _imports(module: object) -> set[str]:
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_listener_modules_open_no_session_and_run_no_sql() -> None:
    for module in (*LISTENERS, common, *TEAMS_LISTENERS):
        source = inspect.getsource(module)
        bad = {m for m in _imports(module)
               if m.startswith(NOT_IN_A_LISTENER) or m == "sqlalchemy"}
        assert not bad, f"{module.__name__} imports {sorted(bad)}"
        for word in ("session_scope", "off_loop", "to_thread", "select(", "tx.session"):
            assert word not in source, f"{module.__name__} uses {word}"


def test_every_listener_module_registers_one_way() -> None:
    for module in LISTENERS:
        params = list(inspect.signature(module.register).parameters)  # type: ignore[attr-defined]
        assert params == ["app"], f"{module.__name__}.register{tuple(params)}"
        # Listeners are module-level functions: register defines none of its own.
        tree = ast.parse(inspect.getsource(module.register))  # type: ignore[attr-defined]
        inner = [n.name for n in ast.walk(tree.body[0])
                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)][1:]
        assert not inner, f"{module.__name__}.register defines {inner}"


# Opening a transaction or a connection: only the store does it, and outside it only
# ``store.runner.TxRunner`` is asked (``run`` on the loop, ``run_full``/``session`` here).
OPENS = re.compile(r"session_scope|write_tx|(?<![.\w])Session\(|\.begin\(\)|\.connect\(\)|"
                   r"raw_connection|\bTx\(")


def test_every_transaction_goes_through_the_runner() -> None:
    found = {f"{path.relative_to(ROOT)}: {m.group(0)}"
             for path in sorted((ROOT / "bot").rglob("*.py"))
             for m in OPENS.finditer(path.read_text())}
    assert not found, sorted(found)


def test_the_default_now_is_store_types_utcnow_alone() -> None:
    found = {str(path.relative_to(ROOT))
             for folder in ("bot", "store") for path in sorted((ROOT / folder).rglob("*.py"))
             if re.search(r"datetime\.now\(\s*(dt\.)?UTC\s*\)", path.read_text())}
    assert found == {"store/types.py"}, sorted(found)


# The domain, grouped by domain (issue 17): each package holds the same five files, so a
# newcomer finds a behaviour in one hop; a file with nothing of its kind says where it is.
DOMAINS = ("triage", "consultation", "caf", "guided")
FIVE = ("models", "service", "flows", "messaging", "scheduled")


def test_each_domain_has_the_same_five_files_and_says_what_each_holds() -> None:
    for domain in DOMAINS:
        package = ROOT / "bot" / "flows" / domain
        assert (package / "__init__.py").is_file(), f"bot/flows/{domain}/ is no package"
        init = ast.parse((package / "__init__.py").read_text())
        guide = ast.get_docstring(init) or ""
        assert len(init.body) == 1 and guide, f"bot/flows/{domain}/__init__.py: a docstring only"
        for name in FIVE:
            path = package / f"{name}.py"
            assert path.is_file(), f"bot/flows/{domain}/{name}.py is missing"
            assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} says nothing"
            assert f"{name}.py" in guide, f"bot/flows/{domain}/__init__.py does not name {name}.py"
