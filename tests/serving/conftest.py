"""Database fixtures: every persistence test runs on SQLite and on PostgreSQL.

PostgreSQL is the server at REGRADE_TEST_POSTGRES_URL (default: trust auth on 127.0.0.1:5432,
database `test`); its tests skip, saying why, when no server answers within 2 s. Tests work in
schemas of their own (`regrade_test_*`), dropped afterwards, so nothing is left in the database:
store tests share one migrated schema emptied before each test, migration tests get a fresh one.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy.exc import OperationalError

from serving.store.engine import make_engine
from serving.store.migrate import migrate
from serving.store.photos import PhotoStore
from serving.store.tables import Base
from serving.store.writes import Store

POSTGRES_URL = os.environ.get(
    "REGRADE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CONNECT_TIMEOUT_S = 2


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL, or a skip naming it and the connection error."""
    engine = make_engine(POSTGRES_URL, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        pytest.skip(
            f"no PostgreSQL server answers at {engine.url.render_as_string(hide_password=True)}"
            f" ({reason}); set REGRADE_TEST_POSTGRES_URL to run these tests"
        )
    finally:
        engine.dispose()
    return POSTGRES_URL


def _schema(url: str):
    """Create a uniquely named schema; yield its name; drop it with everything in it."""
    schema = f"regrade_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_shared_schema(postgres_url):
    """One migrated schema for the session's store tests."""
    for schema in _schema(postgres_url):
        engine = make_engine(postgres_url, schema=schema)
        migrate(engine)
        engine.dispose()
        yield schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    """The database backend a test runs on."""
    return request.param


@pytest.fixture
def fresh_db_url(backend, request, tmp_path):
    """(URL, schema) of an empty, unmigrated database of its own."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}", None
        return
    url = request.getfixturevalue("postgres_url")
    for schema in _schema(url):
        yield url, schema


@pytest.fixture
def db_url(backend, request, tmp_path) -> tuple[str, str | None]:
    """(URL, schema) of a migrated database with no rows in it."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'regrade.db'}"
        migrate(url)
        return url, None
    url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("postgres_shared_schema")
    engine = make_engine(url, schema=schema)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()
    return url, schema


@pytest.fixture
def engine(db_url):
    """An engine on a migrated, empty database."""
    engine = make_engine(db_url[0], schema=db_url[1])
    yield engine
    engine.dispose()


@pytest.fixture
def fresh_engine(fresh_db_url):
    """An engine on a database of its own, migrated (for tests that change the schema)."""
    engine = make_engine(fresh_db_url[0], schema=fresh_db_url[1])
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def photo_store(tmp_path) -> PhotoStore:
    """An empty photo store under the test's folder."""
    return PhotoStore(tmp_path / "photos")


@pytest.fixture
def store(engine, photo_store) -> Store:
    """The repository over a migrated, empty database and an empty photo store."""
    return Store(engine, photo_store)
