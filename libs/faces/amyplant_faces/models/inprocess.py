"""Runs the repository's SavedModels inside this process, switching versions like TensorFlow Serving."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amyplant_faces.models import repository
from amyplant_faces.models.client import (
    SERVING_SIGNATURE,
    ModelClient,
    ModelNotFound,
    ModelServerError,
    ModelStatus,
    ModelVersionState,
    RuntimeStatus,
)
from amyplant_faces.models.spec import MODEL_NAMES

log = logging.getLogger(__name__)

# Explicitly requested (pinned) versions kept loaded per model besides the newest.
PINNED_CACHE_SIZE = 2


class LoadedVersion:
    """One SavedModel version loaded once; calling it runs serving_default on named numpy inputs."""

    def __init__(self, path: Path, *, version: int) -> None:
        import tensorflow as tf

        self.path = path
        self.version = version
        # The loaded object owns the variables that the signature reads: keep it alive with the function.
        self._loaded: Any = tf.saved_model.load(str(path))
        self._signatures: Any = self._loaded.signatures
        self._tf: Any = tf

    def __call__(
        self, inputs: Mapping[str, np.ndarray], signature: str = SERVING_SIGNATURE
    ) -> dict[str, np.ndarray]:
        if signature not in self._signatures:
            raise ValueError(f"{self.path} has no signature {signature!r}")
        tensors = {name: self._tf.convert_to_tensor(value) for name, value in inputs.items()}
        try:
            outputs = self._signatures[signature](**tensors)
        except (TypeError, ValueError, self._tf.errors.InvalidArgumentError) as error:
            raise ValueError(f"{self.path} rejected the inputs: {error}") from error
        return {name: tensor.numpy() for name, tensor in outputs.items()}


def load_serving_function(path: Path) -> Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]:
    """A SavedModel directory's serving_default as a function of named numpy arrays (for checks)."""
    return LoadedVersion(path, version=int(path.name) if path.name.isdigit() else 0)


@dataclass
class _ModelSlot:
    """What the runtime holds for one model; `lock` guards the fields, `loading` serialises loads."""

    name: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    loading: threading.Lock = field(default_factory=threading.Lock)
    current: LoadedVersion | None = None
    checked_at: float = float("-inf")
    pinned: OrderedDict[int, LoadedVersion] = field(default_factory=OrderedDict)
    failed: dict[int, tuple[int, str]] = field(default_factory=dict)  # version -> (mtime_ns, error)


class InProcessRuntime(ModelClient):
    """Serves the newest version of each model from a repository, or a requested one.

    Every `poll_interval_s` at most, a request lists the model's versions; when a newer version (or,
    after a rollback, an older newest) is there, it is loaded first and then swapped in, while other
    threads keep using the version they hold. A version that fails to load is skipped until its
    saved_model.pb changes, as TensorFlow Serving does.
    """

    def __init__(self, repository_dir: Path, *, poll_interval_s: float = 2.0) -> None:
        self._repo = repository_dir
        self._poll_interval_s = poll_interval_s
        self._slots_lock = threading.Lock()
        self._slots: dict[str, _ModelSlot] = {}

    @property
    def address(self) -> str:
        return f"in-process:{self._repo}"

    def predict(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: int | None = None,
        signature: str = SERVING_SIGNATURE,
    ) -> dict[str, np.ndarray]:
        slot = self._slot(model)
        loaded = self._newest(slot) if version is None else self._pinned(slot, version)
        return loaded(inputs, signature)

    def warm_up(self) -> None:
        for name in MODEL_NAMES:
            self._newest(self._slot(name))

    def close(self) -> None:
        with self._slots_lock:
            self._slots.clear()

    def status(self) -> RuntimeStatus:
        names = list(MODEL_NAMES)
        with self._slots_lock:
            names += [name for name in self._slots if name not in names]
        return RuntimeStatus(
            backend="in-process", address=self.address, models=tuple(self._model_status(n) for n in names)
        )

    def _model_status(self, name: str) -> ModelStatus:
        with self._slots_lock:
            slot = self._slots.get(name)
        loaded: set[int] = set()
        failed: dict[int, str] = {}
        if slot is not None:
            with slot.lock:
                loaded = {v.version for v in [slot.current, *slot.pinned.values()] if v is not None}
                failed = {version: error for version, (_mtime, error) in slot.failed.items()}
        states = []
        for version in repository.list_versions(self._repo, name=name):
            if version in failed:
                states.append(ModelVersionState(version, "FAILED", failed[version]))
            else:
                states.append(ModelVersionState(version, "AVAILABLE" if version in loaded else "LOADABLE"))
        error = "" if states else f"no versions under {repository.model_dir(self._repo, name=name)}"
        return ModelStatus(name=name, versions=tuple(states), error=error)

    def _slot(self, name: str) -> _ModelSlot:
        with self._slots_lock:
            slot = self._slots.get(name)
            if slot is None:
                slot = self._slots[name] = _ModelSlot(name)
            return slot

    def _newest(self, slot: _ModelSlot) -> LoadedVersion:
        with slot.lock:
            current = slot.current
            if current is not None and time.monotonic() - slot.checked_at < self._poll_interval_s:
                return current
        # Only one thread looks for (and loads) a new version; the others keep serving the current one.
        if not slot.loading.acquire(blocking=current is None):
            assert current is not None
            return current
        try:
            return self._refresh(slot)
        finally:
            slot.loading.release()

    def _refresh(self, slot: _ModelSlot) -> LoadedVersion:
        with slot.lock:
            current = slot.current
            if current is not None and time.monotonic() - slot.checked_at < self._poll_interval_s:
                return current  # another thread refreshed while this one waited
        versions = repository.list_versions(self._repo, name=slot.name)
        if not versions:
            with slot.lock:
                slot.current = None
            raise ModelNotFound(slot.name, self.address)
        loaded = None
        # The newest version that loads wins; an older one only serves while newer ones fail.
        for version in reversed(versions):
            loaded = (
                current if current is not None and current.version == version else self._load(slot, version)
            )
            if loaded is not None:
                break
        if loaded is None:
            with slot.lock:
                errors = "; ".join(f"version {v}: {e}" for v, (_m, e) in sorted(slot.failed.items()))
            raise ModelServerError(f"{slot.name}: no version under {self._repo} could be loaded ({errors})")
        with slot.lock:
            if current is not loaded:
                log.info("%s: now serving version %d from %s", slot.name, loaded.version, loaded.path)
            slot.current = loaded
            slot.checked_at = time.monotonic()
            for stale in [v for v in slot.pinned if v not in versions]:
                del slot.pinned[stale]
        return loaded

    def _pinned(self, slot: _ModelSlot, version: int) -> LoadedVersion:
        with slot.lock:
            if slot.current is not None and slot.current.version == version:
                return slot.current
            cached = slot.pinned.get(version)
            if cached is not None:
                slot.pinned.move_to_end(version)
                return cached
        with slot.loading:
            if version not in repository.list_versions(self._repo, name=slot.name):
                raise ModelNotFound(slot.name, self.address, version=version)
            loaded = self._load(slot, version)
            if loaded is None:
                with slot.lock:
                    error = slot.failed[version][1]
                raise ModelServerError(f"{slot.name} version {version} failed to load: {error}")
            with slot.lock:
                slot.pinned[version] = loaded
                while len(slot.pinned) > PINNED_CACHE_SIZE:
                    slot.pinned.popitem(last=False)
        return loaded

    def _load(self, slot: _ModelSlot, version: int) -> LoadedVersion | None:
        """Load one version, or None when it failed (now or before, with the same files)."""
        path = repository.version_dir(self._repo, name=slot.name, version=version)
        try:
            mtime = (path / repository.SAVED_MODEL_NAME).stat().st_mtime_ns
        except OSError as error:
            self._record_failure(slot, version, mtime=0, error=str(error))
            return None
        with slot.lock:
            previous = slot.failed.get(version)
        if previous is not None and previous[0] == mtime:
            return None
        try:
            loaded = LoadedVersion(path, version=version)
        except Exception as error:  # TF raises many kinds; any of them means "not servable"
            log.error("%s: version %d at %s failed to load: %s", slot.name, version, path, error)
            self._record_failure(slot, version, mtime=mtime, error=str(error))
            return None
        with slot.lock:
            slot.failed.pop(version, None)
        return loaded

    @staticmethod
    def _record_failure(slot: _ModelSlot, version: int, *, mtime: int, error: str) -> None:
        with slot.lock:
            slot.failed[version] = (mtime, error)
