"""Train a candidate, export it, gate it against the served detector, and publish it when it wins."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf

from amyplant_faces.models import repository
from amyplant_faces.models.inprocess import load_serving_function
from amyplant_trainer.export import to_built_model
from amyplant_trainer.fitting import Hyperparameters
from amyplant_trainer.gate import decide, gate_report, score_detector, served_score
from amyplant_trainer.job import Progress, TrainingOutcome, manifest_record, run_training
from amyplant_trainer.split import SplitPlan

logger = logging.getLogger(__name__)


def train_and_publish(
    dataset_dir: Path,
    *,
    repo: Path,
    workdir: Path,
    hyper: Hyperparameters,
    force: bool = False,
    plan: SplitPlan | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    verbose: int = 1,
) -> TrainingOutcome:
    """The whole run; the gate's figures and decision go into the outcome and the published manifest."""
    network, outcome, splits = run_training(
        dataset_dir, workdir, hyper, plan=plan, progress=progress, should_stop=should_stop, verbose=verbose
    )
    if not splits["test"] and not force:
        raise ValueError(
            "the test split is empty: add images (or lower the block size) to gate the candidate"
        )
    built = to_built_model(
        network, size=hyper.size, manifest_extra=manifest_record(outcome, hyper, dataset_dir, splits)
    )
    candidate_dir = outcome.candidate_dir
    shutil.rmtree(candidate_dir, ignore_errors=True)
    tf.saved_model.save(built.module, str(candidate_dir), signatures={"serving_default": built.module.serve})
    candidate = score_detector(load_serving_function(candidate_dir), splits["test"])
    served_version, served = served_score(repo, splits["test"])
    publish, reason = decide(candidate, served, force=force)
    outcome.gate = gate_report(candidate, served, served_version, publish, reason)
    built.figures = {"gate": outcome.gate}
    logger.info("gate: %s", reason)
    if publish:
        path = repository.publish(repo, built=built, builder="amyplant_trainer")
        outcome.published_version = int(path.name)
    return outcome
