"""The HTTP surface: the collection API, profiles and recommendations, on-site decisions and the
JavaScript tracker, served by ``shopmind serve``."""

from shopmind.api._app import create_app
from shopmind.api._config import ServerConfig
from shopmind.api._operations import Operations

__all__ = ["Operations", "ServerConfig", "create_app"]
