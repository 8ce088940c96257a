"""The detector graph of this checkout against the one of an earlier commit, side by side; one JSON line.

Usage: python bench/detector_ab.py [--ref REV] [--repeats N]

Both graphs are built in process from their builder module (the earlier one read with `git show`), then
called alternately on the same 640x480 frames: two photos of ../shared/data with faces, and an empty grey
frame. Figures: median ms per call of each and their ratio, and the faces each finds on the shared clip.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BUILDER = "libs/modelbuild/amyplant_modelbuild/builders/detector.py"
FRAMES = ("probe/obama_and_biden.jpg", "photos/two_people.jpg")


def _module_at(ref: str, folder: Path) -> Any:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:{BUILDER}"], capture_output=True, text=True, check=True
    ).stdout
    path = folder / "detector_at_ref.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("detector_at_ref", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--ref", default="eba10fb", help="the earlier commit (default: before issue 17's views)"
    )
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    import tensorflow as tf

    from amyplant_modelbuild.builders import detector

    data = ROOT / ".." / "shared" / "data"
    with tempfile.TemporaryDirectory() as folder:
        graphs = {
            "before": _module_at(args.ref, Path(folder)).build().module,
            "after": detector.build().module,
        }
    frames = {
        name: cv2.resize(np.asarray(cv2.imread(str(data / name)))[:, :, ::-1], (640, 480)) for name in FRAMES
    }
    frames["empty grey"] = np.full((480, 640, 3), 90, dtype=np.uint8)
    timings: dict[str, Any] = {}
    for name, frame in frames.items():
        tensor = tf.constant(np.ascontiguousarray(frame))
        for graph in graphs.values():
            for _ in range(3):
                graph.serve(tensor)
        spent: dict[str, list[float]] = {key: [] for key in graphs}
        for _ in range(args.repeats):
            for key, graph in graphs.items():
                started = time.perf_counter()
                graph.serve(tensor)
                spent[key].append((time.perf_counter() - started) * 1000.0)
        medians = {key: round(float(np.median(values)), 2) for key, values in spent.items()}
        timings[name] = {**medians, "ratio": round(medians["after"] / medians["before"], 3)}
    faces = dict.fromkeys(graphs, 0)
    capture = cv2.VideoCapture(str(data / "video" / "short_hamilton_clip.mp4"))
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        tensor = tf.constant(np.ascontiguousarray(bgr[:, :, ::-1]))
        for key, graph in graphs.items():
            faces[key] += int(graph.serve(tensor)["boxes"].shape[0])
    capture.release()
    print(json.dumps({"bench": "detector_ab", "ref": args.ref, "ms_640x480": timings, "clip_faces": faces}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
