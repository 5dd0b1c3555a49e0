"""markets.services."""
