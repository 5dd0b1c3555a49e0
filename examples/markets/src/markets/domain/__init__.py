"""The markets domain: entities and rules, free of I/O, SQLAlchemy and FastAPI."""
