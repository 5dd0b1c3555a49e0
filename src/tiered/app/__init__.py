"""Application assembly: factory, lifespan and shared state."""

from tiered.app.factory import create_app
from tiered.app.lifespan import Resource
from tiered.app.routes import add_routes
from tiered.app.state import AppState, app_state

__all__ = ["AppState", "Resource", "add_routes", "app_state", "create_app"]
