"""fate-reference-service: the third-party service FATE Flow calls, as a provider would write it.

ApiReader (upload, query, download of deterministic features) and the four decisions
(client_authentication, signature, site_authentication, permission), in one FastAPI app.
"""

from .app import create_app
from .config import Config
from .features import FEATURES, feature_row

__all__ = ["FEATURES", "Config", "create_app", "feature_row"]
