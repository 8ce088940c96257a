"""Trainer quality pooled over several split seeds: every run's candidate and the served detector on that
run's own test frames, all pooled into one AP (a figure that one 60-frame test split cannot give).

Usage: python bench/trainer_quality_pooled.py WORKDIR [WORKDIR ...] [--output FILE]

Each WORKDIR is one finished `bench/trainer_quality.py --workdir` run (its frames/test with dlib's boxes,
its candidate/, its repo/ linking the served detector). A frame that is in the test split of several
runs counts once per run, each time scored by the candidate that never trained on it. No timing: the
runs' own --rescore passes give the time ratios.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from trainer_quality import predictions, truth_boxes


def pooled_scores(workdirs: list[Path]) -> dict[str, Any]:
    from amyplant_faces.detection_metrics import average_precision
    from amyplant_faces.models.inprocess import load_serving_function
    from amyplant_trainer.datasets import load_dataset
    from amyplant_trainer.gate import strict_average_precision

    pooled: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"served": [], "trained": []}
    truths: list[np.ndarray] = []
    for workdir in workdirs:
        test = list(load_dataset(workdir / "frames" / "test").annotations)
        truths += truth_boxes(test)
        pooled["served"] += predictions(load_serving_function(workdir / "repo" / "face_detector" / "1"), test)
        pooled["trained"] += predictions(load_serving_function(workdir / "candidate"), test)
    report: dict[str, Any] = {"frames": len(truths), "faces": int(sum(len(t) for t in truths))}
    for name, found in pooled.items():
        # Scored as the gate scores one split (score_detector), plus the looser IoU 0.3.
        ap_50, ap_50_to_75 = strict_average_precision(found, truths)
        report[name] = {
            "ap_30": round(float(average_precision(found, truths, iou_threshold=0.3)), 4),
            "ap_50": round(ap_50, 4),
            "ap_50_to_75": round(ap_50_to_75, 4),
        }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workdirs", type=Path, nargs="+")
    parser.add_argument("--output", type=Path, help="where the JSON line is saved (default: printed only)")
    args = parser.parse_args()
    missing = [str(w) for w in args.workdirs if not (w / "candidate").is_dir()]
    if missing:
        raise SystemExit(f"no candidate in {', '.join(missing)}: run bench/trainer_quality.py there first")
    report = {
        "bench": "trainer_quality_pooled",
        "workdirs": [w.name for w in args.workdirs],
        **pooled_scores(args.workdirs),
    }
    line = json.dumps(report)
    print(line)
    if args.output:
        args.output.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
