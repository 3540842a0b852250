"""A corpus case as the judge opens it: its record, tier and effect, and its related cases (关联案件)."""

from __future__ import annotations

from typing import Any

from api.service.accounts import Principal
from api.service.errors import ApiError, not_found
from api.service.runtime import Services
from api.service.searching import related_json, requesting_court
from retrieval.related import find_related
from retrieval.tiers import assign_tier, effect_label


def _no_such_case(doc_id: str) -> ApiError:
    return not_found(f"索引中没有文书 {doc_id}", f"no document {doc_id!r} in the index")


def case_record(services: Services, principal: Principal, doc_id: str) -> dict[str, Any]:
    store = services.index()
    with store.exclusive():
        doc = store.document_by_id(doc_id)
    if doc is None:
        raise _no_such_case(doc_id)
    tier = assign_tier(doc, requesting_court(principal))
    return {
        "document": doc.to_dict(),
        "withdrawn": doc.authority.withdrawn,
        "citable": not doc.authority.withdrawn,
        "effect": effect_label(doc),
        "tier": int(tier),
        "tier_label": tier.label,
    }


def case_related(services: Services, doc_id: str) -> dict[str, Any]:
    store = services.index()
    try:
        with store.exclusive():
            links = find_related(store, doc_id)
            out = related_json(store, links)
    except KeyError as exc:
        raise _no_such_case(doc_id) from exc
    return {"doc_id": doc_id, "related": out}


def ensure_case_exists(services: Services, doc_id: str) -> None:
    store = services.index()
    with store.exclusive():
        known = store.contains(doc_id)
    if not known:
        raise _no_such_case(doc_id)
