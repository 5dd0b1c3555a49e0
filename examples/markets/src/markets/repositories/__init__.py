"""markets.repositories."""
