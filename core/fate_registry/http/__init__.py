"""The HTTP API of the registry (``fate-registry serve``)."""

from .app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
