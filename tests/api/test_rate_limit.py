"""Per-token rate limiting: the bucket arithmetic on an injected clock, the middleware, the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from api.http.rate_limit import RateLimitMiddleware, TokenBuckets
from api.service.config import DEFAULT_RATE_LIMIT, RateLimit, Settings, SettingsError
from tests.api_env import Env, serve


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(RateLimit(per_minute=60, burst=3), clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(1.0)  # one request a second
    assert buckets.take("b") == 0.0  # another token has its own bucket
    clock.now += 0.5
    assert buckets.take("a") == pytest.approx(0.5)  # a refused request costs nothing
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    clock.now += 3600  # a long pause refills to the burst, not beyond
    assert [buckets.take("a") for _ in range(4)][-2:] == [0.0, pytest.approx(1.0)]


def test_garbage_tokens_cannot_grow_the_bucket_table() -> None:
    buckets = TokenBuckets(RateLimit(per_minute=60, burst=1), FakeClock(), max_buckets=100)
    for i in range(1000):
        buckets.take(f"garbage-{i}")
    assert len(buckets._buckets) == 100


def test_the_default_lets_a_judge_work_and_stops_a_runaway_script() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(DEFAULT_RATE_LIMIT, clock)
    # A judge's busy hour: a burst of 40 requests (a search, then opening result after result with its
    # related cases), then one request every 3 seconds.
    judge = [buckets.take("judge") for _ in range(40)]
    for _ in range(1200):
        clock.now += 3.0
        judge.append(buckets.take("judge"))
    assert all(wait == 0.0 for wait in judge)
    # A script looping at 20 requests a second is refused within ten seconds and then held to the rate.
    refused = 0
    for _ in range(200):
        clock.now += 0.05
        refused += buckets.take("script") > 0
    assert refused >= 200 - DEFAULT_RATE_LIMIT.burst - 10 * DEFAULT_RATE_LIMIT.per_second - 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", DEFAULT_RATE_LIMIT),
        ("30/min", RateLimit(30, 15)),
        ("30 / min, burst = 5", RateLimit(30, 5)),
        ("600", RateLimit(600, 300)),
        ("off", None),
    ],
)
def test_rate_limit_setting(raw: str, expected: RateLimit | None) -> None:
    assert Settings.from_env({"LEIAN_RATE_LIMIT": raw}).rate_limit == expected


@pytest.mark.parametrize("raw", ["fast", "0/min", "10/min,burst=0", "10/hour", "-5"])
def test_a_malformed_rate_limit_names_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="LEIAN_RATE_LIMIT"):
        Settings.from_env({"LEIAN_RATE_LIMIT": raw})


@pytest.fixture()
def limited() -> tuple[TestClient, FakeClock]:
    def ok(_request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    clock = FakeClock()
    inner = Starlette(routes=[Route(p, ok) for p in ("/api/v1/me", "/healthz", "/readyz")])
    app = RateLimitMiddleware(inner, RateLimit(per_minute=30, burst=2), clock)
    return TestClient(app), clock


def test_the_middleware_answers_429_with_retry_after_until_the_bucket_refills(
    limited: tuple[TestClient, FakeClock],
) -> None:
    client, clock = limited
    judge = {"Authorization": "Bearer judge-token"}
    assert [client.get("/api/v1/me", headers=judge).status_code for _ in range(2)] == [200, 200]
    refused = client.get("/api/v1/me", headers=judge)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "2"  # 30/min: one per 2 s
    assert refused.json()["error"]["code"] == "rate_limited" and refused.json()["error"]["message_zh"]
    assert client.get("/api/v1/me", headers={"Authorization": "bearer other-token"}).status_code == 200
    clock.now += 1.0
    assert client.get("/api/v1/me", headers=judge).headers["retry-after"] == "1"
    clock.now += 1.0
    assert client.get("/api/v1/me", headers=judge).status_code == 200


def test_health_probes_and_requests_without_a_token_are_not_counted(
    limited: tuple[TestClient, FakeClock],
) -> None:
    client, _ = limited
    judge = {"Authorization": "Bearer judge-token"}
    for _ in range(2):
        client.get("/api/v1/me", headers=judge)
    for path in ("/healthz", "/readyz"):
        assert all(client.get(path, headers=judge).status_code == 200 for _ in range(10))
    assert all(client.get("/api/v1/me").status_code == 200 for _ in range(10))
    assert all(
        client.get("/api/v1/me", headers={"Authorization": "Bearer "}).status_code == 200 for _ in range(5)
    )
    assert client.get("/api/v1/me", headers=judge).status_code == 429


@pytest.fixture(scope="module")
def env(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with serve(
        sample_index, tmp_path_factory.mktemp("rate"), rate_limit=RateLimit(per_minute=6, burst=3)
    ) as e:
        yield e


def test_the_app_limits_each_token_and_says_so_with_its_usual_headers(env: Env) -> None:
    assert [env.client.get("/api/v1/me", headers=env.h("judge_a")).status_code for _ in range(3)] == [200] * 3
    refused = env.client.post("/api/v1/searches", json={}, headers=env.h("judge_a"))
    assert refused.status_code == 429, refused.text
    # 6 a minute: one every 10 s, less the time the three requests took on a busy machine (the exact
    # figure is checked with a fake clock above).
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    assert (
        refused.headers["x-content-type-options"] == "nosniff" and refused.headers["content-security-policy"]
    )
    assert env.client.get("/api/v1/me", headers=env.h("judge_b")).status_code == 200
    assert env.client.get("/healthz", headers=env.h("judge_a")).status_code == 200
    assert env.client.get("/readyz", headers=env.h("judge_a")).status_code == 200
    metrics = env.client.get("/metrics", headers=env.h("auditor_a")).text
    assert 'status="429"' in metrics
