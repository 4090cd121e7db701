"""Entry point for ASGI servers: ``uvicorn --factory twostep.asgi:create``."""

from __future__ import annotations

from fastapi import FastAPI

from twostep.app import build_context, create_app
from twostep.logs import configure_logging
from twostep.services.operations import secret_keys
from twostep.settings import load_settings
from twostep.storage import backup


def create() -> FastAPI:
    settings = load_settings()
    configure_logging(settings.log_format)
    ctx = build_context(settings)
    secret_keys.check(ctx)  # a key that does not open the stored secrets: refuse to start
    app = create_app(settings, context=ctx)
    # A restore (`twostep restore`) refuses while any server holds this lock on the database.
    app.state.serving_lock = backup.hold_serving_lock(settings.resolved_database_url)
    return app
