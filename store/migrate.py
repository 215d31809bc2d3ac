"""Alembic migrations, run programmatically (``frontdoor db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

from store.db import database_url, is_sqlite

MIGRATIONS = Path(__file__).with_name("migrations")
# Replicas started together on one PostgreSQL database each migrate on start: one at a
# time, or two CREATE TABLEs race and a replica dies at start-up. Any fixed key will do.
_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('frontdoor:migrate'))"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the bundled migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would choke on '%' in a password.
    cfg.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, to: str = "head") -> str:
    """Bring the schema to revision ``to`` (the newest by default); running it again
    changes nothing."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if is_sqlite(engine) else None
        if raw is not None:
            # SQLite alters a table by copying it and dropping the old one, which its
            # foreign keys refuse: they are off for the migration (only outside a
            # transaction can they be), and checked whole before it commits.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                if raw is None:  # SQLite's migration takes its write lock anyway
                    conn.execute(text(_MIGRATION_LOCK))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, to)
                if raw is not None:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
    return current_revision(engine) or ""


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest revision shipped with this version of the bot."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""
