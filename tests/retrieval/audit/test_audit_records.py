"""The typed audit records: the only place a record's keys are spelled, so they must round-trip."""

from __future__ import annotations

import pytest

from retrieval.audit.records import (
    PAYLOAD_SCHEMA,
    AccountRecord,
    BatchRef,
    CaseworkFields,
    DecisionRecord,
    ExportRecord,
    InvalidRecord,
    Mark,
    RankedResult,
    RecordKind,
    ReportRecord,
    SearchRecord,
    ShownResult,
    TokenRecord,
    payload_schema,
)
from retrieval.guidance import DecisionLabel, Trigger


def _search(**changes: object) -> SearchRecord:
    base = {
        "trigger": Trigger.NO_UNIFORM_RULE.value,
        "case_number": "（2025）浙0106刑初88号",
        "methods": ("keyword", "semantic"),
        "query": "被告人趁夜入户盗窃现金九万余元",
        "results": (RankedResult("a", 1, 0.9, "应当参照"), RankedResult("b", None, 0.4, "可以参考")),
        "keywords": {"must": ("盗窃",), "should": (), "must_not": (), "phrases": ()},
        "articles": ("刑法 第264条",),
        "filters": {"date_from": None, "court_levels": ["基层"]},
        "index_version": "20250601T000000Z-abc",
        "manifest_sha256": "ab" * 32,
        "embedder": "static@sha256:cd",
        "ann": {"factory": "IDMap2,Flat", "params": {}},
        "endpoint": "searches",
        "requesting_court": {"name": "浙江省杭州市西湖区人民法院", "level": "基层", "province": "浙江省"},
        "requested_methods": None,
        "charges": ("盗窃罪",),
        "causes_used": ("盗窃罪",),
        "k": 10,
        "parties": ({"name": "张三", "role": "被告人"},),
        "related": ({"doc_id": "c", "kind": "same_party"},),
    }
    base.update(changes)
    return SearchRecord(**base)  # type: ignore[arg-type]


def test_search_record_round_trips_through_its_payload() -> None:
    record = _search(batch=BatchRef("rb-1", 3))
    payload = record.to_payload()
    assert payload["schema"] == PAYLOAD_SCHEMA
    assert SearchRecord.from_payload(payload) == record
    assert SearchRecord.from_payload(payload).to_payload() == payload


def test_a_snapshot_of_the_results_shown_is_carried_only_when_given() -> None:
    assert "shown" not in _search().to_payload()
    shown = (
        ShownResult(
            doc_id="a",
            title="项某盗窃一审刑事判决书",
            case_number="（2024）浙0106刑初1号",
            court={"name": "浙江省杭州市西湖区人民法院", "level": "基层", "province": "浙江省"},
            decision_date="2024-03-01",
            holding=None,
            tier=4,
            effect="可以参考",
            explanation={"summary": "同为盗窃罪"},
        ),
    )
    record = _search(shown=shown)
    assert SearchRecord.from_payload(record.to_payload()).shown == shown


def test_a_payload_written_before_schema_versions_reads_as_schema_1() -> None:
    legacy = _search().to_payload()
    del legacy["schema"]
    assert payload_schema(legacy) == 1
    assert SearchRecord.from_payload(legacy) == _search()


def test_malformed_results_are_refused_not_misread() -> None:
    payload = _search().to_payload()
    payload["results"] = [{"tier": 1}]
    with pytest.raises(InvalidRecord, match="results"):
        SearchRecord.from_payload(payload)


def test_values_without_a_canonical_form_are_refused_when_written() -> None:
    with pytest.raises(InvalidRecord):
        _search(results=(RankedResult("a", 1, float("nan"), None),)).to_payload()


def test_decision_and_report_records_round_trip() -> None:
    decision = DecisionRecord(
        search_id=7,
        case_number="（2025）浙0106刑初88号",
        trigger=Trigger.OTHER.value,
        searched_by="王法官",
        marks=(Mark("a", DecisionLabel.SIMILAR.value, "要件相同"), Mark("b", "非类案", "数额不同")),
    )
    assert DecisionRecord.from_payload(decision.to_payload()) == decision
    report = ReportRecord(
        7, "（2025）浙0106刑初88号", "其他", ("docx", "md"), via="batch", batch=BatchRef("rb", 2)
    )
    assert ReportRecord.from_payload(report.to_payload()) == report


def test_each_kind_names_itself_and_versions_its_payload() -> None:
    records = [
        _search(),
        ExportRecord(via="api", format="jsonl", filters={}, complete=True),
        ExportRecord(via="cli", target="/tmp/audit.jsonl"),
        AccountRecord(action="create_user", user={"name": "王法官"}),
        TokenRecord(action="revoke", token_id="t1", user={"name": "王法官"}),
    ]
    assert [r.kind for r in records] == [
        RecordKind.SEARCH,
        RecordKind.EXPORT,
        RecordKind.EXPORT,
        RecordKind.ACCOUNT,
        RecordKind.TOKEN,
    ]
    assert all(r.to_payload()["schema"] == PAYLOAD_SCHEMA for r in records)
    assert "expires_at" not in TokenRecord(action="revoke", token_id="t1", user={}).to_payload()


def test_casework_fields_read_any_kind_without_raising() -> None:
    fields = CaseworkFields.of(_search().to_payload())
    assert (fields.case_number, fields.trigger, fields.methods, fields.result_count) == (
        "（2025）浙0106刑初88号",
        Trigger.NO_UNIFORM_RULE.value,
        ("keyword", "semantic"),
        2,
    )
    assert fields.result_tiers == (1, None)
    token = CaseworkFields.of(TokenRecord(action="issue", token_id="t", user={}).to_payload())
    assert (token.case_number, token.trigger, token.methods, token.result_count) == (None, None, None, None)
    odd = CaseworkFields.of({"results": "x", "methods": "keyword"})
    assert (odd.result_count, odd.methods, odd.result_tiers) == (None, None, ())


def test_a_payload_of_a_newer_layout_is_refused_not_misread() -> None:
    newer = {**_search().to_payload(), "schema": PAYLOAD_SCHEMA + 1}
    with pytest.raises(InvalidRecord, match="newer"):
        SearchRecord.from_payload(newer)
    with pytest.raises(InvalidRecord, match="newer"):
        DecisionRecord.from_payload({"schema": PAYLOAD_SCHEMA + 1, "search_id": 1, "marks": []})
