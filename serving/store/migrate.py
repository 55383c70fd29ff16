"""Schema migrations: `migrate` brings a database to the newest Alembic revision.

The Alembic configuration is built in code (no alembic.ini); the scripts live in
`serving/store/migrations`, a package folder that ships with the project. To write a new revision
after changing `serving.store.tables`, from the repository root:

    python -c "from serving.store.migrate import revision; revision('what changed')"

and review the generated file under `serving/store/migrations/versions/`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from serving.store.engine import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_ALEMBIC_LOCK = threading.Lock()  # Alembic's `context` is module-global: one run per process


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic configuration pointing at the package's migration scripts.

    Args:
        engine: Handed to `env.py`, which then migrates through it (its schema and settings).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def migrate(target: Engine | str, revision: str = "head") -> None:
    """Upgrade a database to `revision` (default: the newest); safe to run again.

    Safe to run from several threads or processes at once: one migrates, the others wait and
    then find the database at `revision` (see `serving/store/migrations/env.py`).

    Args:
        target: An engine from `serving.store.engine.make_engine`, or a database URL.
        revision: An Alembic revision id, or "head".
    """
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        with _ALEMBIC_LOCK:
            command.upgrade(alembic_config(engine), revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def current_revision(target: Engine | str) -> str | None:
    """The revision a database is at, or None before the first migration."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if isinstance(target, str):
            engine.dispose()


def revision(message: str, target: Engine | str = "sqlite://") -> None:
    """Autogenerate a new revision script from the difference between the ORM and `target`.

    The default target is an empty in-memory SQLite database brought to head first, so the
    script holds exactly the change since the newest revision.
    """
    engine = make_engine(target) if isinstance(target, str) else target
    migrate(engine)
    command.revision(alembic_config(engine), message=message, autogenerate=True)
