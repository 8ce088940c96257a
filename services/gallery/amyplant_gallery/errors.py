"""Errors as JSON: the handlers that render every error with its stable `code` and human `message`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from amyplant_gallery.security_headers import security_headers
from amyplant_store.errors import ErrorBody, GalleryError

log = logging.getLogger(__name__)

# Codes for plain HTTP errors raised by the framework (unknown route, wrong method, ...).
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
}


def _render(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


async def _gallery_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, GalleryError)
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
    if error.status == 429 and "retry_after_s" in error.details:
        headers["Retry-After"] = str(error.details["retry_after_s"])
    return _render(error.status, error.body(), headers or None)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        {"location": ".".join(str(part) for part in item.get("loc", ())), "problem": item.get("msg", "")}
        for item in error.errors()
    ]
    summary = "; ".join(f"{p['location']}: {p['problem']}" for p in problems[:5])
    body = ErrorBody(
        code="invalid_request", message=f"invalid request: {summary}", details={"errors": problems}
    )
    return _render(422, body)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = HTTP_CODES.get(error.status_code, f"http_{error.status_code}")
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
    return _render(error.status_code, ErrorBody(code=code, message=str(error.detail)), headers)


def _allowed_methods(request: Request, first_route: str) -> str:
    """Every method of the request's path: Starlette's 405 names only those of the first route matching it,
    and a path often has one route per method (GET and POST /api/v1/people)."""
    methods = {method.strip() for method in first_route.split(",") if method.strip()}
    for template, operations in request.app.openapi()["paths"].items():
        if compile_path(template)[0].match(request.scope["path"]):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    # A bug or a dependency failing: logged with its traceback, reported without internals.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    body = ErrorBody(code="internal_error", message="the gallery failed to handle this request; see its log")
    # Rendered outside the middleware stack (by Starlette's outermost error middleware): headers added here.
    return _render(500, body, security_headers(request.url.path))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GalleryError, _gallery_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error statuses a route may answer, each with an example."""
    examples = {
        400: ("empty_file", "the file is empty"),
        401: ("unauthorized", "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key'"),
        403: ("forbidden", "this API key lacks the 'enroll' scope"),
        404: ("person_not_found", "no person with id 42"),
        409: ("person_exists", "a person named 'Ada' already exists (id 7)"),
        413: ("image_too_large", "the image has 120000000 pixels; the limit is 50000000"),
        415: ("not_an_image", "the file is not an image (JPEG, PNG, WebP, BMP, GIF or TIFF)"),
        422: ("no_face", "no face was found in the image"),
        429: ("too_many_failed_authentications", "too many failed authentications from this address"),
        503: ("models_unavailable", "the face models cannot be reached"),
    }
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        code, message = examples[status]
        responses[status] = {
            "model": ErrorBody,
            "description": f"Error ({code}, ...)",
            "content": {"application/json": {"example": {"code": code, "message": message, "details": {}}}},
        }
    return responses
