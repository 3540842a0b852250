"""Schemathesis against the app's own OpenAPI schema, in process, with a judge's token (an auditor's
for the operations only 审判管理 may use, so that their parameters are reached too).

Every operation is called with generated valid and invalid input; every answer must be a non-5xx
that matches what the schema declares (status codes, content types, bodies), error bodies included.
The rate limit is off here: the fuzzer is a runaway script by design.

The schema is loaded at import (schemathesis parametrizes at collection) from an app that is never
started; the requests go to a started app over the sample index, whose schema must be the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from starlette.types import Receive, Scope, Send

from api.http.app import create_app
from api.service.config import Settings
from tests.api_env import create_accounts, settings_for

pytestmark = pytest.mark.slow  # schemathesis: many generated requests per operation

EXAMPLES = 40
"""Per operation, valid and invalid input together; keeps the file to a few seconds of requests."""
AUDITOR_ONLY = {"GET /api/v1/audit/export", "GET /api/v1/audit/summary"}

SEMANTIC = {
    "POST /api/v1/searches": "a search needs facts, keywords, articles or a seed case; citations must parse",
    "POST /api/v1/searches/{search_id}/decisions": "a mark must name a result of that search",
    "POST /api/v1/reports/batches": "every case needs a trigger, its own or the batch's",
    "GET /api/v1/audit/summary": "from and to are YYYY-MM-DD days, from not after to",
    "POST /api/v1/pending-cases": "causes must be known 罪名/案由, facts more than blanks, articles must parse",
}
"""Operations whose schema-valid input may still be refused with 422 for reasons no JSON schema states;
for them the "valid input is accepted" check is off (every other check still runs)."""


class Served:
    """The ASGI app schemathesis knows at collection; the fixture points it at the started app."""

    app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the tokens fixture sets the app"
        await self.app(scope, receive, send)


SERVED = Served()
OPENAPI = create_app(Settings(index_home=None, data_dir=Path("unused"))).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
schema.app = SERVED
schema.config.generation.update(
    with_security_parameters=False
)  # the token is real; the matrix tests bad ones


@pytest.fixture(scope="module")
def tokens(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Starts serving the app over the sample index (schemathesis runs its lifespan); the users' tokens."""
    settings_ = settings_for(sample_index, tmp_path_factory.mktemp("schema"), rate_limit=None)
    issued = create_accounts(settings_)
    app = create_app(settings_)
    assert app.openapi() == OPENAPI
    SERVED.app = app
    yield issued.valid
    schemathesis.python.asgi.shutdown_lifespans()
    SERVED.app = None


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_schema_says(case: schemathesis.Case, tokens: dict[str, str]) -> None:
    token = tokens["auditor_a" if case.operation.label in AUDITOR_ONLY else "judge_a"]
    if (
        case.operation.label == "GET /api/v1/inbox/events"
    ):  # a live stream: closed at once, not after up to 60 s
        case.query = {**(case.query or {}), "timeout": 0}
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        excluded_checks=[schemathesis.checks.positive_data_acceptance]
        if case.operation.label in SEMANTIC
        else [],
    )
