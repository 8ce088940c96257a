"""Matching, negatives, visitors and export/import in SQL on synthetic descriptors (no models needed)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker, undefer

from amyplant_gallery.transfer import export_gallery, import_gallery, read_archive
from amyplant_store import face_samples as face_store
from amyplant_store.database import create_engine
from amyplant_store.errors import GalleryError
from amyplant_store.events import Sighting, upsert_event
from amyplant_store.matching import match_embedding
from amyplant_store.people import create_person, delete_person, merge_people
from amyplant_store.policy import GalleryPolicy
from amyplant_store.tables import (
    Base,
    EmbeddingCentre,
    Event,
    Person,
    PersonCentroid,
    Visitor,
)
from amyplant_store.vectors import nearest_events, nearest_faces
from amyplant_store.visitors import assign_visitor

POLICY = GalleryPolicy()
CROP = b"\xff\xd8\xff\xe0fake-jpeg"


@pytest.fixture
def sessions(clean_gallery: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(clean_gallery, pool_size=1)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def identity(rng: np.random.Generator) -> np.ndarray:
    """A random point at the scale of dlib descriptors (norm about 1.4)."""
    centre = rng.normal(size=128)
    return (1.4 * centre / np.linalg.norm(centre)).astype(np.float32)


def near(centre: np.ndarray, rng: np.random.Generator, distance: float) -> np.ndarray:
    step = rng.normal(size=128)
    return (centre + distance * step / np.linalg.norm(step)).astype(np.float32)


def sample(embedding: np.ndarray, *, version: int = 1, tag: str = "a") -> face_store.SampleData:
    return face_store.SampleData(
        embedding=embedding,
        model_version=version,
        crop_jpeg=CROP,
        source_sha256=tag * 64,
        box=(0.0, 0.0, 100.0, 100.0),
        detector_score=0.9,
        size_px=100.0,
        sharpness=100.0,
    )


def test_the_nearest_person_within_the_threshold_is_the_match(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(1)
    ada, bob = identity(rng), identity(rng)
    with sessions.begin() as session:
        a = create_person(session, name="Ada")
        b = create_person(session, name="Bob")
        face_store.add_face(session, person_id=a.id, sample=sample(near(ada, rng, 0.2), tag="1"))
        face_store.add_face(session, person_id=b.id, sample=sample(near(bob, rng, 0.2), tag="2"))
        match = match_embedding(
            session, embedding=near(ada, rng, 0.2), model_version=1, threshold=0.6, top_k=2, candidates=64
        )
        assert match.person is not None and match.person.name == "Ada"
        assert [c.name for c in match.candidates] == ["Ada", "Bob"]
        assert match.candidates[0].distance < 0.6 < match.candidates[1].distance
        stranger = match_embedding(
            session, embedding=identity(rng), model_version=1, threshold=0.6, top_k=2, candidates=64
        )
        assert stranger.person is None and len(stranger.candidates) == 2


def test_descriptors_of_another_model_version_are_never_compared(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(2)
    ada = identity(rng)
    with sessions.begin() as session:
        person = create_person(session, name="Ada")
        face_store.add_face(session, person_id=person.id, sample=sample(ada, version=2))
        assert (
            match_embedding(
                session, embedding=ada, model_version=1, threshold=0.6, top_k=3, candidates=64
            ).candidates
            == []
        )
        assert nearest_faces(session, embedding=ada, model_version=1, candidates=5) == []
        again = match_embedding(
            session, embedding=ada, model_version=2, threshold=0.6, top_k=3, candidates=64
        )
        assert again.person is not None and again.person.distance < 1e-5


def test_a_negative_closer_than_the_samples_rejects_that_person(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(3)
    ada, lookalike = identity(rng), identity(rng)
    lookalike = (ada + 0.45 * (lookalike - ada) / np.linalg.norm(lookalike - ada)).astype(np.float32)
    with sessions.begin() as session:
        person = create_person(session, name="Ada")
        face_store.add_face(session, person_id=person.id, sample=sample(ada))
        before = match_embedding(
            session, embedding=lookalike, model_version=1, threshold=0.6, top_k=1, candidates=64
        )
        assert before.person is not None and before.person.name == "Ada"
        face_store.add_negative(
            session, person_id=person.id, embedding=near(lookalike, rng, 0.1), model_version=1, event_id=None
        )
        after = match_embedding(
            session,
            embedding=near(lookalike, rng, 0.05),
            model_version=1,
            threshold=0.6,
            top_k=1,
            candidates=64,
        )
        assert after.person is None and after.candidates[0].rejected_by_negative
        own = match_embedding(
            session, embedding=near(ada, rng, 0.1), model_version=1, threshold=0.6, top_k=1, candidates=64
        )
        assert own.person is not None and not own.candidates[0].rejected_by_negative


def test_unknown_faces_cluster_into_persistent_visitors(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(4)
    first, second = identity(rng), identity(rng)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with sessions.begin() as session:
        ids = [
            assign_visitor(
                session,
                embedding=near(centre, rng, 0.25),
                model_version=1,
                seen_at=start + timedelta(minutes=i),
                policy=POLICY,
            ).id
            for i, centre in enumerate([first, first, second, first, second])
        ]
    assert ids[0] == ids[1] == ids[3] and ids[2] == ids[4] and ids[0] != ids[2]
    with sessions.begin() as session:
        later = assign_visitor(
            session,
            embedding=near(first, rng, 0.25),
            model_version=1,
            seen_at=start + timedelta(days=1),
            policy=POLICY,
        )
        assert later.id == ids[0] and later.face_count == 4
        assert later.first_seen == start and later.last_seen == start + timedelta(days=1)
        assert nearest_events(session, embedding=first, model_version=1, candidates=5) == []


def test_export_then_import_restores_people_samples_and_negatives(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(5)
    ada = identity(rng)
    with sessions.begin() as session:
        person = create_person(session, name="Ada", notes="front door")
        face_store.add_face(session, person_id=person.id, sample=sample(ada, tag="1"))
        face_store.add_face(session, person_id=person.id, sample=sample(near(ada, rng, 0.3), tag="2"))
        face_store.add_negative(
            session, person_id=person.id, embedding=identity(rng), model_version=1, event_id=None
        )
        archive = export_gallery(session).read()
        session.delete(person)
    with sessions.begin() as session:
        zipped, people = read_archive(io.BytesIO(archive), archive_bytes=len(archive))
        summary = import_gallery(session, archive=zipped, people=people)
        assert (summary.people_created, summary.faces_added, summary.negatives_added) == (1, 2, 1)
        match = match_embedding(
            session, embedding=ada, model_version=1, threshold=0.6, top_k=1, candidates=64
        )
        assert match.person is not None and match.person.name == "Ada" and match.person.distance < 1e-5
    with sessions.begin() as session:
        zipped, people = read_archive(io.BytesIO(archive), archive_bytes=len(archive))
        twice = import_gallery(session, archive=zipped, people=people)
        assert (twice.people_matched, twice.faces_added, twice.faces_skipped) == (1, 0, 2)


def centroids(session: Session) -> dict[tuple[int, int], tuple[np.ndarray, int]]:
    rows = session.execute(
        sa.select(
            PersonCentroid.person_id,
            PersonCentroid.model_version,
            PersonCentroid.centroid,
            PersonCentroid.samples,
        )
    )
    return {(int(p), int(v)): (np.asarray(c), int(n)) for p, v, c, n in rows}


def test_centroids_follow_enrollment_deletion_and_merges(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(8)
    a1, a2, b1, b_new = (identity(rng) for _ in range(4))
    with sessions.begin() as session:
        ada, bob = create_person(session, name="Ada"), create_person(session, name="Bob")
        face_store.add_face(session, person_id=ada.id, sample=sample(a1, tag="1"))
        second = face_store.add_face(session, person_id=ada.id, sample=sample(a2, tag="2"))
        face_store.add_face(session, person_id=bob.id, sample=sample(b1, tag="3"))
        face_store.add_face(session, person_id=bob.id, sample=sample(b_new, version=2, tag="4"))
        kept = centroids(session)
        # One centroid per person and model version: the mean of exactly those samples.
        assert set(kept) == {(ada.id, 1), (bob.id, 1), (bob.id, 2)}
        np.testing.assert_allclose(kept[(ada.id, 1)][0], (a1 + a2) / 2, atol=1e-6)
        assert kept[(ada.id, 1)][1] == 2
        face_store.delete_face(session, person_id=ada.id, face_id=second.id)
        np.testing.assert_allclose(centroids(session)[(ada.id, 1)][0], a1, atol=1e-6)
        merge_people(session, into_id=ada.id, from_id=bob.id)
        merged = centroids(session)
        assert set(merged) == {(ada.id, 1), (ada.id, 2)}
        np.testing.assert_allclose(merged[(ada.id, 1)][0], (a1 + b1) / 2, atol=1e-6)
        delete_person(session, person_id=ada.id)
        assert centroids(session) == {}


def test_the_origin_is_retaken_as_the_faces_of_a_version_double(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(10)
    faces = [identity(rng) for _ in range(5)]
    seen: list[tuple[int, np.ndarray]] = []
    with sessions.begin() as session:
        person = create_person(session, name="Ada")
        for index, embedding in enumerate(faces):
            face_store.add_face(session, person_id=person.id, sample=sample(embedding, tag=str(index)))
            origin = session.execute(sa.select(EmbeddingCentre.samples, EmbeddingCentre.origin)).one()
            seen.append((int(origin[0]), np.asarray(origin[1])))
        centred = session.scalar(sa.select(PersonCentroid.centred))
    assert centred is not None, "no person_centroids row"
    # Taken from the first face, then retaken at 2 and 4 faces (each doubling), not at 3 or 5.
    assert [count for count, _ in seen] == [1, 2, 2, 4, 4]
    np.testing.assert_allclose(seen[-1][1], 0.9 * np.mean(faces[:4], axis=0), atol=1e-5)
    np.testing.assert_allclose(centred, np.mean(faces, axis=0) - seen[-1][1], atol=1e-5)


def test_a_person_is_found_by_a_sample_far_from_their_centroid(sessions: sessionmaker[Session]) -> None:
    """Candidates come from centroids, but the decision is the distance to the person's own nearest sample."""
    rng = np.random.default_rng(9)
    ada = identity(rng)
    glasses = near(ada, rng, 0.5)
    with sessions.begin() as session:
        person = create_person(session, name="Ada")
        face_store.add_face(session, person_id=person.id, sample=sample(ada, tag="1"))
        face_store.add_face(session, person_id=person.id, sample=sample(glasses, tag="2"))
        for index in range(30):
            other = create_person(session, name=f"other {index}")
            face_store.add_face(session, person_id=other.id, sample=sample(identity(rng), tag="o"))
        probe = near(glasses, rng, 0.2)
        match = match_embedding(
            session, embedding=probe, model_version=1, threshold=0.6, top_k=1, candidates=8
        )
        assert match.person is not None and match.person.name == "Ada"
        assert abs(match.person.distance - float(np.linalg.norm(probe - glasses))) < 1e-4


def sighting(embedding: np.ndarray, *, track: str, seen_at: datetime, **decided: object) -> Sighting:
    return Sighting(
        camera_id="door",
        track_id=track,
        seen_at=seen_at,
        box=(10.0, 20.0, 90.0, 120.0),
        detector_score=0.97,
        size_px=80.0,
        sharpness=55.0,
        embedding=embedding,
        model_version=1,
        age=31.0,
        gender="female",
        snapshot_jpeg=b"\xff\xd8\xff snapshot " + track.encode(),
        crop_jpeg=b"\xff\xd8\xff crop " + track.encode(),
        **decided,  # type: ignore[arg-type]
    )


def test_events_and_visitors_travel_with_the_export(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(6)
    ada, stranger = identity(rng), identity(rng)
    seen = datetime(2026, 3, 1, 20, 14, tzinfo=UTC)
    with sessions.begin() as session:
        person = create_person(session, name="Ada")
        face_store.add_face(session, person_id=person.id, sample=sample(ada, tag="1"))
        upsert_event(
            session, sighting=sighting(near(ada, rng, 0.2), track="t1", seen_at=seen, person_id=person.id)
        )
        visitor = assign_visitor(session, embedding=stranger, model_version=1, seen_at=seen, policy=POLICY)
        upsert_event(session, sighting=sighting(stranger, track="t2", seen_at=seen, visitor_id=visitor.id))
        archive = export_gallery(session).read()
    truncate_tables(sessions)
    with sessions.begin() as session:
        zipped, people = read_archive(io.BytesIO(archive), archive_bytes=len(archive))
        summary = import_gallery(session, archive=zipped, people=people)
        assert (summary.people_created, summary.visitors_created, summary.events_added) == (1, 1, 2)
        events = {e.track_id: e for e in session.scalars(sa.select(Event).options(undefer(Event.snapshot)))}
        ada_id = session.scalar(sa.select(Person.id).where(Person.name == "Ada"))
        visitor_id = session.scalar(sa.select(Visitor.id))
        assert events["t1"].person_id == ada_id and events["t1"].visitor_id is None
        assert events["t2"].visitor_id == visitor_id and events["t2"].person_id is None
        assert events["t2"].snapshot == b"\xff\xd8\xff snapshot t2" and events["t1"].age == 31.0
        assert events["t1"].started_at == seen
        found = nearest_events(session, embedding=stranger, model_version=1, candidates=1)
        assert [n.owner_id for n in found] == [events["t2"].id]
    with sessions.begin() as session:
        zipped, people = read_archive(io.BytesIO(archive), archive_bytes=len(archive))
        twice = import_gallery(session, archive=zipped, people=people)
        assert (twice.visitors_matched, twice.events_added, twice.events_skipped) == (1, 0, 2)
        assert session.scalar(sa.select(sa.func.count()).select_from(Event)) == 2


def test_a_bad_event_line_refuses_the_whole_archive(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        create_person(session, name="Ada")
        archive = export_gallery(session).read()
    rewritten = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(rewritten, "w") as target:
        for name in source.namelist():
            if name != "events.jsonl":
                target.writestr(name, source.read(name))
        target.writestr("events.jsonl", b'{"id": 1, "camera_id": "door"}\n')
    with pytest.raises(GalleryError) as refused:
        read_archive(io.BytesIO(rewritten.getvalue()), archive_bytes=len(rewritten.getvalue()))
    assert refused.value.code == "invalid_archive" and "events.jsonl line 1" in refused.value.message


def truncate_tables(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.execute(sa.text("truncate negative_samples, faces, events, visitors, people cascade"))


def test_the_orm_tables_match_the_migrated_schema(gallery_db: str) -> None:
    engine = create_engine(gallery_db, pool_size=1)
    try:
        inspector = sa.inspect(engine)
        for table in Base.metadata.sorted_tables:
            migrated = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)}
            declared = {c.name: c.nullable for c in table.columns}
            assert migrated == declared, table.name
            indexes = {index["name"] for index in inspector.get_indexes(table.name)}
            assert {index.name for index in table.indexes} <= indexes, table.name
    finally:
        engine.dispose()
