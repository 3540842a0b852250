"""Synthetic judgments for scale benchmarks, recombined from real LeCaRD and CAIL2018 texts.

    python bench/scale_corpus.py --n 100000 [--seed 13] [--out build/scale/syn-100k.jsonl]
    python bench/scale_corpus.py --n 1000000 --out build/scale/syn-1m/part.jsonl.gz --shards 8

Each synthetic criminal judgment takes a real same-charge case as its skeleton: its fact sentences,
about half of them swapped for sentences of other cases on the same charge (LeCaRD facts and
CAIL2018 facts), the reasoning and result of one more same-charge LeCaRD case, new defendants,
event years shifted together, and a header, 案号 and signature date of a real court name (the
2016 案号 scheme of ``retrieval.parsing``), so the build parses it like a real one. Lengths and
vocabulary are those of the sources. Every document is labelled: ``doc_id`` ``SYN-<seed>-<n>``,
``source`` ``synthetic:…`` and ``"synthetic": true``.

Document ``i`` depends only on (seed, i) and the sources, so a corpus is reproducible and can be
generated in parallel chunks. Output is streamed; nothing is held beyond the source pools.
An ``--out`` ending in ``.gz`` is gzip (level 1 by default, compressed in the workers, one gzip
member per chunk: 3.0× smaller, 12 KB a judgment, which lets 1M sit on disk beside their index);
``--shards K`` writes K files ``<stem>-<k>.jsonl[.gz]`` beside ``--out``, documents in order, for
the build to read as one folder. Every file is written as ``.partial`` and renamed only once all
are complete, so a folder never holds a cut-off corpus. Never commit the output (``build/`` is
ignored).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import multiprocessing
import random
import re
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(REPO / "bench") not in sys.path:
    sys.path.append(str(REPO / "bench"))  # for _common; appended, shadows nothing

from _common import LECARD_ARCHIVE, SHARED_DATA  # noqa: E402

from index_build.readers import cail, lecard  # noqa: E402
from retrieval.document import Document  # noqa: E402
from retrieval.parsing.courts import PROVINCES  # noqa: E402

DEFAULT_LECARD = LECARD_ARCHIVE
DEFAULT_CAIL = SHARED_DATA / "cail2018-sample" / "data" / "data_test.json"
DOC_PREFIX = "SYN-"
DEFENDANT_ROLES = ("被告人", "原审被告人", "上诉人", "罪犯")
KEEP_SHARE = 0.5  # share of the skeleton's fact sentences kept; the rest come from same-charge cases
MIN_DONORS = 2  # a charge needs this many full LeCaRD judgments to lend reasoning and results

_SENTENCE = re.compile(r"[^。！？；]*[。！？；]|[^。！？；]+$")
_YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?=\s*年)")
_PROSECUTOR_AT_START = re.compile(r"^\s*[^，。：；]{0,30}?人民检察院(?=指控)")
_PLACEHOLDER = re.compile("\x01([0-9])")
_ARABIC_TO_CHINESE = str.maketrans("0123456789", "〇一二三四五六七八九")

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力国春海林波宁鹏飞斌宇浩凯俊峰志东成晓云龙德庆祥荣福生贵有才金"
ETHNICITIES = ("汉族",) * 12 + ("回族", "壮族", "满族", "苗族", "土家族", "彝族")
EDUCATION = ("小学文化", "初中文化", "初中文化", "高中文化", "中专文化", "大专文化", "文盲")
OCCUPATIONS = ("无业", "无业", "农民", "务工", "个体经营者", "司机", "公司职员")


@dataclass
class ChargePool:
    """Everything of one charge (first 罪名) that synthetic cases borrow."""

    sentences: list[str] = field(default_factory=list)  # fact sentences, defendants as placeholders
    skeletons: list[tuple[int, int, int]] = field(default_factory=list)  # (first, end, defendants)
    donors: list[tuple[str, str, list[str], list[str]]] = field(default_factory=list)
    # donor: (reasoning, result, causes, article keys), defendants as placeholders


@dataclass
class Sources:
    charges: list[str]  # sorted, so the choice of a charge is reproducible
    weights: list[int]  # LeCaRD documents per charge: the charge mix of the real corpus

    pools: dict[str, ChargePool]
    courts: list[tuple[str, str, str, str]]  # (name, level, province, 法院代字)
    cumulative: list[int] = field(init=False)  # running sums of ``weights``, for random.choices

    def __post_init__(self) -> None:
        self.cumulative = list(itertools.accumulate(self.weights))


def _masked(text: str, names: list[str]) -> str:
    for k, name in enumerate(names[:9]):
        text = text.replace(name, f"\x01{k}")
    return text


def _defendants(doc: Document) -> list[str]:
    names = [p.name for p in doc.parties if p.role in DEFENDANT_ROLES and len(p.name) >= 2]
    return sorted(dict.fromkeys(names), key=len, reverse=True)  # 张某某 before 张某


def _add_facts(pool: ChargePool, facts: str, names: list[str]) -> None:
    sentences = [s for s in _SENTENCE.findall(_masked(facts, names)) if s.strip()]
    if sentences:
        first = len(pool.sentences)
        pool.sentences.extend(sentences)
        pool.skeletons.append((first, len(pool.sentences), max(1, min(3, len(names)))))


def _court_code(name: str, level: str, province: str) -> str | None:
    high = next((p.court_code for p in PROVINCES if p.name == province), None)
    if high is None:
        return None
    digits = zlib.crc32(name.encode()) % (100 if level == "中级" else 10000)
    return f"{high}{digits:02d}" if level == "中级" else f"{high}{digits:04d}"


def load_sources(
    lecard_path: Path = DEFAULT_LECARD, cail_path: Path | None = DEFAULT_CAIL, max_lecard: int | None = None
) -> Sources:
    """Read the real judgments once (LeCaRD archive in place, ~15 s for all 9,088)."""
    pools: dict[str, ChargePool] = {}
    counts: dict[str, int] = {}
    courts: dict[str, tuple[str, str, str, str]] = {}
    for n, item in enumerate(lecard.read(Path(lecard_path))):
        if max_lecard is not None and n >= max_lecard:
            break
        if not isinstance(item, Document) or not item.causes or not item.sections.facts:
            continue
        charge = item.causes[0]
        pool = pools.setdefault(charge, ChargePool())
        names = _defendants(item)
        _add_facts(pool, item.sections.facts, names)
        if item.sections.reasoning and item.sections.result and names:
            articles = [a.key() for a in item.articles]
            pool.donors.append(
                (
                    _masked(item.sections.reasoning, names),
                    _masked(item.sections.result, names),
                    list(item.causes),
                    articles,
                )
            )
            counts[charge] = counts.get(charge, 0) + 1
        court = item.court
        if court and court.level and court.level.value in ("基层", "中级") and court.province:
            code = _court_code(court.name, court.level.value, court.province)
            if code:
                courts[court.name] = (court.name, court.level.value, court.province, code)
    if cail_path is not None:
        for item in cail.read(Path(cail_path)):
            if isinstance(item, Document) and item.causes and item.causes[0] in pools:
                _add_facts(pools[item.causes[0]], item.sections.facts, _defendants(item))
    charges = sorted(c for c, n in counts.items() if n >= MIN_DONORS)
    if not charges or not courts:
        raise ValueError("the sources gave no charge with enough full judgments, or no court")
    return Sources(
        charges=charges,
        weights=[counts[c] for c in charges],
        pools={c: pools[c] for c in charges},
        courts=[courts[name] for name in sorted(courts)],
    )


@dataclass(frozen=True)
class CaseRecipe:
    """The random choices behind one synthetic judgment; ``render`` turns them into text."""

    index: int
    charge: str
    fact_sentences: tuple[int, ...]  # indexes into the charge pool's sentences
    donor: int
    defendants: tuple[str, ...]
    court: tuple[str, str, str, str]
    year_shift: int
    decision: tuple[int, int, int]
    sequence: int
    people: tuple[
        tuple[str, str, str, str, int, int, int], ...
    ]  # sex, ethnicity, education, occupation, born
    judges: tuple[str, str, str, str]


def _person(rng: random.Random) -> str:
    surname = rng.choice(SURNAMES)
    if rng.random() < 0.3:  # anonymised names, as many published judgments print them
        return surname + rng.choice(("某", "某某", "某甲"))
    return surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def recipe(sources: Sources, seed: int, index: int) -> CaseRecipe:
    """The choices for document ``index``: a function of (seed, index) and the sources only."""
    rng = random.Random(f"{seed}:{index}")
    charge = rng.choices(sources.charges, cum_weights=sources.cumulative)[0]
    pool = sources.pools[charge]
    first, end, n_defendants = rng.choice(pool.skeletons)
    picked = [
        s if s == first or rng.random() < KEEP_SHARE else rng.randrange(len(pool.sentences))
        for s in range(first, end)
    ]
    years = [int(y) for s in picked for y in _YEAR.findall(pool.sentences[s])]
    latest = max(years) if years else 2015
    shift = rng.randint(-1, 4)  # every year of the text moves together, so the story stays coherent
    decided = latest + shift + rng.choice((0, 1, 1, 2))
    clipped = max(2016, min(2024, decided))  # the 2016 案号 scheme, and no decision in the future
    shift, decided = shift + clipped - decided, clipped
    defendants: list[str] = []
    while len(defendants) < n_defendants:
        name = _person(rng)
        if name not in defendants:
            defendants.append(name)
    people = tuple(
        (
            rng.choice(("男", "男", "男", "女")),
            rng.choice(ETHNICITIES),
            rng.choice(EDUCATION),
            rng.choice(OCCUPATIONS),
            decided - rng.randint(19, 60),
            rng.randint(1, 12),
            rng.randint(1, 28),
        )
        for _ in defendants
    )
    return CaseRecipe(
        index=index,
        charge=charge,
        fact_sentences=tuple(picked),
        donor=rng.randrange(len(pool.donors)),
        defendants=tuple(defendants),
        court=rng.choice(sources.courts),
        year_shift=shift if years else 0,
        decision=(decided, rng.randint(1, 12), rng.randint(1, 28)),
        sequence=rng.randint(1, 2999),
        people=people,
        judges=(_person(rng), _person(rng), _person(rng), _person(rng)),
    )


def _chinese_number(n: int) -> str:
    """1–31 as a date prints it (十二, 二十八)."""
    tens, ones = divmod(n, 10)
    digits = "〇一二三四五六七八九"
    head = "" if tens == 0 else ("十" if tens == 1 else digits[tens] + "十")
    return head + (digits[ones] if ones else "") if n >= 10 else digits[n]


def _prosecutor(court_name: str) -> str:
    if court_name.endswith("中级人民法院"):
        return court_name.removesuffix("中级人民法院") + "人民检察院"
    return court_name.removesuffix("人民法院") + "人民检察院"


def render(sources: Sources, case: CaseRecipe, seed: int) -> dict:
    """The synthetic judgment as the project's JSON Lines record (plus ``"synthetic": true``)."""
    pool = sources.pools[case.charge]
    names = case.defendants

    def fill(text: str) -> str:
        text = _PLACEHOLDER.sub(lambda m: names[int(m.group(1)) % len(names)], text)
        if case.year_shift:
            text = _YEAR.sub(lambda m: str(int(m.group(1)) + case.year_shift), text)
        return text

    court_name, level, province, code = case.court
    prosecutor = _prosecutor(court_name)
    facts = fill("".join(pool.sentences[s] for s in case.fact_sentences)).strip()
    facts = _PROSECUTOR_AT_START.sub(prosecutor, facts, count=1)
    reasoning, result, causes, articles = pool.donors[case.donor]
    reasoning, result = fill(reasoning).strip(), fill(result).strip()
    if not reasoning.endswith(("如下：", "如下:")):
        reasoning += "判决如下："
    year, month, day = case.decision
    case_number = f"（{year}）{code}刑初{case.sequence}号"
    charge_text = "、".join(causes)
    listing = []
    for name, (sex, ethnicity, education, occupation, born, b_month, b_day) in zip(
        names, case.people, strict=True
    ):
        listing.append(
            f"被告人{name}，{sex}，{born}年{b_month}月{b_day}日出生，"
            f"{ethnicity}，{education}，{occupation}。因涉嫌犯{charge_text}于{year - 1}年被刑事拘留，"
            f"同年被依法逮捕。"
        )
    header = "\n".join(
        [
            court_name,
            "刑事判决书",
            case_number,
            f"公诉机关{prosecutor}。",
            *listing,
            f"{prosecutor}以起诉书指控被告人{'、'.join(names)}犯{charge_text}，向本院提起公诉。"
            "本院依法组成合议庭，公开开庭审理了本案。现已审理终结。",
        ]
    )
    chief, judge, juror, clerk = case.judges
    date_text = (
        f"{str(year).translate(_ARABIC_TO_CHINESE)}年{_chinese_number(month)}月{_chinese_number(day)}日"
    )
    signature = f"审判长　{chief}\n审判员　{judge}\n人民陪审员　{juror}\n{date_text}\n书记员　{clerk}"
    title_causes = "、".join(c.removesuffix("罪") for c in causes)
    return {
        "doc_id": f"{DOC_PREFIX}{seed}-{case.index:07d}",
        "title": f"{names[0]}{title_causes}一审刑事判决书",
        "case_number": case_number,
        "court": {"name": court_name, "level": level, "province": province},
        "doc_type": "判决书",
        "category": "刑事",
        "decision_date": f"{year:04d}-{month:02d}-{day:02d}",
        "causes": causes,
        "articles": articles,
        "parties": [{"name": prosecutor, "role": "公诉机关"}]
        + [{"name": n, "role": "被告人"} for n in names],
        "sections": {"facts": facts, "reasoning": reasoning, "result": result},
        "full_text": "\n".join([header, facts, reasoning, result, signature]),
        "source": f"synthetic:bench/scale_corpus.py seed={seed} (recombined LeCaRD/CAIL2018 sentences)",
        "synthetic": True,
        "schema_version": 1,
    }


_WORKER_SOURCES: Sources | None = None
GZIP_LEVEL = 1  # 3.0x smaller for 0.3 ms CPU a judgment; level 6: 3.6x for 1.1 ms (rendering: ~1 ms)


def _render_chunk(args: tuple[int, int, int]) -> list[str]:
    seed, start, stop = args
    assert _WORKER_SOURCES is not None
    return [
        json.dumps(render(_WORKER_SOURCES, recipe(_WORKER_SOURCES, seed, i), seed), ensure_ascii=False)
        for i in range(start, stop)
    ]


def _render_chunk_gzip(args: tuple[int, int, int, int]) -> bytes:
    """One chunk as one gzip member (mtime 0: reproducible); concatenated members are one gzip file."""
    *chunk, level = args
    text = "".join(line + "\n" for line in _render_chunk(tuple(chunk)))
    return gzip.compress(text.encode("utf-8"), compresslevel=level, mtime=0)


def _chunks(seed: int, start: int, stop: int, chunk: int) -> list[tuple[int, int, int]]:
    return [(seed, first, min(stop, first + chunk)) for first in range(start, stop, chunk)]


def _mapped(render_chunk, chunks: list[tuple[int, int, int]], workers: int) -> Iterator:
    if workers <= 1:
        yield from map(render_chunk, chunks)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(render_chunk, chunks)


def generate_lines(sources: Sources, n: int, seed: int, workers: int = 1, chunk: int = 500) -> Iterator[str]:
    """JSON lines of documents 0..n-1 in order; ``workers`` > 1 forks that many renderers."""
    global _WORKER_SOURCES
    _WORKER_SOURCES = sources
    for lines in _mapped(_render_chunk, _chunks(seed, 0, n, chunk), workers):
        yield from lines


def shard_paths(out: Path, shards: int) -> list[Path]:
    """``out`` itself, or K files ``<stem>-<k>.jsonl[.gz]`` in its folder (zero-padded: name order)."""
    if shards <= 1:
        return [out]
    suffix = ".jsonl.gz" if out.name.endswith(".gz") else ".jsonl"
    stem = out.name.split(".")[0]
    width = len(str(shards - 1))
    return [out.with_name(f"{stem}-{k:0{width}d}{suffix}") for k in range(shards)]


def write_corpus(
    sources: Sources,
    n: int,
    seed: int,
    out: Path,
    shards: int = 1,
    workers: int = 1,
    chunk: int = 500,
    level: int = GZIP_LEVEL,
) -> list[Path]:
    """Documents 0..n-1 into ``shard_paths(out, shards)`` (contiguous ranges, in order); the paths.

    All files are renamed from ``.partial`` only after the last is complete.
    """
    global _WORKER_SOURCES
    _WORKER_SOURCES = sources
    paths = shard_paths(out, shards)
    stale = _stale_shards(out, paths) if shards > 1 else []
    if stale:
        raise FileExistsError(f"other shards of {out.name} are in {out.parent}: remove {stale[0].name} …")
    level_if_gzip = level if out.name.endswith(".gz") else None
    temps = [path.with_name(path.name + ".partial") for path in paths]
    bounds = [n * k // len(paths) for k in range(len(paths) + 1)]
    try:
        for temp, start, stop in zip(temps, bounds, bounds[1:], strict=False):
            _write_file(temp, _chunks(seed, start, stop, chunk), level_if_gzip, workers)
    except BaseException:
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    for temp, path in zip(temps, paths, strict=True):
        temp.replace(path)
    return paths


def _write_file(path: Path, chunks: list[tuple[int, int, int]], level: int | None, workers: int) -> None:
    with path.open("wb") as handle:
        if level is not None:
            for member in _mapped(_render_chunk_gzip, [(*c, level) for c in chunks], workers):
                handle.write(member)
        else:
            for lines in _mapped(_render_chunk, chunks, workers):
                handle.write("".join(line + "\n" for line in lines).encode("utf-8"))


def _stale_shards(out: Path, paths: list[Path]) -> list[Path]:
    """Shards of another K left in the folder: read with these, they would mix two corpora."""
    stem = out.name.split(".")[0]
    pattern = re.compile(re.escape(stem) + r"-[0-9]+\.jsonl(?:\.gz)?")
    if not out.parent.is_dir():
        return []
    return sorted(p for p in out.parent.iterdir() if pattern.fullmatch(p.name) and p not in paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, required=True, help="number of judgments")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, help="default build/scale/syn-<n>-s<seed>.jsonl; .gz: gzip")
    parser.add_argument("--shards", type=int, default=1, help="K files <stem>-<k>.jsonl[.gz] beside --out")
    parser.add_argument("--gzip-level", type=int, default=GZIP_LEVEL, help="for an --out ending in .gz")
    parser.add_argument("--lecard", type=Path, default=DEFAULT_LECARD)
    parser.add_argument("--cail", type=Path, default=DEFAULT_CAIL)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    out = args.out or REPO / "build" / "scale" / f"syn-{args.n}-s{args.seed}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sources = load_sources(args.lecard, args.cail)
    loaded = time.perf_counter() - started
    paths = write_corpus(sources, args.n, args.seed, out, args.shards, args.workers, level=args.gzip_level)
    total = time.perf_counter() - started
    size = sum(path.stat().st_size for path in paths)
    print(
        json.dumps(
            {
                "out": str(paths[0]) if len(paths) == 1 else str(out.parent),
                "files": len(paths),
                "documents": args.n,
                "seed": args.seed,
                "charges": len(sources.charges),
                "courts": len(sources.courts),
                "load_sources_s": round(loaded, 1),
                "seconds": round(total, 1),
                "docs_per_second": round(args.n / max(total - loaded, 1e-9)),
                "bytes": size,
                "bytes_per_doc": round(size / max(args.n, 1)),
                "gzip_level": args.gzip_level if out.name.endswith(".gz") else None,
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
