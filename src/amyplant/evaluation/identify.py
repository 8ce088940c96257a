"""`amyplant eval identify`: enroll people from folders, then name every face in labelled probe images."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from amyplant.evaluation.engines import FaceEngine, descriptor_distance, largest_face, load_image
from amyplant.evaluation.formats import IdentityLabel
from amyplant.evaluation.metrics import ProbeScore, score_probe
from amyplant.evaluation.report import Row, table

ROWS = (
    Row("probe images", "probes", "count"),
    Row("people enrolled", "people", "count"),
    Row("enroll photos refused", "enroll_failed", "count"),
    Row("expected faces", "expected", "count"),
    Row("faces found", "found", "count"),
    Row("correct", "correct", "count"),
    Row("wrong (named as someone else)", "wrong", "count"),
    Row("unknown", "unknown", "count"),
    Row("missed", "missed", "count"),
    Row("median ms / probe", "ms_median", "ms"),
)
PROBE_COLUMNS = ("expected", "found", "correct", "wrong", "unknown", "missed")


class Gallery(Protocol):
    """Enrolled people and the naming of faces, as one face system does it; it reads the photos itself."""

    def enroll(self, person: str, photo: Path) -> str | None:
        """Add one photo of a person; None when enrolled, else the reason it was not."""

    def identify(self, photo: Path, listed_in: Path, line: int) -> list[str | None]:
        """A name (None: unknown) for every face found in the photo."""


class InMemoryGallery:
    """Nearest enrolled descriptor within the engine's threshold (face_recognition's own recipe); the
    largest face of each enroll photo is enrolled."""

    def __init__(self, engine: FaceEngine) -> None:
        self.engine = engine
        self._names: list[str] = []
        self._descriptors: list[np.ndarray] = []

    def enroll(self, person: str, photo: Path) -> str | None:
        face = largest_face(self.engine.faces(load_image(photo, photo.parent)))
        if face is None:
            return "no_face"
        self._names.append(person)
        self._descriptors.append(face.embedding)
        return None

    def identify(self, photo: Path, listed_in: Path, line: int) -> list[str | None]:
        faces = self.engine.faces(load_image(photo, listed_in, line))
        return [self._name(face.embedding) for face in faces]

    def _name(self, descriptor: np.ndarray) -> str | None:
        if not self._descriptors:
            return None
        distances = [descriptor_distance(descriptor, known) for known in self._descriptors]
        best = int(np.argmin(distances))
        return self._names[best] if distances[best] <= self.engine.threshold else None


@dataclass(frozen=True)
class ProbeResult:
    """One probe image: who is in it, what the faces were named, and the score."""

    file: Path
    expected: tuple[str, ...]
    named: tuple[str | None, ...]
    score: ProbeScore

    def as_json(self) -> dict[str, Any]:
        return {
            "file": str(self.file),
            "expected": list(self.expected),
            "named": list(self.named),
            **self.score.__dict__,
        }


def _enroll(gallery: Gallery, people: dict[str, list[Path]]) -> list[dict[str, str]]:
    """Enroll every photo; the photos that were refused are returned with the reason."""
    failed = []
    for person, photos in people.items():
        for photo in photos:
            reason = gallery.enroll(person, photo)
            if reason is not None:
                failed.append({"file": str(photo), "reason": reason})
    return failed


def evaluate_identification(
    engines: Sequence[FaceEngine],
    galleries: Sequence[Gallery],
    people: dict[str, list[Path]],
    labels: Sequence[IdentityLabel],
    labels_path: Path,
) -> dict[str, dict[str, Any]]:
    """Per engine: totals, `probes` with each probe's result, and the enroll photos that had no face."""
    systems = list(zip(engines, galleries, strict=True))
    failed = {engine.name: _enroll(gallery, people) for engine, gallery in systems}
    results: dict[str, list[ProbeResult]] = {engine.name: [] for engine in engines}
    timings: dict[str, list[float]] = {engine.name: [] for engine in engines}
    for label in labels:
        for engine, gallery in systems:
            started = time.perf_counter()
            named = tuple(gallery.identify(label.file, labels_path, label.line))
            timings[engine.name].append((time.perf_counter() - started) * 1000.0)
            results[engine.name].append(
                ProbeResult(label.file, label.identities, named, score_probe(label.identities, named))
            )
    columns: dict[str, dict[str, Any]] = {}
    for engine in engines:
        total = sum((r.score for r in results[engine.name]), ProbeScore(0, 0, 0, 0, 0, 0))
        columns[engine.name] = {
            "probes": len(labels),
            "people": len(people),
            "enroll_failed": len(failed[engine.name]),
            **total.__dict__,
            "ms_median": float(np.median(timings[engine.name])) if timings[engine.name] else None,
            "enroll_failed_files": failed[engine.name],
            "probe_results": [result.as_json() for result in results[engine.name]],
        }
    return columns


def render(columns: dict[str, dict[str, Any]]) -> str:
    parts = [_probe_table(name, figures["probe_results"]) for name, figures in columns.items()]
    parts.append(table("identification", ROWS, columns))
    return "\n\n".join(parts)


def _probe_table(engine: str, probes: list[dict[str, Any]]) -> str:
    header = ["probe", *PROBE_COLUMNS, "named as"]
    rows = [
        [
            Path(p["file"]).name,
            *(str(p[key]) for key in PROBE_COLUMNS),
            ", ".join(name or "unknown" for name in p["named"]) or "-",
        ]
        for p in probes
    ]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    lines = [f"{engine}: per probe"]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    ]
    return "\n".join(lines)
