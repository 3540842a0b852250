"""Request bodies parsed as strict JSON before FastAPI reads them: one way to say what is not JSON.

Python's ``json`` takes the last of two equal keys, reads ``NaN``, and cannot turn a 5,000-digit
number into an int (FastAPI then says only "not UTF-8 JSON"); a truncated body becomes a 422 about a
field named after the character offset. Here a body that is not UTF-8 JSON is a 400 saying where,
a key given twice a 400 naming the key, and an integer too long to read a 422 naming its field.
``StrictJsonRoute`` parses the body once and leaves the result where FastAPI's ``request.json()``
finds it, so the models then validate the same value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from api.service.errors import duplicate_key, invalid, not_json


class _LongInteger:
    """Stands for an integer literal with more digits than Python converts (``sys.int_max_str_digits``)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _integer(text: str) -> int | _LongInteger:
    try:
        return int(text)
    except ValueError:
        return _LongInteger(len(text.lstrip("-")))


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _long_integer_at(value: Any) -> tuple[str, _LongInteger] | None:
    """The path (``cases.0.k``) of the first long integer in a parsed body; iterative (deep bodies)."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, _LongInteger):
            return ".".join(path) or "body", item
        if isinstance(item, dict):
            stack.extend(((*path, str(k)), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*path, str(i)), v) for i, v in reversed(list(enumerate(item))))
    return None


def parse_json(body: bytes) -> Any:
    """The body as JSON (one UTF-8 BOM allowed); ApiError 400 or 422 saying what is wrong."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise not_json(f"第 {exc.start} 字节不是 UTF-8", f"byte {exc.start} is not UTF-8") from None
    long_seen = False

    def integer(literal: str) -> int | _LongInteger:
        nonlocal long_seen
        value = _integer(literal)
        long_seen = long_seen or isinstance(value, _LongInteger)
        return value

    try:
        value = json.loads(text, object_pairs_hook=_object, parse_int=integer, parse_constant=_constant)
    except _DuplicateKey as exc:
        raise duplicate_key(exc.key) from None
    except json.JSONDecodeError as exc:
        raise not_json(
            f"第 {exc.pos} 个字符处：{exc.msg}", f"{exc.msg} at character {exc.pos} (truncated or malformed?)"
        ) from None
    except RecursionError:
        raise not_json("嵌套层数过多", "nested too deeply") from None
    except ValueError as exc:
        raise not_json(str(exc), str(exc)) from None
    if long_seen and (found := _long_integer_at(value)) is not None:
        field, number = found
        raise invalid(field, f"整数位数过多（{number.digits} 位）", f"an integer of {number.digits} digits")
    return value


def _is_json(request: Request) -> bool:
    """Whether FastAPI would read this body as JSON (no content type, or application/json or +json)."""
    content_type = request.headers.get("content-type")
    if not content_type:
        return True
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


class StrictJsonRoute(APIRoute):
    """An API route whose JSON body is read by ``parse_json`` (routers with request bodies use it)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict(request: Request) -> Response:
            body = await request.body()
            if body and _is_json(request):
                request._json = parse_json(body)  # what ``request.json()`` returns from now on
            return await handler(request)

        return strict
