"""How the criminal outcome parser reads real judgments: LeCaRD candidates, first-instance criminal ones.

    python bench/criminal_outcomes.py [--files N] [--sample K]

Reads the first N candidate files of the LeCaRD archive (archive order, deterministic), keeps the
刑初 judgments, and reports: the share whose outcome kind is read, the kinds, how many carry a
revoked suspension (撤销缓刑), and how many the former word search (``缓刑`` anywhere in the result
→ 缓刑) called 缓刑 although the sentence is executed. ``--sample K`` prints K revoked and K
exempted cases' result clauses (fixed seed) for reading by hand. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tarfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.parsing.criminal_outcome import PenaltyKind, criminal_outcome  # noqa: E402

ARCHIVE = ROOT.parent / "shared" / "data" / "lecard" / "data" / "candidates.tar.xz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--sample", type=int, default=0)
    args = parser.parse_args()
    kinds: Counter[str] = Counter()
    seen: set[str] = set()
    revoked, old_word_wrong, read, total = [], 0, 0, 0
    exempted = []
    with tarfile.open(ARCHIVE, "r:xz") as archive:
        files = 0
        for member in archive:
            if not member.isfile():
                continue
            files += 1
            if files > args.files:
                break
            data = json.load(archive.extractfile(member))
            text, result = data.get("qw") or "", data.get("pjjg") or ""
            if "刑初" not in text[:300] or text in seen:
                continue
            seen.add(text)
            total += 1
            outcome = criminal_outcome(text, result=result or None, reasoning=data.get("cpfxgc") or None)
            kind = outcome.kind
            kinds[kind.value if kind else "未读出"] += 1
            read += kind is not None
            if outcome.lead and outcome.lead.revoked_suspension:
                revoked.append(result)
                old_word_wrong += "缓刑" in result and kind is PenaltyKind.CUSTODIAL
            if kind is PenaltyKind.EXEMPTED:
                exempted.append(result)
    rng = random.Random(7)
    out = {
        "files": args.files,
        "first_instance_criminal": total,
        "kind_read_share": round(read / total, 4) if total else None,
        "kinds": dict(kinds.most_common()),
        "revoked_suspension": len(revoked),
        "revoked_that_word_search_called_suspended": old_word_wrong,
    }
    if args.sample:
        out["revoked_sample"] = rng.sample(revoked, min(args.sample, len(revoked)))
        out["exempted_sample"] = rng.sample(exempted, min(args.sample, len(exempted)))
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
