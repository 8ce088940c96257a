"""Face chips for model tests: dlib's own chip pipeline on the shared images, or generated stand-ins."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amyplant_modelbuild.builders.check_images import images_under, read_rgb
from amyplant_modelbuild.builders.embedder_check import DlibChipper, generated_chips


def face_chips(images: list[Path], *, size: int, padding: float) -> np.ndarray:
    """Every face dlib's HOG detector finds in `images`, aligned by get_face_chip: [N, size, size, 3]."""
    chipper = DlibChipper(size=size, padding=padding)
    chips = [chip for path in images for chip in chipper.chips(read_rgb(path))]
    if not chips:
        raise ValueError(f"no faces found in {[str(p) for p in images]}")
    return np.stack(chips)


def probe_chips(shared_data: Path, *, size: int, padding: float) -> np.ndarray:
    """The faces of the probe images (7 faces in the shared data)."""
    return face_chips(images_under(shared_data / "probe"), size=size, padding=padding)


def tiled(chips: np.ndarray, count: int) -> np.ndarray:
    """`count` chips, repeating the given ones (for batch timings with few real faces)."""
    return chips[np.arange(count) % len(chips)]


def synthetic_chips(count: int, *, size: int, seed: int = 0) -> np.ndarray:
    """Noise and smooth synthetic chips, for runs without shared data."""
    return np.stack(generated_chips(count, seed, size).chips)
