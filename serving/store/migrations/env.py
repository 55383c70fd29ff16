"""Alembic environment: migrate through the engine `serving.store.migrate` hands over.

Runs online only; the engine comes from `config.attributes["engine"]`, or is made from the
`sqlalchemy.url` option when Alembic is driven some other way. Importing this module outside
an Alembic run does nothing.
"""

from __future__ import annotations

from alembic import context

from serving.store.engine import WRITE_OPTION, make_engine
from serving.store.tables import Base

MIGRATION_LOCK_ID = 0x72656772
"""PostgreSQL advisory lock key held while migrating, so concurrent starts migrate once."""


def run_migrations() -> None:
    """Run the pending revisions in one transaction, one migrator at a time.

    SQLite takes the write lock at BEGIN and uses batch mode for ALTERs; PostgreSQL holds an
    advisory lock until commit. A second migrator waits, then finds the database at head.
    """
    config = context.config
    engine = config.attributes.get("engine")
    if engine is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        connection.begin()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if hasattr(context, "config"):  # run by Alembic, not merely imported
    run_migrations()
