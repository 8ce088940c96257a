# syntax=docker/dockerfile:1
# One image per amyplant service, each a target of this file (docker-compose.yml builds all five):
#   docker build --target capture   -t amyplant-capture:local .     entry point amyplant-capture
#   docker build --target inference -t amyplant-inference:local .   entry point amyplant-worker
#   docker build --target gallery   -t amyplant-gallery:local .     entry point amyplant-gallery (`migrate`)
#   docker build --target trainer   -t amyplant-trainer:local .     entry point amyplant-trainer
#   docker build --target models    -t amyplant-models:local .      entry point amyplant-models (models job)
# An image holds its service's distribution and the shared libraries that it depends on, in a virtual
# environment at /opt/amyplant; the root project (the embedded `amyplant up` mode) is in none of them.
# The container's command is the entry point's arguments, e.g. `docker run amyplant-gallery:local migrate`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: what every <service>-build stage starts from -----------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
# Only what decides the third-party dependencies (the pyproject files and the pinned versions), so that
# the dependency layers below survive edits to the code. Every dependency ships manylinux wheels or is
# pure Python: no compiler is needed.
COPY constraints.txt ./
COPY docker/third_party_requirements.py docker/
COPY libs/config/pyproject.toml libs/config/
COPY libs/queue/pyproject.toml libs/queue/
COPY libs/telemetry/pyproject.toml libs/telemetry/
COPY libs/faces/pyproject.toml libs/faces/
COPY libs/store/pyproject.toml libs/store/
COPY libs/modelbuild/pyproject.toml libs/modelbuild/
COPY services/capture/pyproject.toml services/capture/
COPY services/inference/pyproject.toml services/inference/
COPY services/gallery/pyproject.toml services/gallery/
COPY services/trainer/pyproject.toml services/trainer/

# Each <service>-build stage: (1) the third-party dependencies of the service and its libraries, pinned
# by constraints.txt (the slow layer); (2) the libraries and the service from source, whose pyproject
# files reference the libraries by their place in this tree; (3) pip check and the entry point's --help,
# so that a broken image fails here and not at its first start.
FROM build AS capture-build
RUN python -m venv /opt/amyplant \
    && python docker/third_party_requirements.py services/capture > /tmp/requirements.txt \
    && /opt/amyplant/bin/pip install -c constraints.txt -r /tmp/requirements.txt
COPY libs libs
COPY services/capture services/capture
RUN /opt/amyplant/bin/pip install -c constraints.txt ./services/capture \
    && /opt/amyplant/bin/pip check \
    && /opt/amyplant/bin/amyplant-capture --help > /dev/null

FROM build AS inference-build
RUN python -m venv /opt/amyplant \
    && python docker/third_party_requirements.py services/inference > /tmp/requirements.txt \
    && /opt/amyplant/bin/pip install -c constraints.txt -r /tmp/requirements.txt
COPY libs libs
COPY services/inference services/inference
RUN /opt/amyplant/bin/pip install -c constraints.txt ./services/inference \
    && /opt/amyplant/bin/pip check \
    && /opt/amyplant/bin/amyplant-worker --help > /dev/null

FROM build AS gallery-build
RUN python -m venv /opt/amyplant \
    && python docker/third_party_requirements.py services/gallery > /tmp/requirements.txt \
    && /opt/amyplant/bin/pip install -c constraints.txt -r /tmp/requirements.txt
COPY libs libs
COPY services/gallery services/gallery
RUN /opt/amyplant/bin/pip install -c constraints.txt ./services/gallery \
    && /opt/amyplant/bin/pip check \
    && /opt/amyplant/bin/amyplant-gallery --help > /dev/null

FROM build AS trainer-build
RUN python -m venv /opt/amyplant \
    && python docker/third_party_requirements.py services/trainer > /tmp/requirements.txt \
    && /opt/amyplant/bin/pip install -c constraints.txt -r /tmp/requirements.txt
COPY libs libs
COPY services/trainer services/trainer
RUN /opt/amyplant/bin/pip install -c constraints.txt ./services/trainer \
    && /opt/amyplant/bin/pip check \
    && /opt/amyplant/bin/amyplant-trainer --help > /dev/null

FROM build AS models-build
RUN python -m venv /opt/amyplant \
    && python docker/third_party_requirements.py libs/modelbuild > /tmp/requirements.txt \
    && /opt/amyplant/bin/pip install -c constraints.txt -r /tmp/requirements.txt
COPY libs libs
RUN /opt/amyplant/bin/pip install -c constraints.txt ./libs/modelbuild \
    && /opt/amyplant/bin/pip check \
    && /opt/amyplant/bin/amyplant-models --help > /dev/null

# --- runtime: what every final image shares --------------------------------------------------------------
# No compiler, no pip cache, no build directory: the final stages copy only the virtual environment.
FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
# tini runs as PID 1: it forwards SIGTERM to the service (Celery finishes the frame in hand; PID 1 would
# ignore signals it has no handler for) and reaps orphaned children. Its version is not pinned (DL3008):
# bookworm's archive replaces a version when it patches it, so a pin would break the next build; the
# base image tag fixes the Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid "${APP_UID}" amyplant \
    && useradd --system --uid "${APP_UID}" --gid amyplant --create-home --home-dir /home/amyplant \
       --shell /usr/sbin/nologin amyplant \
    && mkdir -p /var/lib/amyplant /models \
    && chown amyplant:amyplant /var/lib/amyplant /models
# The health checks of every image (HEALTHCHECK below, the Kubernetes probes and init containers).
COPY docker/probe.py /usr/local/bin/amyplant-probe
# /var/lib/amyplant and /models are owned by the service user so that a fresh named volume mounted there
# is writable by it (Docker copies the ownership into an empty volume).
ENV PATH=/opt/amyplant/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AMYPLANT_STATE_DIR=/var/lib/amyplant \
    AMYPLANT_MODEL_REPOSITORY=/models
WORKDIR /home/amyplant

# --- the images ------------------------------------------------------------------------------------------
# The metrics exporters listen on every address so that Prometheus can scrape them; their port doubles as
# the health check (the worker opens it once its models are warm).
FROM runtime AS capture
COPY --from=capture-build /opt/amyplant /opt/amyplant
ENV AMYPLANT_CAPTURE_METRICS_HOST=0.0.0.0 \
    AMYPLANT_CAPTURE_METRICS_PORT=9102
USER 10001:10001
EXPOSE 9102
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["amyplant-probe", "--metrics-port-env", "AMYPLANT_CAPTURE_METRICS_PORT"]
ENTRYPOINT ["/usr/bin/tini", "--", "amyplant-capture"]

FROM runtime AS inference
COPY --from=inference-build /opt/amyplant /opt/amyplant
ENV AMYPLANT_WORKER_METRICS_HOST=0.0.0.0 \
    AMYPLANT_WORKER_METRICS_PORT=9101
USER 10001:10001
EXPOSE 9101
# Long start period: TensorFlow's import and the models' warm-up come before the exporter opens.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD ["amyplant-probe", "--metrics-port-env", "AMYPLANT_WORKER_METRICS_PORT"]
ENTRYPOINT ["/usr/bin/tini", "--", "amyplant-worker"]

FROM runtime AS gallery
COPY --from=gallery-build /opt/amyplant /opt/amyplant
ENV AMYPLANT_GALLERY_HOST=0.0.0.0
USER 10001:10001
EXPOSE 8080
# /health answers 200 only when Redis, Postgres, the models and a worker are ok (503 otherwise, which
# makes urllib raise): the container is healthy when the API could serve a request.
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=5 \
    CMD ["amyplant-probe", "--url", "http://127.0.0.1:8080/health", "--timeout", "8"]
ENTRYPOINT ["/usr/bin/tini", "--", "amyplant-gallery"]

FROM runtime AS trainer
COPY --from=trainer-build /opt/amyplant /opt/amyplant
USER 10001:10001
# The trainer serves nothing: it is healthy while its Celery process lives and its broker answers.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["amyplant-probe", "--process", "amyplant-trainer", "--redis"]
ENTRYPOINT ["/usr/bin/tini", "--", "amyplant-trainer"]

FROM runtime AS models
COPY --from=models-build /opt/amyplant /opt/amyplant
USER 10001:10001
# A one-shot job (build, list, check, rollback): healthy while the command runs.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["amyplant-probe", "--process", "amyplant-models"]
ENTRYPOINT ["/usr/bin/tini", "--", "amyplant-models"]
CMD ["--help"]
