"""Tests of the gallery service: its API against the embedded Postgres with pgvector."""
