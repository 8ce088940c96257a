"""Frame sources: webcams, streams and video files through OpenCV, and folders of images."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class SourceError(RuntimeError):
    """A source could not be opened or stopped yielding frames unexpectedly.

    `permanent` errors (a missing file, an empty folder, a file OpenCV cannot read) will not go away by
    retrying; others (a stream or webcam that is down) may.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def is_local(source: str) -> bool:
    """Whether a source names a file or folder (not a webcam index or a stream URL)."""
    return not source.isdigit() and "://" not in source


def open_frames(source: str, *, realtime: bool) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (seconds since the source started, RGB frame) until the source ends."""
    path = Path(source)
    if path.is_dir():
        return _folder_frames(path)
    if is_local(source) and not path.exists():
        raise SourceError(f"{source!r}: no such file or folder", permanent=True)
    return _video_frames(source, realtime=realtime)


def _folder_frames(folder: Path) -> Iterator[tuple[float, np.ndarray]]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"{folder} holds no images", permanent=True)
    for index, file in enumerate(files):
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            continue  # a broken file in the folder is skipped, not fatal
        yield float(index), cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _video_frames(source: str, *, realtime: bool) -> Iterator[tuple[float, np.ndarray]]:
    target: str | int = int(source) if source.isdigit() else source
    capture = cv2.VideoCapture(target)
    if not capture.isOpened():
        raise SourceError(f"OpenCV could not open {source!r}", permanent=is_local(source))
    is_file = isinstance(target, str) and Path(source).is_file()
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    started = time.monotonic()
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                if is_file:
                    return
                raise SourceError(f"{source!r} stopped delivering frames")
            position = index / fps if (is_file and fps > 0) else time.monotonic() - started
            if is_file and realtime and fps > 0:
                # Play a file at its own rate, as a camera would deliver it.
                delay = started + position - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            index += 1
            yield position, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()
