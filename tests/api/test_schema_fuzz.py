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
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from api.http.app import create_app
from api.service.config import Settings
from tests.api_env import THEFT_FACTS, create_accounts, settings_for

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
    "POST /api/v1/searches/{search_id}/drafts": "the case must be a marked result of that search",
    "POST /api/v1/inbox/{item_id}/decision": "a dismissal needs a reason",
}
"""Operations whose schema-valid input may still be refused with 422 for reasons no JSON schema states;
for them the "valid input is accepted" check is off (every other check still runs). Every POST with a
body is here: a control character put into one of its strings (``with_control_characters``) is
rightly refused, even in an enumerated value such as ``cited_by``."""


class Served:
    """The ASGI app schemathesis knows at collection; the fixture points it at the started app."""

    app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the tokens fixture sets the app"
        await self.app(scope, receive, send)


SERVED = Served()
MAX_BODY_BYTES = Settings.max_body_bytes  # the served app's (settings_for keeps the default)
OPENAPI = create_app(Settings(index_home=None, data_dir=Path("unused"))).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
schema.app = SERVED
schema.config.generation.update(
    with_security_parameters=False
)  # the token is real; the matrix tests bad ones


CONTROL = st.characters(categories=["Cc"], exclude_characters="\t\n")
"""Control characters other than tab and newline: NUL, ESC, DEL, C1, and CR (a line end in free text)."""
CONTROL_TEXT = st.text(CONTROL, min_size=1, max_size=4)


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _string_paths(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _string_paths(inner, (*path, i))


def _insert(value: Any, path: tuple[Any, ...], text: str, share: float) -> Any:
    if not path:
        at = round(len(value) * share)
        return value[:at] + text + value[at:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _insert(value[path[0]], path[1:], text, share)
    return copy


def with_control_characters(body: Any) -> st.SearchStrategy[Any]:
    """The body as generated, or with control characters put into one of its strings, anywhere in it."""
    paths = list(_string_paths(body))
    if not paths:
        return st.just(body)
    changed = st.builds(
        lambda path, text, share: _insert(body, path, text, share),
        st.sampled_from(paths),
        CONTROL_TEXT,
        st.floats(0, 1),
    )
    return st.one_of(st.just(body), changed)


schema.hook("flatmap_body")(lambda _context, body: with_control_characters(body))
"""Every generated request body may carry control characters (POST bodies are all in ``SEMANTIC``:
a 422 naming the field is a right answer to them, a 5xx never is)."""


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
    headers = {"Authorization": f"Bearer {token}"}
    response = case.call(headers=headers)
    if response.status_code == 413:
        # the body limit answers before any schema does: right for a body over it, wrong for any other
        sent = response.request.body or b""
        assert len(sent.encode() if isinstance(sent, str) else sent) > MAX_BODY_BYTES, response.text
        return
    case.validate_response(
        response,
        headers=headers,
        excluded_checks=[schemathesis.checks.positive_data_acceptance]
        if case.operation.label in SEMANTIC
        else [],
    )


@given(facts=CONTROL_TEXT, case_number=CONTROL_TEXT, share=st.floats(0, 1))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_control_characters_never_break_a_search_or_its_documents(
    tokens: dict[str, str], facts: str, case_number: str, share: float
) -> None:
    """In a 案号: 422 naming it. In the facts: removed and noted; the DOCX report is then made."""
    headers = {"Authorization": f"Bearer {tokens['judge_a']}"}
    searches = schema["/api/v1/searches"]["POST"]
    base = "（2025）浙0106刑初9号"
    cut = 1 + round((len(base) - 2) * share)  # inside: whitespace at the ends is trimmed, not refused
    refused = searches.Case(
        body={"case_number": base[:cut] + case_number + base[cut:], "trigger": "其他", "facts": THEFT_FACTS}
    ).call(headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["fields"] == ["case_number"]
    at = round(len(THEFT_FACTS) * share)
    body = {
        "case_number": base,
        "trigger": "其他",
        "facts": THEFT_FACTS[:at] + facts + THEFT_FACTS[at:],
        "k": 2,
    }
    answer = searches.Case(body=body).call(headers=headers)
    assert answer.status_code == 200, answer.text
    notes = answer.json()["input_notes"]
    assert all(note["field"] == "facts" for note in notes)
    report = schema["/api/v1/searches/{search_id}/report"]["GET"].Case(
        path_parameters={"search_id": answer.json()["search_id"]}, query={"format": "docx"}
    )
    made = report.call(headers=headers)
    assert made.status_code == 200, made.text
