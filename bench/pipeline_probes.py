"""Process control and observation for bench/pipeline.py: children, Redis key events, RSS, worker metrics."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
import redis
from prometheus_client.parser import text_string_to_metric_families

from amyplant_queue.frames import TAKEN_SUFFIX
from amyplant_queue.messages import FRAME_KEY_PREFIX

REPO = Path(__file__).resolve().parents[1]
Totals = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Children:
    """The processes this benchmark starts; stop() ends each one (SIGTERM, then SIGKILL)."""

    logs: Path
    environment: dict[str, str]
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, arguments: list[str], extra: dict[str, str] | None = None) -> int:
        log = (self.logs / f"{name}.log").open("wb")
        self.running[name] = subprocess.Popen(
            [sys.executable, "-m", "amyplant.cli", *arguments],
            env={**self.environment, **(extra or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        log.close()
        return self.running[name].pid

    def stop(self, name: str, timeout_s: float = 30) -> int | None:
        process = self.running.pop(name)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(timeout=10)

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


class FrameEvents(threading.Thread):
    """When each frame was stored, handled or dropped, from Redis keyspace notifications: `set` (stored),
    `del` (its worker released it: the taken key went), `dropped` (the capture deleted it untaken),
    `expired` (its TTL ran out), each under the frame's own key."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(name="frame-events", daemon=True)
        client.config_set("notify-keyspace-events", "Eg$x")
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self.pubsub.psubscribe("__keyevent@*__:set", "__keyevent@*__:del", "__keyevent@*__:expired")
        self.times: dict[str, dict[str, float]] = {"set": {}, "del": {}, "dropped": {}, "expired": {}}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            message = self.pubsub.get_message(timeout=0.5)
            if message is None:
                continue
            now = time.monotonic()
            key = bytes(message["data"]).decode()
            if not key.startswith(FRAME_KEY_PREFIX):
                continue
            event = bytes(message["channel"]).decode().rpartition(":")[2]
            if event == "del" and not key.endswith(TAKEN_SUFFIX):
                event = "dropped"  # the capture deleted a frame no worker took (its backlog bound)
            with self.lock:
                self.times[event].setdefault(key.removesuffix(TAKEN_SUFFIX), now)

    def of(self, phase: str, event: str) -> dict[str, float]:
        """Times of one event for the frames of a phase (its cameras are named <phase>-<n>)."""
        prefix = f"{FRAME_KEY_PREFIX}{phase}-"
        with self.lock:
            return {key: t for key, t in self.times[event].items() if key.startswith(prefix)}

    def close(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
        self.pubsub.close()


class Sampler(threading.Thread):
    """Memory and CPU seconds of every watched process tree, every interval.

    Per tree: the largest RSS and the largest anonymous (private) resident memory of its processes. RSS
    also counts shared memory a process has touched (Postgres's shared buffers grow a backend's RSS
    up to their fixed size), so a leak is judged on anonymous memory: RSS minus file and shmem pages.
    """

    def __init__(self, interval_s: float) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.interval_s = interval_s
        self.watched: dict[str, int] = {}
        self.samples: list[tuple[float, str, float, float, float]] = []  # time, name, rss, anon MB; cpu s
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        now = time.monotonic()
        for name, pid in list(self.watched.items()):
            try:
                root = psutil.Process(pid)
                tree = [root, *root.children(recursive=True)]
                memory = [p.memory_info() for p in tree]
                cpu = sum(sum(p.cpu_times()[:2]) for p in tree)
            except psutil.Error:
                continue  # ended between listing and reading
            rss = max(m.rss for m in memory) / 2**20
            anon = max(m.rss - m.shared for m in memory) / 2**20
            self.samples.append((now, name, rss, anon, cpu))

    def peak(self, kind: str) -> float | None:
        values = [sample[2] for sample in self.samples if sample[1].startswith(kind)]
        return round(max(values), 1) if values else None

    def trend(self, start: float, end: float) -> dict[str, dict[str, float]]:
        """Per process over [start, end]: RSS first/last/peak, least-squares growth of RSS and anonymous
        memory over the whole span and slope over its second half, CPU seconds used."""
        series: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
        for moment, name, rss_mb, anon_mb, cpu_s in self.samples:
            if start <= moment <= end:
                series[name].append((moment, rss_mb, anon_mb, cpu_s))
        result = {}
        for name, points in series.items():
            table = np.array(points)
            minutes, rss, anon, cpu = (table[:, 0] - table[0, 0]) / 60, table[:, 1], table[:, 2], table[:, 3]
            late = minutes >= minutes[-1] / 2
            result[name] = {
                "samples": len(minutes),
                "rss_first_mb": round(float(rss[0]), 1),
                "rss_last_mb": round(float(rss[-1]), 1),
                "rss_peak_mb": round(float(rss.max()), 1),
                "rss_growth_mb": round(fitted_growth(minutes, rss), 1),
                "anon_first_mb": round(float(anon[0]), 1),
                "anon_last_mb": round(float(anon[-1]), 1),
                "anon_growth_mb": round(fitted_growth(minutes, anon), 1),
                "anon_late_mb_per_min": round(
                    fitted_growth(minutes[late], anon[late]) / max(float(np.ptp(minutes[late])), 1e-9), 2
                ),
                "cpu_s": round(float(cpu[-1] - cpu[0]), 1),
            }
        return result


def fitted_growth(minutes: np.ndarray, values: np.ndarray) -> float:
    """Growth over the span by a least-squares line (robust to the sawtooth of allocators)."""
    if len(minutes) < 3:
        return 0.0
    return float(np.polyfit(minutes, values, 1)[0] * np.ptp(minutes))


def scrape(ports: list[int]) -> Totals:
    """The workers' Prometheus samples, summed over the workers."""
    totals: Totals = defaultdict(float)
    for port in ports:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                totals[(sample.name, tuple(sorted(sample.labels.items())))] += sample.value
    return totals


def metric(totals: Totals, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, items), v in totals.items() if n == name and wanted <= set(items))


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
