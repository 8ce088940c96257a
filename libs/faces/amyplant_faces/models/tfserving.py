"""A TensorFlow Serving client over gRPC (grpc://host:port) or REST (http(s)://host:port)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import numpy as np

from amyplant_faces.models.client import (
    OUTPUT_SHAPES,
    SERVING_SIGNATURE,
    ModelClient,
    ModelNotFound,
    ModelServerError,
    ModelServerUnavailable,
    ModelStatus,
    ModelVersionState,
    RuntimeStatus,
)
from amyplant_faces.models.spec import MODEL_NAMES
from amyplant_faces.models.tensor_proto import ndarray_to_proto, proto_to_ndarray

log = logging.getLogger(__name__)

# A 1080p RGB frame is 6 MB, over gRPC's 4 MB default; TF Serving itself accepts up to 2 GB.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024

T = TypeVar("T")


class _Transient(Exception):
    """A failure worth retrying: the server is not reachable or says it is unavailable."""


class _Transport(Protocol):
    def predict(
        self, model: str, inputs: Mapping[str, np.ndarray], version: int | None, signature: str
    ) -> dict[str, np.ndarray]: ...

    def model_status(self, model: str) -> ModelStatus: ...

    def close(self) -> None: ...


class TFServingClient(ModelClient):
    """Talks to TensorFlow Serving; the URL scheme picks gRPC (grpc://) or REST (http://, https://).

    Calls that find the server unreachable or UNAVAILABLE are retried `retries` times with exponential
    backoff starting at `backoff_s`; then ModelServerUnavailable is raised. A call that gets no answer
    within `timeout_s` raises ModelServerUnavailable at once, and a missing model or version raises
    ModelNotFound; both name the model server's address.
    """

    def __init__(
        self, url: str, *, timeout_s: float = 10.0, retries: int = 3, backoff_s: float = 0.1
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("grpc", "http", "https") or not parts.hostname or parts.port is None:
            raise ValueError(f"model server URL must be grpc://host:port or http(s)://host:port, got {url!r}")
        self._url = url
        self._retries = retries
        self._backoff_s = backoff_s
        self._transport: _Transport
        if parts.scheme == "grpc":
            self._transport = _GrpcTransport(parts.netloc, address=url, timeout_s=timeout_s)
        else:
            self._transport = _RestTransport(f"{parts.scheme}://{parts.netloc}", timeout_s=timeout_s)

    @property
    def address(self) -> str:
        return self._url

    def predict(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: int | None = None,
        signature: str = SERVING_SIGNATURE,
    ) -> dict[str, np.ndarray]:
        return self._with_retries(lambda: self._transport.predict(model, inputs, version, signature))

    def status(self) -> RuntimeStatus:
        models = tuple(self._model_status(name) for name in MODEL_NAMES)
        return RuntimeStatus(backend="tensorflow-serving", address=self._url, models=models)

    def close(self) -> None:
        self._transport.close()

    def _model_status(self, name: str) -> ModelStatus:
        return self._with_retries(lambda: self._transport.model_status(name))

    def _with_retries(self, call: Callable[[], T]) -> T:
        for attempt in range(self._retries + 1):
            try:
                return call()
            except _Transient as error:
                if attempt == self._retries:
                    raise ModelServerUnavailable(
                        self._url, f"{error} (after {attempt + 1} attempts)"
                    ) from error
                delay = self._backoff_s * 2**attempt
                log.warning("model server %s unavailable (%s); retrying in %.2f s", self._url, error, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")


class _GrpcTransport:
    """PredictionService.Predict and ModelService.GetModelStatus over one channel."""

    def __init__(self, target: str, *, address: str, timeout_s: float) -> None:
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self._grpc: Any = grpc
        self._address = address
        self._timeout_s = timeout_s
        options = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            # gRPC's default reconnect backoff grows to 2 minutes, during which every call fails at
            # once; keep it short so a restarted server is found again by our own retries.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        self._channel: Any = grpc.insecure_channel(target, options=options)
        self._predict_stub: Any = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._model_stub: Any = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def predict(
        self, model: str, inputs: Mapping[str, np.ndarray], version: int | None, signature: str
    ) -> dict[str, np.ndarray]:
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature
        if version is not None:
            request.model_spec.version.value = version
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(ndarray_to_proto(np.asarray(value)))
        try:
            response = self._predict_stub.Predict(request, timeout=self._timeout_s)
        except self._grpc.RpcError as error:
            raise self._translate(error, model, version) from error
        return {name: proto_to_ndarray(proto) for name, proto in response.outputs.items()}

    def model_status(self, model: str) -> ModelStatus:
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        try:
            response = self._model_stub.GetModelStatus(request, timeout=self._timeout_s)
        except self._grpc.RpcError as error:
            translated = self._translate(error, model, None)
            if isinstance(translated, ModelNotFound):
                return ModelStatus(name=model, versions=(), error=str(error.details()))
            raise translated from error
        state_name = get_model_status_pb2.ModelVersionStatus.State.Name
        versions = tuple(
            ModelVersionState(int(s.version), state_name(s.state), s.status.error_message)
            for s in response.model_version_status
        )
        return ModelStatus(name=model, versions=versions)

    def close(self) -> None:
        self._channel.close()

    def _translate(self, error: Any, model: str, version: int | None) -> Exception:
        code = error.code()
        details = str(error.details())
        codes = self._grpc.StatusCode
        if code == codes.UNAVAILABLE:
            return _Transient(details)
        if code == codes.DEADLINE_EXCEEDED:
            return ModelServerUnavailable(self._address, f"no answer within {self._timeout_s} s")
        if code == codes.NOT_FOUND:
            return ModelNotFound(model, self._address, version=version, detail=details)
        if code == codes.INVALID_ARGUMENT:
            return ValueError(f"{model} rejected the inputs: {details}")
        return ModelServerError(f"{self._address}: {model}: {code.name}: {details}")


class _RestTransport:
    """TensorFlow Serving's REST API: the predict call in the columnar ("inputs") form, and model status."""

    def __init__(self, base_url: str, *, timeout_s: float) -> None:
        import httpx

        self._httpx: Any = httpx
        self._base_url = base_url
        self._timeout_s = timeout_s
        # The model server is an internal service: proxy variables meant for the internet must not apply.
        self._client: Any = httpx.Client(base_url=base_url, timeout=timeout_s, trust_env=False)

    def predict(
        self, model: str, inputs: Mapping[str, np.ndarray], version: int | None, signature: str
    ) -> dict[str, np.ndarray]:
        path = f"/v1/models/{model}" + (f"/versions/{version}" if version is not None else "") + ":predict"
        body = {"signature_name": signature, "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}}
        payload = self._request("POST", path, model=model, version=version, json=body)
        outputs = payload.get("outputs")
        if outputs is None:
            raise ModelServerError(f"{self._base_url}: {model} answered without outputs")
        if not isinstance(outputs, dict):
            # TF Serving leaves the name out when a signature has one output.
            names = list(OUTPUT_SHAPES.get(model, {"outputs": ()}))
            outputs = {names[0]: outputs}
        # Only the serving signatures are float32 throughout; the HOG detector's weights are float64.
        as_float32 = signature == SERVING_SIGNATURE
        return {name: _from_json(value, as_float32=as_float32) for name, value in outputs.items()}

    def model_status(self, model: str) -> ModelStatus:
        try:
            payload = self._request("GET", f"/v1/models/{model}", model=model, version=None)
        except ModelNotFound as error:
            return ModelStatus(name=model, versions=(), error=error.detail or str(error))
        versions = tuple(
            ModelVersionState(
                int(entry["version"]),
                str(entry["state"]),
                str(entry.get("status", {}).get("error_message", "")),
            )
            for entry in payload.get("model_version_status", [])
        )
        return ModelStatus(name=model, versions=versions)

    def close(self) -> None:
        self._client.close()

    def _request(
        self, method: str, path: str, *, model: str, version: int | None, json: Any = None
    ) -> dict[str, Any]:
        httpx = self._httpx
        try:
            response = self._client.request(method, path, json=json)
        except (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.RemoteProtocolError,
            httpx.ReadError,
        ) as error:
            raise _Transient(f"{type(error).__name__}: {error}") from error
        except httpx.TimeoutException as error:
            raise ModelServerUnavailable(self._base_url, f"no answer within {self._timeout_s} s") from error
        try:
            payload: dict[str, Any] = response.json()
        except ValueError:
            payload = {"error": response.text[:200]}
        detail = str(payload.get("error", ""))
        if response.status_code == 503:
            raise _Transient(detail or "HTTP 503")
        if response.status_code == 404:
            raise ModelNotFound(model, self._base_url, version=version, detail=detail)
        if response.status_code == 400:
            raise ValueError(f"{model} rejected the inputs: {detail}")
        if response.status_code >= 400:
            raise ModelServerError(f"{self._base_url}: {model}: HTTP {response.status_code}: {detail}")
        return payload


def _from_json(value: Any, *, as_float32: bool = True) -> np.ndarray:
    array = np.asarray(value)
    # JSON has no float32; the face models' serving outputs all are float32.
    return array.astype(np.float32) if as_float32 and array.dtype == np.float64 else array
