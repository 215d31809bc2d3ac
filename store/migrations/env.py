"""Alembic environment: uses the caller's connection when given one."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from store.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    """Run migrations on the connection passed in, or on a new engine."""
    conn = config.attributes.get("connection")
    if conn is not None:
        _migrate(conn)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _migrate(conn)


def _migrate(conn: object) -> None:
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        render_as_batch=conn.dialect.name == "sqlite",  # type: ignore[attr-defined]
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
