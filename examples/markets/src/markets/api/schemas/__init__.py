"""Request bodies: what clients may send (unknown fields are refused)."""
