"""`eval identify` through the gallery's own enrollment and recognition code, in a private Postgres."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from amyplant_config.settings import CommonSettings, Environment, GallerySettings
from amyplant_faces.models.client import SERVING_SIGNATURE, ModelClient, ModelStatus, RuntimeStatus
from amyplant_faces.pipeline.faces import FacePipeline


class PinnedVersionClient(ModelClient):
    """A model client that serves one version of every model: code that asks for "the newest" (the
    gallery's enrollment and recognition) then runs, and tags its descriptors with, that version."""

    def __init__(self, inner: ModelClient, version: int) -> None:
        self.inner = inner
        self.version = version

    @property
    def address(self) -> str:
        return f"{self.inner.address} (version {self.version})"

    def predict(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: int | None = None,
        signature: str = SERVING_SIGNATURE,
    ) -> dict[str, np.ndarray]:
        chosen = self.version if version is None else version
        return self.inner.predict(model, inputs, version=chosen, signature=signature)

    def status(self) -> RuntimeStatus:
        status = self.inner.status()
        models = tuple(
            ModelStatus(m.name, tuple(v for v in m.versions if v.version == self.version), m.error)
            for m in status.models
        )
        return RuntimeStatus(status.backend, self.address, models)

    def close(self) -> None:
        self.inner.close()


def gallery_settings() -> GallerySettings:
    """The gallery's configured thresholds and upload limits; its secrets play no part in an evaluation."""
    return GallerySettings(common=CommonSettings(environment=Environment.DEVELOPMENT))


@contextmanager
def private_database() -> Iterator[sessionmaker[Session]]:
    """A fresh embedded PostgreSQL with the gallery schema in a temporary folder, removed afterwards:
    the evaluation never touches the installation's gallery."""
    from amyplant.embedded.postgres_server import EmbeddedPostgres
    from amyplant_store.database import create_engine, migrate

    with tempfile.TemporaryDirectory(prefix="amyplant-eval-") as folder:
        server = EmbeddedPostgres(Path(folder))
        url = server.start()
        engine = None
        try:
            migrate(url)
            engine = create_engine(url, pool_size=1)
            yield sessionmaker(engine, expire_on_commit=False)
        finally:
            if engine is not None:
                engine.dispose()
            server.stop()


class ServiceGallery:
    """Enrolls and recognises exactly as the gallery API does: uploads read and checked by its upload
    code, samples added by its enrollment (quality and duplicate checks included), faces named by its
    recognition (nearest samples in pgvector, threshold, negatives)."""

    def __init__(self, sessions: sessionmaker[Session], pipeline: FacePipeline, *, threshold: float) -> None:
        from amyplant_gallery.uploads import UploadLimits
        from amyplant_store.policy import GalleryPolicy

        settings = gallery_settings()
        self.sessions = sessions
        self.pipeline = pipeline
        self.policy = dataclasses.replace(GalleryPolicy.from_settings(settings), match_threshold=threshold)
        self.limits = UploadLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_upload_pixels)

    def enroll(self, person: str, photo: Path) -> str | None:
        from amyplant_gallery.enrollment import FaceChoice, UploadedFile, enroll_files
        from amyplant_store.errors import GalleryError
        from amyplant_store.people import get_or_create_person

        try:
            with self.sessions.begin() as session, photo.open("rb") as stream:
                person_id = get_or_create_person(session, name=person).id
                outcome = enroll_files(
                    session,
                    pipeline=self.pipeline,
                    person_id=person_id,
                    files=[UploadedFile(photo.name, stream)],
                    choices={},
                    default_choice=FaceChoice(),
                    policy=self.policy,
                    limits=self.limits,
                )[0]
        except GalleryError as error:
            raise RuntimeError(f"enrolling {photo}: {error.message}") from error
        return None if outcome.enrolled else f"{outcome.code}: {outcome.message}"

    def identify(self, photo: Path, listed_in: Path, line: int) -> list[str | None]:
        from amyplant.evaluation.formats import FormatError
        from amyplant_gallery.recognition import recognize
        from amyplant_gallery.uploads import read_image
        from amyplant_store.errors import GalleryError
        from amyplant_store.policy import DEFAULT_TOP_K

        try:
            with self.sessions.begin() as session, photo.open("rb") as stream:
                image = read_image(stream, filename=photo.name, limits=self.limits)
                recognition = recognize(
                    session,
                    pipeline=self.pipeline,
                    image=image,
                    threshold=self.policy.match_threshold,
                    top_k=DEFAULT_TOP_K,
                    policy=self.policy,
                )
        except OSError as error:
            raise FormatError(listed_in, line, f"image {photo} cannot be read ({error})") from error
        except GalleryError as error:
            if error.status >= 500:  # the models, not the photo
                raise RuntimeError(error.message) from error
            raise FormatError(listed_in, line, f"image {photo}: {error.message}") from error
        return [face.match.person.name if face.match.person else None for face in recognition.faces]
