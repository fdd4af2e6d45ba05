"""Persistence: SQLAlchemy tables (the source of truth) and the content-addressed blob store."""
