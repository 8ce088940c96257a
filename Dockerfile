# syntax=docker/dockerfile:1
# One image for every amyplant service: the subcommand chooses the service, e.g.
#   docker run amyplant-security:local gallery        (or worker, capture, models build --repo /models)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/amyplant
WORKDIR /build
# Dependencies get their own layer (installed through a stub package), so that editing the source
# does not reinstall TensorFlow and the other large wheels. Every dependency ships manylinux wheels:
# no compiler is needed.
COPY pyproject.toml README.md ./
RUN mkdir -p src/amyplant \
    && echo '"""Stub replaced by the real package below."""' > src/amyplant/__init__.py \
    && /opt/amyplant/bin/pip install . \
    && /opt/amyplant/bin/pip uninstall --yes amyplant-security \
    && rm -rf src build
COPY src ./src
RUN /opt/amyplant/bin/pip install --no-deps . \
    && /opt/amyplant/bin/amyplant --help > /dev/null

FROM ${PYTHON_IMAGE}
ARG APP_UID=10001
# tini runs as PID 1: it forwards SIGTERM to amyplant (PID 1 would otherwise ignore signals it has no
# handler for, e.g. during a models build) and reaps orphaned children.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid "${APP_UID}" amyplant \
    && useradd --system --uid "${APP_UID}" --gid amyplant --create-home --home-dir /home/amyplant \
       --shell /usr/sbin/nologin amyplant \
    && mkdir -p /var/lib/amyplant /models \
    && chown amyplant:amyplant /var/lib/amyplant /models
COPY --from=build /opt/amyplant /opt/amyplant
# /models is owned by the service user so that a fresh named volume mounted there is writable by
# the models build and the trainer (Docker copies the ownership into an empty volume).
ENV PATH=/opt/amyplant/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AMYPLANT_STATE_DIR=/var/lib/amyplant \
    AMYPLANT_MODEL_REPOSITORY=/models \
    AMYPLANT_GALLERY_HOST=0.0.0.0
USER amyplant
WORKDIR /home/amyplant
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "amyplant"]
CMD ["--help"]
