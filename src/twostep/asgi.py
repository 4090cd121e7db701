"""Entry point for ASGI servers: ``uvicorn --factory twostep.asgi:create``."""

from __future__ import annotations

from fastapi import FastAPI

from twostep.app import create_app
from twostep.logs import configure_logging
from twostep.settings import load_settings


def create() -> FastAPI:
    settings = load_settings()
    configure_logging(settings.log_format)
    return create_app(settings)
