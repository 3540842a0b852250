"""当事人 from the header of a judgment: the lines that open with a procedural role.

Judgments list each party on its own line (or, in flattened texts, after a space or 。) as
``ROLE[（original role）][：]NAME，details``; representatives (辩护人, 委托诉讼代理人, 法定代表人 …)
are listed the same way but are not parties, so only known party roles are recognised.
"""

from __future__ import annotations

import re
import unicodedata

from retrieval.document import Party

PARTY_ROLES: tuple[str, ...] = (
    "公诉机关",
    "原公诉机关",
    "抗诉机关",
    "自诉人",
    "被告人",
    "被告单位",
    "原审被告人",
    "原审被告单位",
    "罪犯",
    "附带民事诉讼原告人",
    "附带民事诉讼原告",
    "附带民事诉讼被告人",
    "附带民事诉讼被告",
    "原告",
    "被告",
    "第三人",
    "原审原告",
    "原审被告",
    "原审第三人",
    "原审上诉人",
    "原审被上诉人",
    "原审自诉人",
    "上诉人",
    "被上诉人",
    "申请人",
    "被申请人",
    "再审申请人",
    "申请再审人",
    "申诉人",
    "被申诉人",
    "复议申请人",
    "申请执行人",
    "被执行人",
    "异议人",
    "案外人",
)
"""Roles that make the named person or body a party (公诉机关 included so criminal headers are complete)."""

_ROLE_ALTERNATION = "|".join(sorted(map(re.escape, PARTY_ROLES), key=len, reverse=True))
# A role opens a line or a sentence; an optional bracket gives the earlier role (上诉人（原审被告）).
# A name is spaced out character by character for layout (王 某 某) or runs to the next delimiter.
_PARTY_RE = re.compile(
    rf"(?:^|(?<=[\s。；;]))(?P<role>{_ROLE_ALTERNATION})"
    r"(?:[（(][^）)\n]{0,40}[）)])?[：:]?[ \t\u3000]*(?:自报|自称)?"
    r"(?P<name>(?:[\u4e00-\u9fff][ \t\u3000]+){1,3}[\u4e00-\u9fff](?![^，,。；;（(\s])"
    r"|[^，,。；;（(：:、\s]{1,60})"
)

_ORGANISATION_SUFFIXES = (
    "公司", "厂", "店", "行", "社", "局", "院", "委员会", "中心", "政府", "办事处", "所", "部", "队",
    "站", "场", "会", "馆", "校", "学", "集团", "机关", "银行", "处", "室", "园", "矿",
)  # fmt: skip
_MAX_PERSON_NAME = 6  # longer plain strings are sentence fragments (被告人刘金被抓获归案)
_MAX_FOREIGN_NAME = 30  # 买买提·艾力, JOHN SMITH
_MIN_NAME = 2  # also stops "被告人，" from reading as role 被告 with the name 人
_NOT_NAME_START = "的及对系在因已等均经"  # none is a surname; such a "name" is running text
# Words of the narrative that follows a name when the role opens a sentence instead of a listing
# (原审被告人张三不服，提出上诉 / 被告人李四犯盗窃罪); the party is listed elsewhere anyway.
_NARRATIVE_RE = re.compile(r"不服|犯|因|被|及|等|的|到庭|参加|提出")

_DOT_VARIANTS = str.maketrans({"•": "·", "‧": "·", "・": "·", "･": "·", "∙": "·"})
_EDGE_PUNCTUATION = "，,。.、；;：:！!？?\"'“”‘’《》<>"


def normalise_party_name(name: str) -> str:
    """Comparable form of a name: half-width, no spaces, no surrounding punctuation.

    OCR'd and hand-typed judgments mix full-width letters, stray spaces and trailing commas;
    without this the same party would be counted twice.
    """
    text = unicodedata.normalize("NFKC", name).translate(_DOT_VARIANTS)
    text = "".join(text.split())
    return text.strip(_EDGE_PUNCTUATION)


_ANONYMISED_RE = re.compile(
    r"某"  # 张某, 王某某, 李某甲, 某公司, 刘某1
    r"|[×*○〇]|(?<![A-Za-z])[Xx]{1,3}(?![A-Za-z])"  # 王**, 李××, 张X, XX峰 (masks), not Alex
    r"|^[\u4e00-\u9fff][甲乙丙丁戊己庚辛]\d*$"  # 李甲, 李乙: the ordinal replaces the given name
)


def is_anonymised(name: str) -> bool:
    """Whether a name has been redacted so that it cannot identify anyone by itself.

    Published judgments replace names by 某 forms (张某, 李某甲, 某公司), masks (王××) or a
    surname plus an ordinal (李甲); such names must not be used to link cases by party.
    """
    normalised = normalise_party_name(name)
    return len(normalised) < _MIN_NAME or bool(_ANONYMISED_RE.search(normalised))


def _plausible_name(name: str) -> bool:
    if len(name) < _MIN_NAME or name[0] in _NOT_NAME_START or _NARRATIVE_RE.search(name):
        return False
    if name.endswith(_ORGANISATION_SUFFIXES):
        return True
    if "·" in name or re.search(r"[A-Za-z]", name):
        return len(name) <= _MAX_FOREIGN_NAME
    return len(name) <= _MAX_PERSON_NAME


def extract_parties(header: str) -> list[Party]:
    """Parties listed in ``header`` (the text before the facts), in order, without duplicates.

    For ``上诉人（原审被告人）王某某`` the role is the current one (上诉人). Only the first name
    after a role is taken: a list such as ``原告甲、乙因与…`` is running text, not a listing.
    """
    parties: list[Party] = []
    seen: set[tuple[str, str]] = set()
    for match in _PARTY_RE.finditer(header):
        name = normalise_party_name(match.group("name"))
        role = match.group("role")
        if not _plausible_name(name) or (name, role) in seen:
            continue
        seen.add((name, role))
        parties.append(Party(name=name, role=role))
    return parties
