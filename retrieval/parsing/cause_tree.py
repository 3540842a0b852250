"""The 案由 tree: 《民事案件案由规定》 (2020) and 《关于行政案件案由的暂行规定》 (2020) with parent links.

Similar-case matching needs more than equal names: a 保证合同纠纷 precedent is a 合同纠纷 precedent,
and a 2015 judgment filed as 网络购物合同纠纷 is a 信息网络买卖合同纠纷 case under the 2020 names. The
tree (``retrieval/resources/cause_tree.txt``, sources in its header) gives each cause its level,
number and parent; its ``[历史名称]`` section maps names of earlier versions to the 2020 ones.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import numpy as np
import scipy.sparse as sp

_RESOURCE = "cause_tree.txt"
_PART = re.compile(r"^第([一二三四五六七八九十]+)部分\s*(\S+)$")
_CLASS = re.compile(r"^([一二三四五六七八九十]+)、\s*(\S+)$")
_THIRD = re.compile(r"^(\d+)\.\s*(\S+)$")
_FOURTH = re.compile(r"^（(\d+)）\s*(\S+)$")
_FORMER = re.compile(r"^(\S+)\s*→\s*(\S+)$")
SYSTEMS = ("民事", "行政")


@dataclass(frozen=True)
class CauseNode:
    """One 案由 of the tree.

    ``level``: 1 部分 (行政: 一级), 2 大类 (第二级; 行政: 二级), 3 第三级, 4 第四级. ``number`` as the
    规定 prints it: 第一部分, 一, 103, 103（3）. ``parent`` is the name of the node above, or None.
    """

    name: str
    system: str
    level: int
    number: str
    parent: str | None


@dataclass(frozen=True)
class CauseTree:
    """All nodes by name (a name printed at two levels, 人格权纠纷, keeps the deeper node) and the
    historical names (历史名称) with the 2020 name each maps to."""

    nodes: dict[str, CauseNode]
    former: dict[str, str]
    entries: tuple[CauseNode, ...]  # every line of the 规定, in order, repeated names included

    def lineage(self, name: str) -> tuple[str, ...]:
        """``name`` and its ancestors, nearest first; empty when ``name`` is not a node."""
        chain: list[str] = []
        node = self.nodes.get(name)
        while node is not None and node.name not in chain:
            chain.append(node.name)
            node = self.nodes.get(node.parent) if node.parent else None
        return tuple(chain)

    def canonical(self, name: str) -> str | None:
        """The 2020 node ``name`` stands for, directly or as a historical name, or None."""
        if name in self.nodes:
            return name
        target = self.former.get(name)
        return target if target in self.nodes else None


def _node_line(line: str) -> tuple[int, re.Match[str] | None]:
    """The level a line's numbering marks (第一部分 / 一、 / 1. / （1）) and its match."""
    for level, pattern in enumerate((_PART, _CLASS, _THIRD, _FOURTH), start=1):
        match = pattern.match(line)
        if match:
            return level, match
    return 0, None


def _parse(text: str) -> CauseTree:
    nodes: dict[str, CauseNode] = {}
    entries: list[CauseNode] = []
    former: dict[str, str] = {}
    section = ""
    stack: dict[int, str] = {}  # level → the latest node name at that level
    third_number = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section, stack = line[1:-1], {}
            continue
        if section == "历史名称":
            match = _FORMER.match(line)
            if not match:
                raise ValueError(f"{_RESOURCE}: bad 历史名称 line {raw!r}")
            former[match[1]] = match[2]
            continue
        if section not in SYSTEMS:
            raise ValueError(f"{_RESOURCE}: line outside a section: {raw!r}")
        level, match = _node_line(line)
        if match is None:
            raise ValueError(f"{_RESOURCE}: unreadable line {raw!r}")
        number, name = match[1], match[2]
        if section == "行政":
            level -= 1  # the 行政 规定 has no 部分: its 一级 is printed "一、", its 二级 "1."
        if level == 1:
            number = f"第{number}部分"
        elif level == 3:
            third_number = number
        elif level == 4:
            number = f"{third_number}（{number}）"
        parent = next((stack[lv] for lv in range(level - 1, 0, -1) if lv in stack), None)
        stack = {lv: n for lv, n in stack.items() if lv < level} | {level: name}
        previous = nodes.get(name)
        if parent == name and previous is not None:  # 不当得利纠纷 under 十一、不当得利纠纷
            parent = previous.parent
        node = CauseNode(name, section, level, number, parent)
        entries.append(node)
        if previous is None or previous.level < level:
            nodes[name] = node
    return CauseTree(nodes, former, tuple(entries))


@cache
def load_cause_tree() -> CauseTree:
    """The 案由 tree from ``retrieval/resources/cause_tree.txt``."""
    text = resources.files("retrieval").joinpath("resources", _RESOURCE).read_text(encoding="utf-8")
    return _parse(text)


_AFFINITY_CACHE_SIZE = 65536
"""A search's rerank compares its few causes with those of a hundred candidates: a few hundred pairs."""


@lru_cache(maxsize=_AFFINITY_CACHE_SIZE)  # a pure function of two names over the fixed tree
def cause_affinity(a: str, b: str) -> float:
    """How far a precedent filed under ``b`` serves a case under ``a``: 1 for the same 案由, 0.5 for a
    parent or child (民间借贷纠纷 and 借款合同纠纷), 0.25 two levels apart within one 大类 (民间借贷纠纷
    and 合同纠纷), else 0. Names are taken as normalised; names outside the tree (罪名) only match
    themselves, so criminal ranking is unchanged."""
    if a == b:
        return 1.0
    tree = load_cause_tree()
    up_a, up_b = tree.lineage(a), tree.lineage(b)
    for near, far in ((up_a, b), (up_b, a)):
        if far in near:
            distance = near.index(far)
            node = tree.nodes[far]
            if distance == 1 and node.level >= 2:
                return 0.5
            if distance == 2 and node.level >= 2:
                return 0.25
    return 0.0


def is_civil_cause(name: str) -> bool:
    """Whether ``name`` (normalised, or a historical name) is a 案由 of the civil tree."""
    tree = load_cause_tree()
    canonical = tree.canonical(name)
    return canonical is not None and tree.nodes[canonical].system == "民事"


def _name_parts(name: str) -> list[str]:
    """A 案由's distinctive wording: the name less its 纠纷 suffix, split at 、 (生命权、身体权、健康权)."""
    core = name[: -len("纠纷")] if name.endswith("纠纷") else name
    return [part for part in re.split(r"[、，,]", core) if part]


def _bigrams(parts: list[str]) -> set[str]:
    return {part[i : i + 2] for part in parts for i in range(len(part) - 1)}


@cache
def _name_bigram_matrix(system: str) -> tuple[tuple[str, ...], dict[str, int], sp.csc_matrix]:
    """The 第二级-and-below causes of ``system``, a bigram vocabulary, and a (causes × bigrams) matrix
    of each name's bigrams weighted ln(causes / causes whose name holds it), rows summing to 1:
    合同 or 责任, in hundreds of names, says little; 代位 or 抚养 says much."""
    tree = load_cause_tree()
    grams_of = {
        name: _bigrams(_name_parts(name))
        for name, node in tree.nodes.items()
        if node.system == system and node.level >= 2
    }
    df: dict[str, int] = {}
    for grams in grams_of.values():
        for gram in grams:
            df[gram] = df.get(gram, 0) + 1
    vocabulary = {gram: i for i, gram in enumerate(sorted(df))}
    names = tuple(grams_of)
    matrix = np.zeros((len(names), len(vocabulary)), dtype=np.float64)
    for row, name in enumerate(names):
        for gram in grams_of[name]:
            matrix[row, vocabulary[gram]] = math.log(len(names) / df[gram])
    totals = matrix.sum(axis=1, keepdims=True)
    matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    return names, vocabulary, sp.csc_matrix(matrix)


def name_coverage_vector(text: str, system: str = "民事") -> tuple[tuple[str, ...], np.ndarray]:
    """``name_coverage`` as the causes in a fixed order and an array (what the predictor adds up)."""
    names, vocabulary, matrix = _name_bigram_matrix(system)
    compact = "".join(text.split())
    hits = sorted(
        vocabulary[g] for g in {compact[i : i + 2] for i in range(len(compact) - 1)} if g in vocabulary
    )
    return names, np.asarray(matrix[:, hits].sum(axis=1), dtype=np.float64).ravel()


def name_coverage(text: str, system: str = "民事") -> dict[str, float]:
    """How much of each cause's name the text holds (0–1): the weighted share of the name's character
    bigrams found in ``text``, for every cause of ``system`` at 第二级 or below.

    Evidence for a cause predictor, not a verdict: facts about an insurer's subrogation mention 保险,
    代位 and 赔偿 whatever they are filed under, and facts rarely name their own 案由. A cause the
    training data never showed can still be proposed on its name.
    """
    names, coverage = name_coverage_vector(text, system)
    return dict(zip(names, coverage.tolist(), strict=True))
