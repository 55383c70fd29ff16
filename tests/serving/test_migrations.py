"""Migrations: the first revision builds exactly the ORM's schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from serving.runtime import open_case_store
from serving.settings import load_settings
from serving.store.engine import _sqlite_connect, make_engine, normalise_url
from serving.store.migrate import MIGRATIONS_DIR, alembic_config, current_revision, migrate
from serving.store.tables import Base
from tests.conftest import REPO
from tests.serving.store_helpers import photo_bytes

HEAD = "0003_idempotency_keys"
"""The newest revision; the scripts form one chain ending there."""


def test_the_migrated_schema_matches_the_orm(fresh_engine):
    engine = fresh_engine
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    tables = set(inspect(engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_migrate_is_idempotent_and_reaches_head(fresh_engine):
    engine = fresh_engine
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(engine) == head == HEAD
    migrate(engine)
    assert current_revision(engine) == head


def test_downgrade_removes_everything_and_upgrade_restores_it(fresh_engine):
    engine = fresh_engine
    command.downgrade(alembic_config(engine), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert current_revision(engine) is None
    migrate(engine)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


MIGRATE = """
import sys, time
from serving.store.engine import make_engine
from serving.store.migrate import migrate
engine = make_engine(sys.argv[1], schema=sys.argv[2] or None)
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # start together with the others
migrate(engine)
"""


def test_concurrent_migrations_migrate_once(fresh_db_url):
    """Service workers starting at once (processes and threads): the schema is built once."""
    url, schema = fresh_db_url
    start = time.time() + 3  # after the interpreters have started and imported
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, url, schema or "", str(start)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    engine = make_engine(url, schema=schema)
    threads = [threading.Thread(target=migrate, args=(engine,)) for _ in range(2)]
    time.sleep(max(0.0, start - time.time()))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # the end of each worker's stderr: the exception and the SQL statement it failed on
    errors = [w.communicate(timeout=60)[1][-800:] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], "\n".join(errors)
    assert current_revision(engine) == HEAD
    engine.dispose()


def test_migrate_accepts_a_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'by-url.db'}"
    migrate(url)
    assert current_revision(url) == HEAD


def test_sqlite_gets_wal_foreign_keys_and_a_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with engine.connect() as connection:
        values = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }
    engine.dispose()
    assert values["journal_mode"] == "wal" and values["foreign_keys"] == 1
    assert values["busy_timeout"] >= 1000


def test_connections_opening_a_new_sqlite_file_together_all_connect(tmp_path):
    """Switching a new file to WAL from several connections at once: none is refused.

    SQLite refuses all but one of them at once ("database is locked", no busy wait); before
    the retry this failed about one round in twenty (the service's workers and migrations
    open a new database together).
    """
    failed = []
    for round_ in range(100):
        path = tmp_path / f"r{round_}.db"
        connections = [sqlite3.connect(path, check_same_thread=False) for _ in range(8)]
        barrier = threading.Barrier(len(connections))

        threads = [
            threading.Thread(target=_connect_after, args=(barrier, c, f"round {round_}", failed))
            for c in connections
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        modes = [c.execute("PRAGMA journal_mode").fetchone()[0] for c in connections]
        for connection in connections:
            connection.close()
        assert modes == ["wal"] * len(connections), (round_, modes)
    assert failed == []


def _connect_after(barrier, connection, name, failed):
    barrier.wait()
    try:
        _sqlite_connect(connection, None)
    except sqlite3.OperationalError as exc:
        failed.append(f"{name}: {exc}")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/d", "postgresql+psycopg://u@h:5432/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///var/regrade.db", "sqlite:///var/regrade.db"),
    ],
)
def test_postgres_urls_use_psycopg_3(url, expected):
    assert normalise_url(url) == expected
    assert make_engine(url).url.render_as_string() == expected


def test_the_migrations_ship_as_package_files():
    """setuptools finds `serving.store.migrations*` packages only where an __init__.py exists."""
    assert (MIGRATIONS_DIR / "__init__.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "__init__.py").is_file()
    assert (MIGRATIONS_DIR / "env.py").is_file()


def test_open_store_uses_the_settings_database_and_photo_folder(tmp_path):
    settings = load_settings({"REGRADE_HOME": str(tmp_path / "home")})
    store = open_case_store(settings)
    case = store.create_case(
        {"item_id": "u1", "category": "phone"}, [photo_bytes()], None, None, "resell", [], [], {}
    )
    store.engine.dispose()
    assert (tmp_path / "home" / "regrade.db").is_file()
    assert (settings.photos_dir / case.photos[0].path).is_file()
    assert current_revision(settings.resolved_database_url) == HEAD
