"""Search filters as boolean masks over rows, from per-row attribute arrays loaded once at start-up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from retrieval.citation import missing_for_citation
from retrieval.metadata import MetadataStore
from retrieval.parsing.causes import normalise_cause
from retrieval.parsing.courts import PROVINCES
from retrieval.request import SearchFilters

_UNKNOWN = 0


def province_name(value: str) -> str:
    """浙江 / 浙 / 浙江省 → 浙江省, the form the metadata stores."""
    value = value.strip()
    for province in PROVINCES:
        if value in (province.name, province.short, province.abbr):
            return province.name
    return value


@dataclass
class RowAttributes:
    """Columns of the metadata that filters need, as arrays indexed by row."""

    doc_ids: list[str]
    row_of: dict[str, int]
    level: np.ndarray  # int8 code into levels
    province: np.ndarray  # int16 code into provinces
    category: np.ndarray  # int8 code into categories
    date: np.ndarray  # int32 proleptic ordinal, 0 when unknown
    levels: dict[str, int]
    provinces: dict[str, int]
    categories: dict[str, int]
    citable: np.ndarray | None = None  # bool: 案号, court and date known (retrieval.citation); None: all

    @classmethod
    def load(cls, metadata: MetadataStore) -> RowAttributes:
        size = metadata.count()
        doc_ids = [""] * size
        level = np.zeros(size, np.int8)
        province = np.zeros(size, np.int16)
        category = np.zeros(size, np.int8)
        date = np.zeros(size, np.int32)
        vocab: dict[str, dict[str, int]] = {"level": {}, "province": {}, "category": {}}

        def code(kind: str, value: str | None) -> int:
            if not value:
                return _UNKNOWN
            return vocab[kind].setdefault(value, len(vocab[kind]) + 1)

        for row, doc_id, lvl, prov, cat, decided in metadata.attribute_rows():
            doc_ids[row] = doc_id
            level[row] = code("level", lvl)
            province[row] = code("province", prov)
            category[row] = code("category", cat)
            if decided:
                date[row] = dt.date.fromisoformat(decided).toordinal()
        citable = np.ones(size, dtype=bool)
        for row, number, court, decided, kind in metadata.citation_rows():
            citable[row] = not missing_for_citation(number, court, decided, kind)
        return cls(
            citable=citable,
            doc_ids=doc_ids,
            row_of={d: r for r, d in enumerate(doc_ids)},
            level=level,
            province=province,
            category=category,
            date=date,
            levels=vocab["level"],
            provinces=vocab["province"],
            categories=vocab["category"],
        )

    def _in(self, column: np.ndarray, vocab: dict[str, int], values: Iterable[str]) -> np.ndarray:
        codes = [vocab[v] for v in values if v in vocab]
        return np.isin(column, codes) if codes else np.zeros(len(column), dtype=bool)

    def allowed(self, filters: SearchFilters, metadata: MetadataStore) -> np.ndarray | None:
        """True for rows the filters admit; None when no filter is set (everything admitted)."""
        size = len(self.doc_ids)
        keep = np.ones(size, dtype=bool)
        active = False
        if filters.date_from or filters.date_to:
            active = True
            low = filters.date_from.toordinal() if filters.date_from else 1
            high = filters.date_to.toordinal() if filters.date_to else dt.date.max.toordinal()
            keep &= (self.date >= low) & (self.date <= high)
        if filters.court_levels:
            active = True
            keep &= self._in(self.level, self.levels, (lv.value for lv in filters.court_levels))
        if filters.provinces:
            active = True
            keep &= self._in(self.province, self.provinces, (province_name(p) for p in filters.provinces))
        if filters.categories:
            active = True
            keep &= self._in(self.category, self.categories, (c.value for c in filters.categories))
        if filters.causes:
            active = True
            with_cause = np.zeros(size, dtype=bool)
            with_cause[list(metadata.rows_with_causes(normalise_cause(c) for c in filters.causes))] = True
            keep &= with_cause
        return keep if active else None

    def uncitable(self) -> np.ndarray | None:
        """True for rows that may not be cited; None when every row may (nothing to leave out)."""
        if self.citable is None or self.citable.all():
            return None
        return ~self.citable

    def rows_for(self, doc_ids: Iterable[str]) -> np.ndarray:
        """Mask of the rows of ``doc_ids`` (unknown ids ignored)."""
        mask = np.zeros(len(self.doc_ids), dtype=bool)
        rows = [self.row_of[d] for d in doc_ids if d in self.row_of]
        mask[rows] = True
        return mask
