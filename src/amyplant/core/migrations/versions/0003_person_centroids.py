"""Person centroids: the mean descriptor of each person's samples per model version, kept by triggers.

Identification searches these (one row per person, HNSW cosine) instead of every sample, then ranks the
candidate people by the exact distance to their own samples (services/gallery/vectors.py). Statement
triggers on `faces` recompute the centroids of the (person, model version) pairs a statement touched,
so enrollment, deletion, merges, erasure, imports and bulk COPY all keep them right without the
application remembering to.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DIM = 128

REFRESH_FUNCTION = """
create function amyplant_refresh_centroids(touched_people bigint[], touched_versions int[])
returns void language plpgsql as $$
begin
    -- Serialise concurrent enrollments of one person (FOR NO KEY UPDATE does not block inserting faces
    -- that refer to the person); each statement below then sees what the earlier transaction committed.
    perform 1 from people where id = any(touched_people) order by id for no key update;
    delete from person_centroids c
     using unnest(touched_people, touched_versions) as t(person_id, model_version)
     where c.person_id = t.person_id and c.model_version = t.model_version;
    insert into person_centroids (person_id, model_version, centroid, samples)
    select f.person_id, f.model_version, avg(f.embedding), count(*)
      from faces f
      join (select distinct person_id, model_version
              from unnest(touched_people, touched_versions) as t(person_id, model_version)) t
        on f.person_id = t.person_id and f.model_version = t.model_version
     group by f.person_id, f.model_version;
end $$;
"""

TRIGGER_FUNCTION = """
create function amyplant_faces_{name}() returns trigger language plpgsql as $$
declare
    touched_people bigint[];
    touched_versions int[];
begin
    select array_agg(person_id), array_agg(model_version) into touched_people, touched_versions
      from (select distinct person_id, model_version from ({rows}) r) pairs;
    if touched_people is not null then
        perform amyplant_refresh_centroids(touched_people, touched_versions);
    end if;
    return null;
end $$;
"""

# Transition tables allow one event per trigger: one trigger (and function) per event.
TRIGGERS = {
    "inserted": (
        "insert",
        "referencing new table as new_rows",
        "select person_id, model_version from new_rows",
    ),
    "deleted": (
        "delete",
        "referencing old table as old_rows",
        "select person_id, model_version from old_rows",
    ),
    "updated": (
        "update",
        "referencing old table as old_rows new table as new_rows",
        "select person_id, model_version from old_rows union select person_id, model_version from new_rows",
    ),
}


def upgrade() -> None:
    op.create_table(
        "person_centroids",
        sa.Column(
            "person_id", sa.BigInteger, sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("model_version", sa.Integer, primary_key=True),
        sa.Column("centroid", Vector(DIM), nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
    )
    op.execute(
        "create index person_centroids_hnsw on person_centroids "
        "using hnsw (centroid vector_cosine_ops) with (m = 16, ef_construction = 64)"
    )
    op.execute(REFRESH_FUNCTION)
    for name, (event, referencing, rows) in TRIGGERS.items():
        op.execute(TRIGGER_FUNCTION.format(name=name, rows=rows))
        op.execute(
            f"create trigger faces_centroids_{name} after {event} on faces {referencing} "
            f"for each statement execute function amyplant_faces_{name}()"
        )
    op.execute(
        "insert into person_centroids (person_id, model_version, centroid, samples) "
        "select person_id, model_version, avg(embedding), count(*) from faces "
        "group by person_id, model_version"
    )


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"drop trigger faces_centroids_{name} on faces")
        op.execute(f"drop function amyplant_faces_{name}()")
    op.execute("drop function amyplant_refresh_centroids(bigint[], int[])")
    op.drop_table("person_centroids")
