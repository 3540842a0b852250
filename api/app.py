"""``uvicorn api.app:app``: the app configured from the environment (LEIAN_INDEX, LEIAN_DATA, …)."""

from __future__ import annotations

from api.http.app import create_app

app = create_app()
