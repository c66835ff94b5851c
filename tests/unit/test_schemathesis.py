"""Schemathesis over the app's own OpenAPI document (/api/v1/openapi.json): for every operation, generated
requests (valid and invalid) as an admin with a bearer token never get a 5xx, and every answer whose status
the document declares matches its schema. A bounded number of examples per operation keeps it quick."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import select

from data.accounts import issue_token
from data.db import Database
from data.models import User
from settings import Settings
from tests.unit.city_copies import city_copy, seeded_template

pytestmark = pytest.mark.xdist_group("schemathesis")

#: Examples per operation: enough to reach the validation paths of each route, few enough for ~1 min.
EXAMPLES = 12


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp("schemathesis")
    template = seeded_template(folder, seed=7)
    copy_folder = folder / "copy"
    copy_folder.mkdir()
    yield from city_copy(template, copy_folder)


@pytest.fixture(scope="module")
def app(city, tmp_path_factory):
    from app import create_app

    folder = tmp_path_factory.mktemp("schemathesis-files")
    server, _ = create_app(Settings(database_url=str(city.url), secret_key="schemathesis",
                                    reports_dir=str(folder / "reports"), uploads_dir=str(folder / "uploads")), city)
    server.testing = False  # errors become 500 answers, as in production, instead of propagating
    return server


@pytest.fixture(scope="module")
def api_schema(app, admin_headers):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=admin_headers())


@pytest.fixture(scope="module")
def admin_headers(city) -> Callable[[], dict[str, str]]:
    """A fresh admin token for each request: a generated DELETE /tokens/{id} may revoke the one before."""

    def fresh() -> dict[str, str]:
        with city.uow() as s:
            token = issue_token(s, s.scalar(select(User).where(User.role == "admin").order_by(User.id)))
        # identity: the WSGI transport would not undo the server's compression (Flask-Compress) of the answer
        return {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}

    return fresh


def _cases() -> list[tuple[str, str, GenerationMode]]:
    """Every (path, method, mode) of the OpenAPI document, read at collection time from the route registry;
    invalid (negative) requests only for operations that take parameters or a body to make invalid."""
    from api.registry import openapi_document

    cases = []
    for path, methods in openapi_document()["paths"].items():
        for method, doc in methods.items():
            takes_input = bool(doc.get("parameters") or doc.get("requestBody"))
            cases += [(path, method.upper(), mode) for mode in GenerationMode
                      if takes_input or mode is GenerationMode.POSITIVE]
    return cases


@pytest.mark.parametrize(("path", "method", "mode"), _cases(), ids=lambda v: getattr(v, "value", v))
def test_no_generated_request_gets_a_5xx_or_an_answer_outside_its_schema(api_schema, admin_headers, path, method,
                                                                         mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def requests_answered_well(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=admin_headers(), checks=[not_a_server_error, response_schema_conformance])

    requests_answered_well()
