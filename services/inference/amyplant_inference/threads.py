"""A worker's CPU threads: TensorFlow's pools and OpenCV's, set before any model loads."""

from __future__ import annotations

import logging

import cv2

logger = logging.getLogger(__name__)


def limit_threads(threads: int | None, *, in_process_models: bool) -> None:
    """Cap this process at `threads` CPU threads (None: leave every library at its default, all cores).

    Must run before TensorFlow executes anything: its pools are sized once, at the first operation.
    TensorFlow is configured (and imported) only when the models run in this process; a worker that asks
    TF Serving has no TensorFlow pools to size.
    """
    if threads is None:
        return
    cv2.setNumThreads(threads)
    if in_process_models:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        # Our graphs are chains: independent ops rarely run side by side, so one inter-op thread per
        # worker leaves the cores to the intra-op pool (and to the other workers).
        tf.config.threading.set_inter_op_parallelism_threads(1)
    logger.info("worker threads: %d (in-process models: %s)", threads, in_process_models)
