"""markets: the reference prediction-markets service built on tiered."""

__version__ = "0.1.0"
