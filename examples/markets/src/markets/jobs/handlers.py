"""An app's registry: every declared task bound to the handler that runs it."""

from __future__ import annotations

from dataclasses import dataclass

from markets.services.market_import import MarketImporter
from markets.services.resolution_notices import ResolutionNotices
from markets.services.tasks import (
    ANNOUNCE_RESOLUTION,
    DECLARED_TASKS,
    IMPORT_MARKETS,
    NOTIFY_MARKET_RESOLVED,
    SEND_WELCOME_EMAIL,
    bind,
)
from markets.services.welcome import WelcomeSender
from tiered.errors import ConfigurationError
from tiered.jobs import TaskRegistry

__all__ = ["JobHandlers"]


@dataclass(frozen=True, slots=True)
class JobHandlers:
    """The use cases that run as jobs, built on one app's database, mailer and clock."""

    welcome: WelcomeSender
    resolution: ResolutionNotices
    importer: MarketImporter

    def registry(self) -> TaskRegistry:
        registry = TaskRegistry()
        registry.register(bind(SEND_WELCOME_EMAIL, self.welcome.send))
        registry.register(bind(ANNOUNCE_RESOLUTION, self.resolution.announce))
        registry.register(bind(NOTIFY_MARKET_RESOLVED, self.resolution.notify))
        registry.register(bind(IMPORT_MARKETS, self.importer.run))
        unbound = [task.name for task in DECLARED_TASKS if task.name not in registry]
        if unbound:
            raise ConfigurationError(f"tasks without a handler: {', '.join(unbound)}")
        return registry
