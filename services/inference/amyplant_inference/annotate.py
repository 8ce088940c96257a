"""The live view: boxes, names, age and gender drawn on a frame."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# RGB colours by identity status: known people green, unknown visitors red, undecided tracks amber.
COLOURS = {"known": (40, 200, 80), "unknown": (230, 50, 40), "pending": (240, 190, 30)}


@dataclass(frozen=True)
class FaceLabel:
    """What to draw for one face."""

    box: tuple[float, float, float, float]
    name: str | None = None  # None: nobody enrolled (or not decided yet)
    status: str = "pending"  # known, unknown or pending
    visitor_id: int | None = None  # the unknown visitor this face was clustered into, when it was
    age: float | None = None
    gender: str | None = None

    def title(self) -> str:
        if self.name:
            return self.name
        if self.visitor_id is not None:
            return f"unknown #{self.visitor_id}"
        return "unknown" if self.status == "unknown" else "..."

    def details(self) -> str:
        parts = []
        if self.age is not None:
            parts.append(f"{round(self.age)} y")
        if self.gender:
            parts.append(self.gender)
        return ", ".join(parts)


def ascii_text(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only: 'José' becomes 'Jose' rather than 'Jos?'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode() or "?"


def draw_faces(image_rgb: np.ndarray, labels: Sequence[FaceLabel]) -> np.ndarray:
    """A copy of the frame with each face's box and a label above it (below, for faces at the top edge)."""
    canvas = np.ascontiguousarray(image_rgb).copy()
    height, width = canvas.shape[:2]
    scale = max(0.4, min(width, height) / 900)  # text stays legible from 320 px to 4K frames
    thickness = max(1, round(scale * 2))
    for label in labels:
        colour = COLOURS.get(label.status, COLOURS["pending"])
        x1, y1, x2, y2 = (round(v) for v in label.box)
        x1, y1 = max(0, min(x1, width - 1)), max(0, min(y1, height - 1))
        x2, y2 = max(0, min(x2, width - 1)), max(0, min(y2, height - 1))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness)
        lines = [ascii_text(label.title())] + ([label.details()] if label.details() else [])
        _draw_text_block(canvas, lines, anchor=(x1, y1, y2), colour=colour, scale=scale, thickness=thickness)
    return canvas


def _draw_text_block(
    canvas: np.ndarray,
    lines: list[str],
    *,
    anchor: tuple[int, int, int],
    colour: tuple[int, int, int],
    scale: float,
    thickness: int,
) -> None:
    font = cv2.FONT_HERSHEY_SIMPLEX
    sizes = [cv2.getTextSize(line, font, scale, thickness)[0] for line in lines]
    line_height = max(h for _, h in sizes) + round(8 * scale)
    block_width = max(w for w, _ in sizes) + round(8 * scale)
    block_height = line_height * len(lines)
    x, top_of_box, bottom_of_box = anchor
    top = top_of_box - block_height if top_of_box - block_height >= 0 else bottom_of_box
    top = min(top, canvas.shape[0] - block_height)
    x = max(0, min(x, canvas.shape[1] - block_width))
    cv2.rectangle(canvas, (x, top), (x + block_width, top + block_height), colour, cv2.FILLED)
    for index, line in enumerate(lines):
        baseline = top + line_height * (index + 1) - round(5 * scale)
        cv2.putText(
            canvas, line, (x + round(4 * scale), baseline), font, scale, (0, 0, 0), thickness, cv2.LINE_AA
        )
