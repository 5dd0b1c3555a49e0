"""Persistence of the markets domain: schema, mapping, repositories, unit of work."""
