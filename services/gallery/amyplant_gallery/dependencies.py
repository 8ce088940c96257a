"""FastAPI dependencies shared by the gallery's routes: the context, a database session, API-key scopes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from amyplant_gallery.api_keys import Scope, authenticate, grants
from amyplant_gallery.context import GalleryContext
from amyplant_store.errors import GalleryError
from amyplant_store.tables import ApiKey

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")
key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key in `X-API-Key`.")


def get_context(request: Request) -> GalleryContext:
    context: GalleryContext = request.app.state.context
    return context


Context = Annotated[GalleryContext, Depends(get_context)]


def get_session(context: Context) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back when it raises."""
    with context.sessions.begin() as session:
        yield session


# scope="function": commit before the response is sent, so a client's next request sees the write.
DbSession = Annotated[Session, Depends(get_session, scope="function")]


def identify(context: GalleryContext, request: Request, secret: str) -> ApiKey:
    """The active key with this secret; 401 when there is none, 429 while the address failed too often."""
    limiter = context.auth_failures
    address = request.client.host if request.client else "unknown"
    wait_s = limiter.retry_after(address)
    if wait_s is not None:
        raise GalleryError(
            "too_many_failed_authentications",
            f"too many failed authentications from this address; try again in {wait_s} s",
            status=429,
            retry_after_s=wait_s,
        )
    with context.sessions.begin() as session:
        record = authenticate(session, key=secret, pepper=context.settings.api_key_pepper)
    if record is None:
        limiter.record_failure(address)
        raise GalleryError("invalid_api_key", "the API key is unknown or revoked", status=401)
    return record


def presented_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header_key: Annotated[str | None, Security(key_header)],
) -> str | None:
    return header_key or (credentials.credentials if credentials else None)


def require_scope(scope: Scope) -> Callable[..., ApiKey]:
    """A dependency that admits keys granting `scope` (admin > enroll > read)."""

    def check(
        context: Context, request: Request, secret: Annotated[str | None, Depends(presented_key)]
    ) -> ApiKey:
        if not secret:
            raise GalleryError(
                "unauthorized", "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key'", status=401
            )
        record = identify(context, request, secret)
        if not grants(record.scopes, scope):
            raise GalleryError(
                "forbidden",
                f"this API key lacks the {scope.value!r} scope",
                status=403,
                required_scope=scope.value,
                key_scopes=record.scopes,
            )
        return record

    return check


def optional_key(
    context: Context, request: Request, secret: Annotated[str | None, Depends(presented_key)]
) -> ApiKey | None:
    """The caller's key when one is sent (a wrong one is refused as anywhere else), else None."""
    return identify(context, request, secret) if secret else None


ReadKey = Annotated[ApiKey, Depends(require_scope(Scope.READ))]
EnrollKey = Annotated[ApiKey, Depends(require_scope(Scope.ENROLL))]
AdminKey = Annotated[ApiKey, Depends(require_scope(Scope.ADMIN))]
# Any scope, or none: for routes that tell more to a caller with a key (/health).
OptionalKey = Annotated[ApiKey | None, Depends(optional_key)]
