"""Gallery API tests against the embedded Postgres with pgvector."""
