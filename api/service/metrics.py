"""Prometheus metrics of one app: requests by route, search latency by stage, audit write latency.

Each app owns its registry (not the process-global one) so that several apps in one process, as in
the tests, count separately. Routes are labelled by their template (``/api/v1/cases/{doc_id}``),
never by the raw path, so that the number of series stays bounded whatever clients send.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "leian_http_requests",
            "HTTP requests by method, route template and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "leian_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ("method", "route"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.search_stage = Histogram(
            "leian_search_stage_duration_seconds",
            "Search latency by stage (recall, fuse, rerank, tier_explain, related)",
            ("stage",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.audit_write = Histogram(
            "leian_audit_write_duration_seconds",
            "Latency of one durable audit append (commit and fsync)",
            ("kind",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "leian_audit_write_failures",
            "Audit appends that failed; each one failed its request (fail-closed)",
            ("kind",),
            registry=self.registry,
        )
        self.audit_intact = Gauge(
            "leian_audit_intact",
            "1 while the audit log matches its signed tree heads, 0 once tampering was detected",
            registry=self.registry,
        )
        self.audit_intact.set(1)
        self.audit_verified = Gauge(
            "leian_audit_verified_records",
            "Records whose content the audit watcher re-hashed and matched against the signed tree",
            registry=self.registry,
        )

    def observe_search(self, timings_ms: Mapping[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self.search_stage.labels(stage).observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
