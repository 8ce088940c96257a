"""A TensorFlow Serving stand-in for tests: the real gRPC and REST protocols over a model repository.

It serves what TensorFlow Serving would serve from the same repository: the models listed in
models.config (or every model directory), the newest two integer versions of each, unversioned
requests going to the newest. Run it in-process (`TFServingStandin(repo).start()`) or as a process:
`python tests/standin/tfserving_standin.py --repo DIR` prints {"grpc_port": ..., "rest_port": ...}.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
from collections.abc import Mapping
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

SERVED_VERSIONS = 2
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class ServableNotFound(LookupError):
    """No such model, or not such a version of it."""


class Servables:
    """Loads each requested SavedModel version once and runs its signatures."""

    def __init__(self, repo: Path) -> None:
        self._repo = repo
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, int], Any] = {}

    def model_names(self) -> list[str]:
        config = self._repo / "models.config"
        if config.is_file():
            parsed = text_format.Parse(config.read_text(), model_server_config_pb2.ModelServerConfig())
            return [entry.name for entry in parsed.model_config_list.config]
        return sorted(p.name for p in self._repo.iterdir() if p.is_dir() and not p.name.startswith("."))

    def versions(self, name: str) -> list[int]:
        """The versions a latest-2 policy keeps loaded, oldest first."""
        base = self._repo / name
        if name not in self.model_names() or not base.is_dir():
            raise ServableNotFound(f"Could not find any versions of model {name}")
        found = sorted(
            int(p.name) for p in base.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()
        )
        if not found:
            raise ServableNotFound(f"Could not find any versions of model {name}")
        return found[-SERVED_VERSIONS:]

    def signature(self, name: str, version: int | None, signature_name: str) -> tuple[int, Any]:
        request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        try:
            served = self.versions(name)
        except ServableNotFound as error:
            raise ServableNotFound(f"Servable not found for request: {request}") from error
        chosen = served[-1] if version is None else version
        if chosen not in served:
            raise ServableNotFound(f"Servable not found for request: {request}")
        with self._lock:
            key = (name, chosen)
            if key not in self._loaded:
                self._loaded[key] = tf.saved_model.load(str(self._repo / name / str(chosen)))
            loaded = self._loaded[key]
        if signature_name not in loaded.signatures:
            raise ValueError(f'Serving signature name: "{signature_name}" not found in signature def')
        return chosen, loaded.signatures[signature_name]


def run_signature(function: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    specs = function.structured_input_signature[1]
    missing = sorted(set(specs) - set(inputs))
    if missing:
        raise ValueError(f"input tensor alias not found in signature: {missing}")
    tensors = {
        k: tf.convert_to_tensor(np.asarray(v, dtype=specs[k].dtype.as_numpy_dtype)) for k, v in inputs.items()
    }
    return {k: v.numpy() for k, v in function(**tensors).items()}


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):  # type: ignore[misc]
    def __init__(self, servables: Servables) -> None:
        self._servables = servables

    def Predict(self, request: Any, context: Any) -> Any:
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        signature_name = spec.signature_name or "serving_default"
        try:
            chosen, function = self._servables.signature(spec.name, version, signature_name)
            outputs = run_signature(function, {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
        except ServableNotFound as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = spec.name
        response.model_spec.version.value = chosen
        response.model_spec.signature_name = signature_name
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]
    def __init__(self, servables: Servables) -> None:
        self._servables = servables

    def GetModelStatus(self, request: Any, context: Any) -> Any:
        try:
            versions = self._servables.versions(request.model_spec.name)
        except ServableNotFound as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        if request.model_spec.HasField("version"):
            versions = [v for v in versions if v == request.model_spec.version.value]
        response = get_model_status_pb2.GetModelStatusResponse()
        for version in versions:
            status = response.model_version_status.add()
            status.version = version
            status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        return response


_PREDICT = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?:predict$")
_STATUS = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?$")


def rest_handler(servables: Servables) -> type[BaseHTTPRequestHandler]:
    """A request handler class for TF Serving's REST predict (columnar "inputs" form) and status routes."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            match = _PREDICT.match(self.path)
            if match is None:
                self._reply(404, {"error": f"Malformed request: POST {self.path}"})
                return
            version = int(match["version"]) if match["version"] else None
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                _chosen, function = servables.signature(
                    match["name"], version, body.get("signature_name", "serving_default")
                )
                inputs = body["inputs"]
                if not isinstance(inputs, dict):
                    inputs = {next(iter(function.structured_input_signature[1])): inputs}
                outputs = run_signature(function, inputs)
            except ServableNotFound as error:
                self._reply(404, {"error": str(error)})
                return
            except (KeyError, ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
                self._reply(400, {"error": str(error)})
                return
            listed = {name: value.tolist() for name, value in outputs.items()}
            self._reply(200, {"outputs": next(iter(listed.values())) if len(listed) == 1 else listed})

        def do_GET(self) -> None:
            match = _STATUS.match(self.path)
            if match is None:
                self._reply(404, {"error": f"Malformed request: GET {self.path}"})
                return
            try:
                versions = servables.versions(match["name"])
            except ServableNotFound as error:
                self._reply(404, {"error": str(error)})
                return
            if match["version"]:
                versions = [v for v in versions if v == int(match["version"])]
            statuses = [
                {"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                for v in versions
            ]
            self._reply(200, {"model_version_status": statuses})

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, code: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class TFServingStandin:
    """The gRPC and REST servers on free loopback ports, in threads of this process."""

    def __init__(
        self, repo: Path, *, host: str = "127.0.0.1", grpc_port: int = 0, rest_port: int = 0
    ) -> None:
        self._servables = Servables(repo)
        self._host = host
        self._grpc: Any = None
        self._http: ThreadingHTTPServer | None = None
        self.grpc_port = grpc_port  # 0: a free port, known after start()
        self.rest_port = rest_port

    @property
    def grpc_url(self) -> str:
        return f"grpc://{self._host}:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self._host}:{self.rest_port}"

    def start(self) -> TFServingStandin:
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(self._servables), self._grpc
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self._servables), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port(f"{self._host}:{self.grpc_port}")
        self._grpc.start()
        self._http = ThreadingHTTPServer((self._host, self.rest_port), rest_handler(self._servables))
        self._http.daemon_threads = True
        self.rest_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="standin-rest", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait()
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> TFServingStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, required=True)
    args = parser.parse_args()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with TFServingStandin(args.repo) as standin:
        print(json.dumps({"grpc_port": standin.grpc_port, "rest_port": standin.rest_port}), flush=True)
        stopped.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
