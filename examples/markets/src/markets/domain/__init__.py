"""markets.domain."""
