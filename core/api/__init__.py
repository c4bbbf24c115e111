"""The HTTP API: a thin FastAPI layer over one engine (app), its error mapping (errors), its bodies (schema).

uvicorn core.api:app_factory --factory
"""

from core.api.app import app_factory, create_app

__all__ = ["app_factory", "create_app"]
