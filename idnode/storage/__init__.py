"""Storage: SQLAlchemy tables, engines and migrations, and the async repository."""
