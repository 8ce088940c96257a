"""Alert signatures: HMAC-SHA256 over the raw body, checked in constant time; alert ids survive redos."""

from __future__ import annotations

import hashlib
import hmac
import json

import numpy as np
import pytest

from amyplant_inference.alerts import Alert, AlertKind, sign_body, verify_signature
from amyplant_inference.tracking import FaceInput, MatchCandidate, Tracker

SECRET = "a-long-random-webhook-secret"


def test_signature_is_hmac_sha256_of_the_raw_body_in_hex() -> None:
    body = b'{"kind":"unknown_visitor","camera_id":"door"}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign_body(SECRET, body) == f"sha256={expected}"


@pytest.mark.parametrize(
    ("body", "secret", "header_of"),
    [
        (b'{"a":2}', SECRET, b'{"a":1}'),  # body changed after signing
        (b'{"a":1}', "another-secret", b'{"a":1}'),  # signed with another key
    ],
)
def test_a_tampered_body_or_a_wrong_key_fails_verification(
    body: bytes, secret: str, header_of: bytes
) -> None:
    header = sign_body(SECRET, header_of)
    assert not verify_signature(secret, body, header)


def test_verification_accepts_the_real_signature_and_refuses_a_missing_one() -> None:
    body = b'{"a":1}'
    assert verify_signature(SECRET, body, sign_body(SECRET, body))
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, "sha256=" + "0" * 64)


def _tracker_seeing(person: str | None) -> Tracker:
    tracker = Tracker.new("door")
    embedding = np.full(128, 0.05, dtype=np.float32)
    for index in range(3):
        face = FaceInput(
            box=(10.0, 10.0, 90.0, 90.0),
            embedding=embedding,
            size_px=80.0,
            sharpness=200.0,
            score=0.9,
            candidate=MatchCandidate(person, distance=0.3 if person else 0.9),
            age=41.0,
            female_probability=0.9,
        )
        tracker.update(run_id="run1", sequence=index, timestamp=10.0 + index / 5, faces=[face])
    return tracker


def test_an_alert_built_from_a_track_is_the_same_on_a_redo() -> None:
    first = _tracker_seeing(None).end_all()[0]
    again = _tracker_seeing(None).end_all()[0]
    alert = Alert.for_track(first, AlertKind.UNKNOWN_VISITOR, camera_name="Front door")
    assert alert.alert_id == Alert.for_track(again, AlertKind.UNKNOWN_VISITOR).alert_id
    body = json.loads(alert.body())
    assert body["kind"] == "unknown_visitor" and body["camera_name"] == "Front door"
    assert body["gender"] == "female" and body["age"] == pytest.approx(41.0)
    assert body["event_id"] == first.event_id and body["person_id"] is None


def test_a_different_subject_gives_a_different_alert_id() -> None:
    report = _tracker_seeing("person-1").end_all()[0]
    flagged = Alert.for_track(report, AlertKind.FLAGGED_PERSON)
    assert flagged.person_id == "person-1"
    assert flagged.alert_id != Alert.make_id(report.event_id, AlertKind.FLAGGED_PERSON, "person-2")
