"""Where the store is, read from the environment as every service reads it: DATABASE_URL (default a
SQLite file under var/, relative to the working directory: the repository root natively),
DATABASE_PASSWORD_FILE (PostgreSQL's password, never in the URL) and FEEDBACK_RETENTION_DAYS."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from store.engine import database_url, make_engine

DEFAULT_DATABASE_URL = "sqlite:///var/lens.sqlite3"
DEFAULT_RETENTION_DAYS = 30.0


class DatabaseSettings(BaseSettings):
    """The store's part of a service's settings: the gateway's and the operator's settings extend it."""

    model_config = SettingsConfigDict(env_file=None, case_sensitive=False, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    database_password_file: Path | None = None
    # Shared screenshots no moderator kept are deleted by the review tool's prune after this many days.
    feedback_retention_days: float = DEFAULT_RETENTION_DAYS

    def database_address(self) -> URL:
        """DATABASE_URL with the password from DATABASE_PASSWORD_FILE, read now."""
        return database_url(self.database_url, self.database_password_file)

    def engine(self) -> Engine:
        return make_engine(self.database_address())
