"""The gallery's decision thresholds, with the measurements that chose their defaults.

Distances are Euclidean between raw dlib descriptors (not normalised), the scale that face_recognition
and dlib document: 0.6 = same person. Measured on ../shared/data with our models (detector v1, embedder
v1), over every labelled face of enroll/, probe/, photos/ and the two video stills (51 same-person pairs,
202 different-person pairs): same-person distances reach 0.534 at most (the blurred video still of
alex-lacamoire against his enroll photo), different-person distances start at 0.688. 0.6 lies inside that
gap (its midpoint is 0.611), so the default stays 0.6, consistent with GallerySettings.match_threshold.
On the same pairs the cosine distance separates as well (same-person <= 0.070, different >= 0.107):
cosine is what the HNSW index ranks by, but the decision is always taken on the Euclidean distance.

Enrollment quality floors, measured by degrading probe photos of obama, kit_harington and biden and
measuring how much their distance to the same person's enroll sample grew:
- face size: shrunk to 48 px it grew by <= 0.03, 36 px up to 0.08, 28 px up to 0.09, 20 px up to 0.17;
  enrollment needs 40 px (recognition takes any size, and reports it).
- sharpness (variance of the Laplacian of the 150 px chip): sharpness 7 (kit, Gaussian blur sigma 4)
  grew it by 0.08, sharpness 4 by 0.14; the real photos score 120-2300 and the blurriest real
  enrollment photo (the video still video/alex-lacamoire.png) 54. Enrollment needs 10.
- duplicates: copies of one photo at other sizes (photos/obama-*.jpg, 240p to 1080p, against
  enroll/obama/obama.jpg) lie 0.06-0.15 from it; two different photos of one person were never closer
  than 0.32. A sample within 0.1 of an existing one adds nothing and is refused as a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass

from amyplant_config.settings import GallerySettings

DEFAULT_TOP_K = 3


@dataclass(frozen=True)
class GalleryPolicy:
    """Thresholds used by enrollment, recognition and visitor clustering."""

    match_threshold: float = 0.6
    min_face_px: float = 40.0
    min_sharpness: float = 10.0
    duplicate_distance: float = 0.1
    # Unknown faces join a visitor when within this distance of its centroid: stricter than naming,
    # because a wrong merge mixes two strangers' histories.
    visitor_threshold: float = 0.5
    # People whose centroids the HNSW index returns for a face; each is then ranked by the exact distance
    # to their own nearest sample (vectors.nearest_people).
    candidates: int = 64
    # Candidates the HNSW scan keeps (hnsw.ef_search, at least `candidates`): bounds recall; see
    # bench/gallery_search.py for the recall and latency it gives.
    ef_search: int = 100
    # Faces copied from a visitor's sightings into a person's samples when the visitor is named.
    visitor_samples: int = 10

    @classmethod
    def from_settings(cls, settings: GallerySettings) -> GalleryPolicy:
        return cls(match_threshold=settings.match_threshold)
