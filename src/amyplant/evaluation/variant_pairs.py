"""Harder verification pairs from a pairs file: each image also as a tight crop, small, turned and dark.

`amyplant eval variant-pairs --pairs CSV --boxes XML --images DIR --out DIR` writes the variants as
image files and `pairs.csv` beside them (every pair of variants of different source images, shuffled
with a fixed seed so that each of the 10 folds holds both kinds). Identities come from the pairs file's
Yes pairs; face boxes (for the crops) from a dlib imglab XML of the same images.
"""

from __future__ import annotations

import csv
import itertools
import random
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from amyplant.evaluation.box_formats import read_dlib_xml
from amyplant.evaluation.formats import read_pairs

SEED = 17
SMALL_FACE_PX = 48  # about the face size of a person a few metres from a 720p camera
TURN_DEGREES = 20.0
DARK_GAMMA = 2.2  # pixel = 255 * (pixel / 255) ** gamma: a dim room
DARK_JPEG_QUALITY = 30

Variant = Callable[[np.ndarray, tuple[float, float, float, float]], np.ndarray]


def _crop(margin: float) -> Variant:
    def crop(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        x1, y1, x2, y2 = box
        grow_x, grow_y = (x2 - x1) * margin, (y2 - y1) * margin
        left, top = max(0, round(x1 - grow_x)), max(0, round(y1 - grow_y))
        right, bottom = min(image.shape[1], round(x2 + grow_x)), min(image.shape[0], round(y2 + grow_y))
        return image[top:bottom, left:right]

    return crop


def _small(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    scale = min(1.0, SMALL_FACE_PX / max(1.0, box[2] - box[0]))
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _turned(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    centre = ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, TURN_DEGREES, 1.0)
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT)


def _dark(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    table = (255.0 * (np.arange(256) / 255.0) ** DARK_GAMMA).round().astype(np.uint8)
    darker = cv2.LUT(image, table)
    ok, encoded = cv2.imencode(".jpg", darker, [cv2.IMWRITE_JPEG_QUALITY, DARK_JPEG_QUALITY])
    if not ok:
        raise ValueError("could not encode the dark variant")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if decoded is None:
        raise ValueError("could not decode the dark variant")
    return np.asarray(decoded)


VARIANTS: dict[str, Variant | None] = {
    "original": None,
    "crop0": _crop(0.0),
    "crop10": _crop(0.10),
    "small": _small,
    "turned": _turned,
    "dark": _dark,
}


def identities(pairs_path: Path, images_dir: Path) -> dict[str, int]:
    """A group number per image: images joined by a Yes pair (directly or through others) share one."""
    group: dict[str, str] = {}

    def root(name: str) -> str:
        group.setdefault(name, name)
        while group[name] != name:
            group[name] = group[group[name]]
            name = group[name]
        return name

    for pair in read_pairs(pairs_path, images_dir):
        x, y = root(str(pair.file_x)), root(str(pair.file_y))
        if pair.same:
            group[x] = y
    roots = sorted({root(name) for name in list(group)})
    return {name: roots.index(root(name)) for name in sorted(group)}


def write_variant_pairs(*, pairs: Path, boxes: Path, images: Path, out: Path) -> Path:
    """Write every variant of every one-face image of `pairs` under `out`, and `out/pairs.csv`."""
    groups = identities(pairs, images)
    face_boxes = {
        str(item.path.resolve()): item.boxes[~item.ignore] for item in read_dlib_xml(boxes, images).images
    }
    written: list[tuple[str, str, int]] = []  # (file, source image, identity)
    for name, identity in groups.items():
        path = Path(name)
        found = face_boxes.get(str(path.resolve()), np.zeros((0, 4)))
        if len(found) != 1:
            continue  # crops need the one face's box
        x1, y1, x2, y2 = (float(v) for v in found[0])
        source = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if source is None:
            raise ValueError(f"cannot read {path}")
        stem = str(path.resolve().relative_to(images.resolve())).replace("/", "__").rsplit(".", 1)[0]
        for label, variant in VARIANTS.items():
            image = source if variant is None else variant(source, (x1, y1, x2, y2))
            target = out / f"{stem}__{label}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), image)
            written.append((target.name, name, identity))
    rows = [
        (a[0], b[0], "Yes" if a[2] == b[2] else "No")
        for a, b in itertools.combinations(written, 2)
        if a[1] != b[1]  # two variants of one photo would be too easy a same-person pair
    ]
    random.Random(SEED).shuffle(rows)
    pairs_out = out / "pairs.csv"
    with pairs_out.open("w", newline="", encoding="utf-8") as handle:
        handle.write(
            f"# {len(written)} variants ({', '.join(VARIANTS)}) of the one-face images of {pairs.name}\n"
        )
        writer = csv.writer(handle)
        writer.writerow(["file_x", "file_y", "Decision"])
        writer.writerows(rows)
    return pairs_out
