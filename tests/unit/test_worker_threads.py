"""Workers share the cores: the usable cores (affinity, container quota), each worker's share, and the
thread limits applied to TensorFlow and OpenCV before the models load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from amyplant_config.cores import usable_cores, worker_threads

AFFINITY = len(os.sched_getaffinity(0))


def test_a_container_quota_lowers_the_usable_cores(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert usable_cores(cpu_max=cpu_max) == AFFINITY
    cpu_max.write_text("50000 100000\n")  # half a core: still one
    assert usable_cores(cpu_max=cpu_max) == 1
    cpu_max.write_text(f"{(AFFINITY + 4) * 100000} 100000\n")  # a quota above the affinity: affinity
    assert usable_cores(cpu_max=cpu_max) == AFFINITY
    assert usable_cores(cpu_max=tmp_path / "absent") == AFFINITY


def test_each_worker_gets_its_share_and_at_least_one() -> None:
    assert worker_threads(1, cores=2) == 2
    assert worker_threads(2, cores=2) == 1
    assert worker_threads(3, cores=2) == 1
    assert worker_threads(4, cores=16) == 4
    assert worker_threads(0, cores=4) == 4


def test_the_threads_setting_reaches_tensorflow_and_opencv() -> None:
    # A fresh interpreter: TensorFlow sizes its pools once, so the test process's own TF cannot tell.
    script = """
import cv2, tensorflow as tf
from amyplant_config.settings import WorkerSettings
from amyplant_inference.threads import limit_threads
settings = WorkerSettings()
limit_threads(settings.threads, in_process_models=True)
tf.constant(1.0) + 1.0
print(settings.threads, tf.config.threading.get_intra_op_parallelism_threads(),
      tf.config.threading.get_inter_op_parallelism_threads(), cv2.getNumThreads())
"""
    environment = {**os.environ, "AMYPLANT_WORKER_THREADS": "1", "AMYPLANT_ENVIRONMENT": "development"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-4:] == ["1", "1", "1", "1"]
