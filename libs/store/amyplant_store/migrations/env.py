"""Alembic environment: runs migrations on the connection handed over by amyplant_store.database.migrate."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    # Run from the alembic CLI: open our own connection from the configured URL.
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as own_connection:
        context.configure(connection=own_connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
        own_connection.commit()
else:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
