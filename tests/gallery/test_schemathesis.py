"""The gallery fuzzed from its own OpenAPI schema: no server error, answers as documented, keys required.

Schemathesis generates requests for every operation (a bounded number each, so CI stays fast) and sends
them in process to the gallery with the real models, on the session's embedded Postgres, as an admin.
Every response is checked against the schema (status codes, content types, bodies). The objects the run
creates are erased afterwards; the run's own admin key is never handed to the revoke operation.
"""

from __future__ import annotations

import re
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.checks import not_a_server_error, positive_data_acceptance
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation.case import Case

from tests.gallery.conftest import ADMIN_KEY

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 20
# Routes any caller may reach: probes, Prometheus' scrape (queue depths only; docs/SECURITY.md) and the
# API's own description.
PUBLIC_PATHS = {"/health", "/livez", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
NO_SUCH_KEY_ID = 2**62


@pytest.fixture
def gallery_schema(model_client: TestClient, clean_gallery: str) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", model_client.app)


def own_key_id(client: TestClient) -> int:
    keys = client.get("/api/v1/api-keys").json()
    items = keys["items"] if isinstance(keys, dict) else keys
    return min(int(key["id"]) for key in items)


def revokes_key(case: Case[Any], key_id: int) -> bool:
    return (
        case.method == "DELETE"
        and case.path.startswith("/api/v1/api-keys/")
        and bool(case.path_parameters)
        and int(next(iter((case.path_parameters or {}).values()))) == key_id
    )


def describe(failure: BaseException) -> str:
    """The failure's title and the status and body that showed it, on one line."""
    lines = [line.strip() for line in str(failure).splitlines() if line.strip()]
    return " | ".join(lines[1:6])[:500]


def failures_of(operation: Any, *, keep_key_id: int) -> list[str]:
    """Run the operation's generated cases; the failures found, one line each (empty: all passed)."""
    found: list[str] = []

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=True,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    def run(case: Case[Any]) -> None:
        if revokes_key(case, keep_key_id):
            # Revoking the key the run authenticates with would end the run, not test the server.
            case.path_parameters = {name: NO_SUCH_KEY_ID for name in case.path_parameters or {}}
        # A schema cannot say "these bytes must decode as an image" or "this archive must be one of ours":
        # such requests are schema-valid and rightly refused (400/415/422, each documented), so the
        # check that every schema-valid request is accepted does not apply to this API.
        excluded = [positive_data_acceptance]
        if case.path == "/health":
            excluded.append(not_a_server_error)  # 503 by design while a part is down (no worker here)
        try:
            case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_KEY}"}, excluded_checks=excluded)
        except (FailureGroup, Failure) as failure:
            found.append(f"{operation.label}: {describe(failure)}")
        except Exception as error:  # in process, an unhandled server error arrives as the exception itself
            found.append(f"{operation.label}: server error {type(error).__name__}: {str(error)[:200]}")

    run()
    return found


def test_every_operation_answers_as_its_schema_says(gallery_schema: Any, model_client: TestClient) -> None:
    keep_key_id = own_key_id(model_client)
    operations = [result.ok() for result in gallery_schema.get_all_operations()]
    failures = [line for operation in operations for line in failures_of(operation, keep_key_id=keep_key_id)]
    assert len(operations) >= 20
    assert not failures, "\n".join(failures)


def concrete_path(template: str) -> str:
    """A path of the template with every parameter set to an id that exists or not: auth comes first."""
    return re.sub(r"\{[^}]+\}", "1", template)


def test_every_route_refuses_a_missing_or_wrong_key(model_client: TestClient) -> None:
    document = model_client.get("/openapi.json").json()
    anonymous = TestClient(model_client.app)
    checked = 0
    for template, operations in document["paths"].items():
        if template in PUBLIC_PATHS:
            continue
        for method in operations:
            path = concrete_path(template)
            for headers in ({}, {"Authorization": "Bearer amyk_not-a-key-of-this-gallery"}):
                response = anonymous.request(method.upper(), path, headers=headers)
                assert response.status_code == 401, (method, template, headers, response.text)
                assert response.json()["code"] in {"unauthorized", "invalid_api_key"}
            checked += 1
    assert checked >= 20
