"""The gallery's tables as typed SQLAlchemy 2 models; migrations 0002 to 0004 create the same schema."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

EMBEDDING_DIM = 128
Embedding = npt.NDArray[np.float32]


class Base(DeclarativeBase):
    """Declarative base of the gallery's tables."""


class Person(Base):
    """Someone the system should know by name."""

    __tablename__ = "people"
    __table_args__ = (sa.Index("people_name_key", sa.func.lower(sa.text("name")), unique=True),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text)
    notes: Mapped[str] = mapped_column(sa.Text, server_default="")
    alert: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class Face(Base):
    """One enrollment sample: a person's face, its raw descriptor and the model version that made it."""

    __tablename__ = "faces"
    __table_args__ = (
        sa.Index("faces_person_idx", "person_id"),
        sa.Index(
            "faces_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_ops={"embedding": "vector_cosine_ops"},
            postgresql_with={"m": 32, "ef_construction": 100},
        ),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"))
    embedding: Mapped[Embedding] = mapped_column(Vector(EMBEDDING_DIM))
    model_version: Mapped[int] = mapped_column(sa.Integer)
    crop: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    source_sha256: Mapped[str] = mapped_column(sa.String(64))
    box: Mapped[list[float]] = mapped_column(ARRAY(sa.Float))
    detector_score: Mapped[float] = mapped_column(sa.Float)
    size_px: Mapped[float] = mapped_column(sa.Float)
    sharpness: Mapped[float] = mapped_column(sa.Float)
    origin: Mapped[str] = mapped_column(sa.Text, server_default="upload")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class EmbeddingCentre(Base):
    """Where centroids of one model version are measured from: 0.9 times its mean descriptor (0003)."""

    __tablename__ = "embedding_centres"

    model_version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    origin: Mapped[Embedding] = mapped_column(Vector(EMBEDDING_DIM))
    samples: Mapped[int] = mapped_column(sa.BigInteger)


class PersonCentroid(Base):
    """The mean descriptor of a person's samples of one model version; migration 0003's triggers keep it.
    `centred` (the centroid minus its version's origin) is what the HNSW index holds."""

    __tablename__ = "person_centroids"
    __table_args__ = (
        sa.Index(
            "person_centroids_hnsw",
            "centred",
            postgresql_using="hnsw",
            postgresql_ops={"centred": "vector_cosine_ops"},
            postgresql_with={"m": 32, "ef_construction": 128},
        ),
    )

    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    model_version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    centroid: Mapped[Embedding] = mapped_column(Vector(EMBEDDING_DIM))
    centred: Mapped[Embedding] = mapped_column(Vector(EMBEDDING_DIM))
    samples: Mapped[int] = mapped_column(sa.Integer)


class NegativeSample(Base):
    """ "This is not X": a face that was wrongly taken for a person, so that mistake is not made again."""

    __tablename__ = "negative_samples"
    __table_args__ = (sa.Index("negative_samples_person_idx", "person_id", "model_version"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"))
    embedding: Mapped[Embedding] = mapped_column(Vector(EMBEDDING_DIM))
    model_version: Mapped[int] = mapped_column(sa.Integer)
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("events.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class Visitor(Base):
    """A persistent id for an unknown face seen again and again (incremental clustering)."""

    __tablename__ = "visitors"
    __table_args__ = (
        sa.Index(
            "visitors_centroid_hnsw",
            "centroid",
            postgresql_using="hnsw",
            postgresql_ops={"centroid": "vector_cosine_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    label: Mapped[str] = mapped_column(sa.Text, server_default="")
    # Running mean of the raw descriptors of its faces; `face_count` weighs the next update.
    centroid: Mapped[Embedding] = mapped_column(Vector(EMBEDDING_DIM))
    model_version: Mapped[int] = mapped_column(sa.Integer)
    face_count: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    first_seen: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Event(Base):
    """One sighting: a face (or a whole track of one face) seen by a camera."""

    __tablename__ = "events"
    __table_args__ = (
        # Workers upsert by (camera, track): a redelivered frame updates, never doubles, its event.
        sa.UniqueConstraint("camera_id", "track_id", name="events_camera_track_key"),
        sa.Index("events_seen_idx", "started_at"),
        sa.Index("events_person_idx", "person_id", "started_at"),
        sa.Index("events_visitor_idx", "visitor_id"),
        sa.Index("events_camera_idx", "camera_id", "started_at"),
        sa.Index(
            "events_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    camera_id: Mapped[str] = mapped_column(sa.Text)
    track_id: Mapped[str] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    visitor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visitors.id", ondelete="SET NULL"))
    similarity: Mapped[float | None] = mapped_column(sa.Float)
    distance: Mapped[float | None] = mapped_column(sa.Float)
    age: Mapped[float | None] = mapped_column(sa.Float)
    gender: Mapped[str | None] = mapped_column(sa.Text)
    box: Mapped[list[float]] = mapped_column(ARRAY(sa.Float))
    detector_score: Mapped[float] = mapped_column(sa.Float)
    size_px: Mapped[float] = mapped_column(sa.Float)
    sharpness: Mapped[float] = mapped_column(sa.Float)
    # Biometric data: erasing a person nulls these three (and sets `erased`).
    embedding: Mapped[Embedding | None] = mapped_column(Vector(EMBEDDING_DIM))
    model_version: Mapped[int | None] = mapped_column(sa.Integer)
    snapshot: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    crop: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    labelled: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    erased: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    details: Mapped[dict[str, object]] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


class ApiKey(Base):
    """An API key, stored as an HMAC of the key under the installation's pepper (never in clear)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(sa.Text))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class AuditEntry(Base):
    """One audited action (merge, deletion, API key change, ...) and the API key that did it (0004)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("audit_log_at_idx", "at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    actor_key_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    actor_name: Mapped[str] = mapped_column(sa.Text)
    action: Mapped[str] = mapped_column(sa.Text)
    target: Mapped[str] = mapped_column(sa.Text)
    details: Mapped[dict[str, object]] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


GALLERY_TABLES = (
    "audit_log",
    "negative_samples",
    "person_centroids",
    "embedding_centres",
    "faces",
    "events",
    "visitors",
    "people",
    "api_keys",
)
