"""One criminal and one civil 类案检索报告, made as a judge makes them, rendered to PDF and PNG.

    python bench/report_render.py --out DIR [--dpi 70]

Builds the sample corpus into a temporary folder, creates a judge of 浙江省杭州市西湖区人民法院, and
through the HTTP API (in process) searches the first criminal pending case (入户盗窃, a 累犯 question)
and the first civil one (民间借贷 with 预扣利息 and a rate above the ceiling), each with its
争议焦点; marks the first two results 类案 and the last one 非类案; downloads the report as DOCX,
PDF (LibreOffice) and Markdown; and turns each PDF page into a PNG with ``pdftoppm`` (poppler-utils),
for a person to look at: the effect labels, whole-sentence 裁判要点, 未检索到 tiers, 不同之处, the
marks and the conflict section. Needs ``soffice`` and ``pdftoppm`` on PATH.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _common import SAMPLE_INPUTS, SAMPLES  # noqa: E402

COURT = "浙江省杭州市西湖区人民法院"
CASES = {
    "criminal": (
        SAMPLES / "pending" / "pending_cases.jsonl",
        "缺乏明确或统一裁判规则",
        "被告人的行为是否构成入户盗窃，是否应认定为累犯",
    ),
    "civil": (
        SAMPLES / "pending" / "civil_elements_cases.jsonl",
        "拟提交专业法官会议或审委会讨论",
        "预扣的利息是否应从本金中扣除；约定利率是否超过司法保护上限",
    ),
}
MARKS = (("类案", "基本案情与争议焦点相同，法律适用一致"), ("类案", "主要事实相同"))
NOT_SIMILAR = ("非类案", "关键事实不同，争议焦点不同")


def _judge_token(settings: Any) -> str:
    from api.service.accounts import AccountStore, Role
    from retrieval.audit.records import Actor
    from retrieval.audit.store import AuditLog

    accounts = AccountStore(settings.accounts_location)
    with AuditLog(settings.audit_location) as log:

        def record(entry: Any) -> Any:
            return log.record(Actor("report-render", "operator"), "cli", entry)

        accounts.create_user("王法官", Role.JUDGE, COURT, record)
        token = accounts.issue_token("王法官", None, record)[1]
    accounts.close()
    return token


def render(out: Path, dpi: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from api.http.app import create_app
    from api.service.config import Settings
    from index_build.build import BuildOptions, build
    from retrieval.audit.signing import generate_key

    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="leian-render-"))
    build(BuildOptions(inputs=SAMPLE_INPUTS, home=root / "index", progress=False))
    key = root / "keys" / "signing.pem"
    key.parent.mkdir()
    generate_key(key)
    settings = Settings(
        index_home=root / "index",
        data_dir=root / "data",
        signing_key=key,
        create_signing_key=False,
        rate_limit=None,
    )
    settings.data_dir.mkdir()
    headers = {"Authorization": f"Bearer {_judge_token(settings)}"}
    summary: dict[str, Any] = {}
    with TestClient(create_app(settings)) as client:
        for name, (pending_file, trigger, focus) in CASES.items():
            pending = json.loads(pending_file.read_text("utf-8").splitlines()[0])
            body = {
                "case_number": pending["case_number"],
                "trigger": trigger,
                "facts": pending["facts"],
                "charges": pending.get("charges") or pending.get("causes") or [],
                "dispute_focus": focus,
            }
            answer = client.post("/api/v1/searches", json=body, headers=headers)
            answer.raise_for_status()
            found = answer.json()
            results = [r for tier in found["tiers"] for r in tier["results"]]
            marks = [
                {"doc_id": r["doc_id"], "label": label, "reason": reason}
                for r, (label, reason) in zip(results, MARKS, strict=False)
            ]
            if len(results) > len(MARKS):
                marks.append(
                    {"doc_id": results[-1]["doc_id"], "label": NOT_SIMILAR[0], "reason": NOT_SIMILAR[1]}
                )
            client.post(
                f"/api/v1/searches/{found['search_id']}/decisions", json={"marks": marks}, headers=headers
            ).raise_for_status()
            for fmt in ("docx", "pdf", "md"):
                report = client.get(
                    f"/api/v1/searches/{found['search_id']}/report", params={"format": fmt}, headers=headers
                )
                report.raise_for_status()
                (out / f"{name}.{fmt}").write_bytes(report.content)
            subprocess.run(
                ["pdftoppm", "-png", "-r", str(dpi), str(out / f"{name}.pdf"), str(out / name)], check=True
            )
            summary[name] = {
                "case_number": body["case_number"],
                "results": [(r["doc_id"], r["tier"], r["effect"]) for r in results],
                "marks": [(m["doc_id"], m["label"]) for m in marks],
                "empty_tiers": [t.get("tier") for t in found.get("no_similar_case", [])],
                "pages": len(sorted(out.glob(f"{name}-*.png"))),
            }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dpi", type=int, default=70)
    args = parser.parse_args(argv)
    print(json.dumps(render(args.out, args.dpi), ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
