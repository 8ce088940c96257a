"""The gallery database: schema, Alembic migrations and the store functions that workers and the API share."""
