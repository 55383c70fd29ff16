"""Connecting to the case database: an engine factory for SQLite and PostgreSQL.

SQLite gets WAL journaling, foreign keys, a busy timeout, and write transactions that take the
write lock at BEGIN (`WRITE_OPTION`); PostgreSQL URLs are pointed at psycopg 3.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from functools import partial
from typing import Any

from sqlalchemy import Engine, create_engine, event

SQLITE_BUSY_TIMEOUT_S = 15.0
"""How long a SQLite writer waits for another writer's lock before giving up."""

WRITE_OPTION = "regrade_write"
"""Execution option marking a write transaction (SQLite then takes the write lock at BEGIN)."""


def normalise_url(url: str) -> str:
    """An SQLAlchemy URL with PostgreSQL pointed at psycopg 3 (`postgresql://` is rewritten)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the driver so `_sqlite_begin` decides the lock mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # The busy timeout first, so that every later statement waits for a lock the same way.
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode, retrying while another connection switches it at once.

    Switching a new database file out of its rollback journal takes an exclusive lock. When
    connections open the same new file together, each holds a shared lock and wants the
    exclusive one; SQLite answers all but one "database is locked" at once rather than wait on
    the busy timeout (waiting would deadlock). By the time the loser tries again, the winner
    has usually switched the file, and the switch is then a no-op.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", 0)  # extended code: the low byte is primary
            busy = code & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.01 + 0.04 * random.random())


def _sqlite_begin(connection: Any) -> None:
    # A write transaction takes the write lock up front: two writers then queue on the busy
    # timeout instead of failing on a stale read snapshot (SQLITE_BUSY_SNAPSHOT in WAL mode).
    write = connection.get_execution_options().get(WRITE_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str, *, schema: str | None = None, **kwargs: Any) -> Engine:
    """Create the engine for a database URL.

    SQLite gets WAL journaling, foreign keys, a busy timeout and transactions that SQLAlchemy
    controls (write transactions begin IMMEDIATE). PostgreSQL goes through psycopg 3.

    Args:
        url: An SQLAlchemy URL; `postgresql://` and `postgres://` are rewritten to psycopg 3.
        schema: PostgreSQL only: the schema to work in (set as the connection's search_path).
        **kwargs: Passed on to `sqlalchemy.create_engine`.
    """
    url = normalise_url(url)
    kwargs.setdefault("json_serializer", partial(json.dumps, allow_nan=False))
    if url.startswith("sqlite"):
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, **kwargs.pop("connect_args", {})}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if schema is not None:
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args["options"] = f"-c search_path={schema}"
        kwargs["connect_args"] = connect_args
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)
