"""Datasets: folders of images with LabelMe JSON beside them; listing, validating, hashing, pre-annotating."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2

from amyplant_faces.models.client import ModelClient
from amyplant_trainer.labelme import (
    Annotation,
    AnnotationError,
    FaceBox,
    annotation_path,
    read_annotation,
    write_annotation,
)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class DatasetError(ValueError):
    """The dataset folder is unusable; the message lists the files and problems."""


@dataclass(frozen=True)
class Dataset:
    """The validated annotations of a folder, in file-name order (collection mode names files by time)."""

    root: Path
    annotations: tuple[Annotation, ...]

    @property
    def faces(self) -> int:
        return sum(len(a.faces) for a in self.annotations)

    def content_hash(self) -> str:
        """sha256 over every image and annotation, so a manifest names exactly what a model learned from."""
        digest = hashlib.sha256()
        for annotation in self.annotations:
            digest.update(annotation.image_path.name.encode())
            digest.update(hashlib.sha256(annotation.image_path.read_bytes()).digest())
            digest.update(hashlib.sha256(annotation_path(annotation.image_path).read_bytes()).digest())
        return digest.hexdigest()


def list_images(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    return sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_dataset(root: Path, *, allow_unannotated: bool = False) -> Dataset:
    """Read every annotation; collect all problems and raise them together, to be fixed at once."""
    annotations: list[Annotation] = []
    problems: list[str] = []
    images = list_images(root)
    if not images:
        raise DatasetError(f"{root}: no images")
    for image in images:
        json_path = annotation_path(image)
        if not json_path.exists():
            if not allow_unannotated:
                problems.append(f"{image}: no annotation (run `amyplant dataset annotate {root}`)")
            continue
        try:
            annotations.append(read_annotation(json_path))
        except AnnotationError as error:
            problems.append(str(error))
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DatasetError(f"{len(problems)} problem(s) in {root}:\n  {shown}{more}")
    return Dataset(root=root, annotations=tuple(annotations))


def pre_annotate(root: Path, models: ModelClient, *, overwrite: bool = False, min_score: float = 0.5) -> int:
    """Write LabelMe JSON from the served detector beside each image, so a person only corrects boxes."""
    written = 0
    for image_path in list_images(root):
        if annotation_path(image_path).exists() and not overwrite:
            continue
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if image is None:
            continue  # not decodable: load_dataset will not see it either, since it has no annotation
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        faces = [
            FaceBox(*detection.box, landmarks=detection.landmarks)
            for detection in models.detect(rgb)
            if detection.score >= min_score
        ]
        write_annotation(
            Annotation(image_path=image_path, width=rgb.shape[1], height=rgb.shape[0], faces=faces)
        )
        written += 1
    return written
