"""What a SQLite database is for: a live workspace's or the sandbox's, never both.

``frontdoor serve`` (and ``worker``, ``reminders run``) marks the database it
uses as *live*; ``frontdoor sandbox`` marks its own as *sandbox*. Each refuses
the other's: the sandbox's in-memory Slack would otherwise swallow a live
database's reminders and queued messages (marked sent, lost for good) and show
its consultation log on a page without a login; and ``serve`` on a sandbox
database would send reminders about made-up worries to real channels.

The mark is SQLite's ``application_id`` (four bytes in the file's header, made
for saying what a file is for): no table, no migration, kept by ``VACUUM`` and
by backups, and never touched by retention. PostgreSQL needs no mark, as the
sandbox never uses PostgreSQL (``bot.sandbox.run.sandbox_database``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from store.db import database_url

LIVE = "live"
SANDBOX = "sandbox"
# "FDLV" and "FDSB": readable in a hex dump of the file's header.
APPLICATION_IDS = {LIVE: 0x46444C56, SANDBOX: 0x46445342}
_ROLES = {v: k for k, v in APPLICATION_IDS.items()}


class DatabaseRoleError(RuntimeError):
    """The database belongs to the other kind of use; nothing was changed."""


def sqlite_file(url: str) -> Path | None:
    """The SQLite file a URL names (None: another database, or in memory)."""
    parsed = make_url(database_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def role_of(url: str) -> str | None:
    """The database's role, read without creating or changing anything.

    None for a database that does not exist yet, is not a SQLite file or has no
    mark; ``"unknown"`` for a SQLite file marked by some other application.
    """
    path = sqlite_file(url)
    if path is None or not path.exists():
        return None
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    finally:
        conn.close()
    return _ROLES.get(app_id, "unknown") if app_id else None


def claim(url: str, role: str) -> None:
    """Check the database is free for ``role`` and mark it so; raise if it is not.

    A new (or empty) file is marked. The sandbox also refuses a file that holds
    tables but no mark: one made before marks existed, or by ``frontdoor db
    upgrade``, may hold real work. ``serve`` marks such a file live.
    Raises :class:`DatabaseRoleError` having changed nothing.
    """
    if role not in APPLICATION_IDS:
        raise ValueError(f"unknown database role {role!r}")
    path = sqlite_file(url)
    if path is None:
        return
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        # One claimant at a time: two processes starting at once see each other's mark.
        conn.execute("BEGIN IMMEDIATE")
        try:
            app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
            tables = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
            _check(path, role, app_id, tables)
            if app_id != APPLICATION_IDS[role]:
                conn.execute(f"PRAGMA application_id = {APPLICATION_IDS[role]:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


def _check(path: Path, role: str, app_id: int, tables: int) -> None:
    if app_id == APPLICATION_IDS[role]:
        return
    if app_id == APPLICATION_IDS[LIVE]:
        raise DatabaseRoleError(
            f"{path} has been used by `frontdoor serve`: it may hold real people's work, "
            "and the sandbox never touches such a database. Unset DATABASE_URL to use the "
            "sandbox's own file, or set it to a new SQLite file."
        )
    if app_id == APPLICATION_IDS[SANDBOX]:
        raise DatabaseRoleError(
            f"{path} is a `frontdoor sandbox` database (demo people and made-up worries): "
            "`frontdoor serve` will not use it, as its reminders and queued messages would "
            "go to a real workspace. Set DATABASE_URL to the bot's own database."
        )
    if app_id:
        raise DatabaseRoleError(f"{path} is not a Front Door database (application id "
                                f"{app_id:#x}); nothing was changed.")
    if role == SANDBOX and tables:
        raise DatabaseRoleError(
            f"{path} already holds tables but was not made by `frontdoor sandbox`: it may "
            "hold real work, so the sandbox will not touch it. Set DATABASE_URL to a new "
            "SQLite file (or unset it); if you know this one is an old sandbox's, delete it "
            "and its .sandbox.json to start afresh."
        )
