"""markets.api."""
