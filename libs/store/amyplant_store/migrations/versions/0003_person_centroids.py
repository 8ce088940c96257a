"""Person centroids: the mean descriptor of each person's samples per model version, kept by triggers.

Identification searches these (one row per person, HNSW cosine) instead of every sample, then ranks the
candidate people by the exact distance to their own samples (amyplant_store/vectors.py). Statement
triggers on `faces` recompute the centroids of the (person, model version) pairs a statement touched,
so enrollment, deletion, merges, erasure, imports and bulk COPY all keep them right without the
application remembering to.

The index is over `centred`: the centroid minus the origin of its model version (embedding_centres:
0.9 times the mean descriptor of that version). Descriptors all lie in one narrow cone, and an HNSW
graph built on angles measured from the origin of the space finds far fewer true neighbours than one
built on angles measured from inside the cone (bench/gallery_search.py and BENCHMARKS.md give the
figures). The 0.9 keeps every centred vector away from zero (cosine is undefined there) when the mean
is one person's. The mean is first taken from the faces present, and retaken each time the faces of
that version double, up to 10,000 faces, after which it is a stable mean of thousands of people.
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

CENTRE_SHRINK = 0.9
# pgvector multiplies vectors element by element (there is no vector * scalar).
SHRINK_VECTOR = f"array_fill({CENTRE_SHRINK}::real, array[{DIM}])::vector"
RECENTRE_UNTIL = 10_000

RECENTRE_FUNCTION = f"""
create function amyplant_recentre(version int) returns void language plpgsql as $$
begin
    update embedding_centres c
       set origin = a.mean * {SHRINK_VECTOR}, samples = a.samples
      from (select avg(embedding) as mean, count(*) as samples from faces where model_version = version) a
     where c.model_version = version and a.samples > 0;
    update person_centroids p
       set centred = p.centroid - c.origin
      from embedding_centres c
     where c.model_version = version and p.model_version = version;
end $$;
"""

REFRESH_FUNCTION = f"""
create function amyplant_refresh_centroids(touched_people bigint[], touched_versions int[])
returns void language plpgsql as $$
begin
    -- Serialise concurrent enrollments of one person (FOR NO KEY UPDATE does not block inserting faces
    -- that refer to the person); each statement below then sees what the earlier transaction committed.
    perform 1 from people where id = any(touched_people) order by id for no key update;
    insert into embedding_centres (model_version, origin, samples)
    select model_version, avg(embedding) * {SHRINK_VECTOR}, count(*) from faces
     where model_version = any(touched_versions)
     group by model_version
        on conflict (model_version) do nothing;
    delete from person_centroids c
     using unnest(touched_people, touched_versions) as t(person_id, model_version)
     where c.person_id = t.person_id and c.model_version = t.model_version;
    insert into person_centroids (person_id, model_version, centroid, centred, samples)
    select a.person_id, a.model_version, a.centroid, a.centroid - c.origin, a.samples
      from (select f.person_id, f.model_version, avg(f.embedding) as centroid, count(*) as samples
              from faces f
              join (select distinct person_id, model_version
                      from unnest(touched_people, touched_versions) as t(person_id, model_version)) t
                on f.person_id = t.person_id and f.model_version = t.model_version
             group by f.person_id, f.model_version) a
      join embedding_centres c on c.model_version = a.model_version;
    perform amyplant_recentre(c.model_version)
       from embedding_centres c
      where c.model_version = any(touched_versions) and c.samples < {RECENTRE_UNTIL}
        and (select count(*) from faces f where f.model_version = c.model_version) >= 2 * c.samples;
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
        "embedding_centres",
        sa.Column("model_version", sa.Integer, primary_key=True),
        sa.Column("origin", Vector(DIM), nullable=False),
        sa.Column("samples", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "person_centroids",
        sa.Column(
            "person_id", sa.BigInteger, sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("model_version", sa.Integer, primary_key=True),
        sa.Column("centroid", Vector(DIM), nullable=False),
        sa.Column("centred", Vector(DIM), nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
    )
    op.execute(
        "create index person_centroids_hnsw on person_centroids "
        "using hnsw (centred vector_cosine_ops) with (m = 32, ef_construction = 128)"
    )
    op.execute(RECENTRE_FUNCTION)
    op.execute(REFRESH_FUNCTION)
    for name, (event, referencing, rows) in TRIGGERS.items():
        op.execute(TRIGGER_FUNCTION.format(name=name, rows=rows))
        op.execute(
            f"create trigger faces_centroids_{name} after {event} on faces {referencing} "
            f"for each statement execute function amyplant_faces_{name}()"
        )
    # Existing samples: one statement touching every (person, version) pair builds centres and centroids.
    op.execute(
        "select amyplant_refresh_centroids(array_agg(person_id), array_agg(model_version)) "
        "from (select distinct person_id, model_version from faces) pairs having count(*) > 0"
    )


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"drop trigger faces_centroids_{name} on faces")
        op.execute(f"drop function amyplant_faces_{name}()")
    op.execute("drop function amyplant_refresh_centroids(bigint[], int[])")
    op.execute("drop function amyplant_recentre(int)")
    op.drop_table("person_centroids")
    op.drop_table("embedding_centres")
