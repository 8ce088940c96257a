"""The gallery: people, enrollment samples, negatives, visitors, events and API keys, with HNSW indexes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DIM = 128


def _timestamp(name: str, *, default: bool = True, nullable: bool = False) -> sa.Column[object]:
    server_default = sa.func.now() if default else None
    return sa.Column(name, sa.DateTime(timezone=True), server_default=server_default, nullable=nullable)


def _hnsw(name: str, table: str, column: str, *, m: int = 16, ef_construction: int = 64) -> None:
    # Cosine on the raw descriptors finds candidates; the exact Euclidean distance decides (vectors.py).
    op.execute(
        f"create index {name} on {table} using hnsw ({column} vector_cosine_ops) "
        f"with (m = {m}, ef_construction = {ef_construction})"
    )


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("alert", sa.Boolean, nullable=False, server_default=sa.false()),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    op.execute("create unique index people_name_key on people (lower(name))")

    op.create_table(
        "faces",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("person_id", sa.BigInteger, sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
        sa.Column("embedding", Vector(DIM), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("crop", sa.LargeBinary, nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        sa.Column("box", ARRAY(sa.Float), nullable=False),
        sa.Column("detector_score", sa.Float, nullable=False),
        sa.Column("size_px", sa.Float, nullable=False),
        sa.Column("sharpness", sa.Float, nullable=False),
        sa.Column("origin", sa.Text, nullable=False, server_default="upload"),
        _timestamp("created_at"),
    )
    op.create_index("faces_person_idx", "faces", ["person_id"])
    # Naming people needs high recall: on clustered synthetic descriptors (bench/gallery_search.py), m=16
    # with ef_construction=64 (pgvector's defaults) found the exact nearest person 95% of the time at
    # 100k samples, m=32 with ef_construction=100 99.7%, for a build about 3.5 times longer.
    _hnsw("faces_embedding_hnsw", "faces", "embedding", m=32, ef_construction=100)

    op.create_table(
        "visitors",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
        sa.Column("centroid", Vector(DIM), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("face_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("person_id", sa.BigInteger, sa.ForeignKey("people.id", ondelete="SET NULL")),
        _timestamp("first_seen", default=False),
        _timestamp("last_seen", default=False),
    )
    _hnsw("visitors_centroid_hnsw", "visitors", "centroid")

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("camera_id", sa.Text, nullable=False),
        sa.Column("track_id", sa.Text, nullable=False),
        _timestamp("started_at", default=False),
        _timestamp("ended_at", default=False),
        sa.Column("person_id", sa.BigInteger, sa.ForeignKey("people.id", ondelete="SET NULL")),
        sa.Column("visitor_id", sa.BigInteger, sa.ForeignKey("visitors.id", ondelete="SET NULL")),
        sa.Column("similarity", sa.Float),
        sa.Column("distance", sa.Float),
        sa.Column("age", sa.Float),
        sa.Column("gender", sa.Text),
        sa.Column("box", ARRAY(sa.Float), nullable=False),
        sa.Column("detector_score", sa.Float, nullable=False),
        sa.Column("size_px", sa.Float, nullable=False),
        sa.Column("sharpness", sa.Float, nullable=False),
        sa.Column("embedding", Vector(DIM)),
        sa.Column("model_version", sa.Integer),
        sa.Column("snapshot", sa.LargeBinary),
        sa.Column("crop", sa.LargeBinary),
        sa.Column("labelled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("erased", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.UniqueConstraint("camera_id", "track_id", name="events_camera_track_key"),
    )
    op.create_index("events_seen_idx", "events", ["started_at"])
    op.create_index("events_person_idx", "events", ["person_id", "started_at"])
    op.create_index("events_visitor_idx", "events", ["visitor_id"])
    op.create_index("events_camera_idx", "events", ["camera_id", "started_at"])
    # Events grow all day: pgvector's default graph keeps inserts cheap; search asks for more candidates.
    _hnsw("events_embedding_hnsw", "events", "embedding")

    op.create_table(
        "negative_samples",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("person_id", sa.BigInteger, sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
        sa.Column("embedding", Vector(DIM), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("event_id", sa.BigInteger, sa.ForeignKey("events.id", ondelete="SET NULL")),
        _timestamp("created_at"),
    )
    op.create_index("negative_samples_person_idx", "negative_samples", ["person_id", "model_version"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", ARRAY(sa.Text), nullable=False),
        _timestamp("created_at"),
        _timestamp("last_used_at", default=False, nullable=True),
        _timestamp("revoked_at", default=False, nullable=True),
    )


def downgrade() -> None:
    for table in ("api_keys", "negative_samples", "events", "visitors", "faces", "people"):
        op.drop_table(table)
