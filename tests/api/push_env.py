"""A mutable sample index, a service over a data folder, and a local webhook receiver for the push tests."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from api.service.accounts import AccountStore, Principal, Role
from api.service.config import Settings
from api.service.metrics import Metrics
from api.service.push.service import PushService, PushSettings
from api.service.push.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from api.service.runtime import Services
from retrieval.audit.records import Actor, TypedRecord
from retrieval.audit.store import AuditLog

COURT = "浙江省杭州市西湖区人民法院"
THEFT = {
    "case_number": "（2025）浙0106刑初88号",
    "facts": (
        "2024年9月至11月，被告人俞某某先后三次在杭州市西湖区蒋村街道等地，采用攀爬雨水管道、撬窗等方式进入"
        "居民住宅，窃取现金、黄金首饰、名表等财物，价值共计人民币98600元。俞某某曾于2019年因犯盗窃罪被判处"
        "有期徒刑二年，2021年3月刑满释放。到案后如实供述了犯罪事实，退赔部分赃款。"
    ),
    "causes": ["盗窃罪"],
}
NEW_GUIDING = {
    "doc_id": "guiding-904-test",
    "title": "俞某盗窃案（指导性案例904号，测试用虚构案例）",
    "case_number": "（2024）浙01刑终777号",
    "court": {"name": "浙江省杭州市中级人民法院", "level": "中级", "province": "浙江省"},
    "doc_type": "判决书",
    "category": "刑事",
    "decision_date": "2024-12-01",
    "causes": ["盗窃罪"],
    "articles": ["刑法 第264条"],
    "sections": {
        "facts": (
            "被告人俞某于夜间攀爬居民楼雨水管道，撬开窗户进入居民住宅，窃取现金、黄金首饰、手表等财物，"
            "价值共计人民币九万余元。案发后被告人如实供述，退赔部分赃款。被告人曾因盗窃罪被判处有期徒刑。"
        ),
        "reasoning": "本院认为，被告人以非法占有为目的，入户盗窃他人财物，数额巨大，其行为构成盗窃罪。",
        "result": "被告人犯盗窃罪，判处有期徒刑五年。",
    },
    "full_text": "被告人俞某入户盗窃，数额巨大，构成盗窃罪。",
    "authority": {"kind": "指导性案例", "number": "904", "published": "2025-01-10", "withdrawn": False},
    "holding": "攀爬管道进入居民住宅窃取财物的，属于入户盗窃。",
}
UNRELATED = {
    "doc_id": "unrelated-divorce-test",
    "title": "王某与李某离婚纠纷一审民事判决书",
    "case_number": "（2024）川0107民初999号",
    "court": {"name": "四川省成都市武侯区人民法院", "level": "基层", "province": "四川省"},
    "doc_type": "判决书",
    "category": "民事",
    "decision_date": "2024-10-01",
    "causes": ["离婚纠纷"],
    "articles": ["民法典 第1079条"],
    "sections": {
        "facts": "原告王某与被告李某于2015年登记结婚，婚后因生活琐事经常争吵，2022年起分居至今，原告诉请离婚。",
        "reasoning": "本院认为，原、被告感情确已破裂，应准予离婚。",
        "result": "准予原告王某与被告李某离婚。",
    },
    "full_text": "原告王某与被告李某离婚纠纷一案。",
}


def fresh_index(template: Path, target: Path) -> Path:
    """A copy of a built index home that a test may add to and withdraw from."""
    shutil.copytree(template, target, symlinks=True)
    return target


def write_jsonl(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    return path


def make_accounts(settings: Settings) -> None:
    accounts = AccountStore(settings.accounts_location)
    with AuditLog(settings.audit_location) as log:

        def record(entry: TypedRecord) -> object:
            return log.record(Actor("test-operator", "operator"), "cli", entry)

        for name, role, court in (
            ("judge_a", Role.JUDGE, COURT),
            ("judge_a2", Role.JUDGE, COURT),
            ("president_a", Role.PRESIDENT, COURT),
            ("auditor_a", Role.AUDITOR, COURT),
            ("judge_b", Role.JUDGE, "江苏省苏州市姑苏区人民法院"),
        ):
            if accounts.user(name) is None:
                accounts.create_user(name, role, court, record)
    accounts.close()


def principal(services: Services, name: str) -> Principal:
    user = services.accounts.user(name)
    assert user is not None
    return Principal(user, "test")


@contextmanager
def push_service(settings: Settings, **overrides: Any) -> Iterator[PushService]:
    """Services and a push service without threads (tests drive matching and delivery)."""
    services = Services.start(settings, Metrics())
    push = PushService(
        services,
        PushSettings(**{"poll_s": 0, "retry_base_s": 0.05, "webhook_allow": ("127.0.0.1",), **overrides}),
    )
    try:
        yield push
    finally:
        push.close()
        services.close()


@dataclass
class Receiver:
    """A court's case-management system: answers with ``statuses`` in turn (then 200), checks signatures."""

    secret: str | None = None
    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    delay_s: float = 0.0  # how long each answer takes (a slow system: deliverers overlap)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(receiver.delay_s)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    ok = receiver.secret is not None and verify(
                        self.headers.get(SIGNATURE_HEADER, ""),
                        receiver.secret,
                        self.headers.get(TIMESTAMP_HEADER, ""),
                        body,
                    )
                    if not ok:
                        receiver.bad_signatures += 1
                        status = 401
                    else:
                        receiver.received.append(
                            {"key": self.headers.get(IDEMPOTENCY_HEADER), "body": json.loads(body)}
                        )
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
