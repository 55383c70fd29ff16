"""Alembic migration scripts of the service's database (run through `serving.store.migrate`)."""
