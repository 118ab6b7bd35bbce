"""Settings from the environment (and a ``.env`` file in the working directory)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSBACK_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".passback"), description="working folder for the default databases and reports")
    state_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the state DB (default: SQLite under home)"
    )
    source_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the Otus source DB (default: SQLite under home)"
    )
    data_docs_dir: Path | None = Field(
        default=None, description="where GX Data Docs HTML is built (default: home/data_docs)"
    )
    secret_key: str | None = Field(
        default=None,
        description="Fernet key that encrypts client secrets in the state DB (default: a key file under home)",
    )
    report_base_url: str | None = Field(
        default=None,
        description="URL at which a static web server serves data_docs_dir; reports and artifacts then link there",
    )
    report_keep_runs: int = Field(
        default=60, ge=1, description="reports kept per district: at least the last N runs ..."
    )
    report_keep_days: int = Field(
        default=90, ge=0, description="... and every run of the last N days (whichever keeps more)"
    )
    log_level: str = Field(
        default="WARNING", description="level of the library's logs on stderr (DEBUG, INFO, WARNING, ...)"
    )
    lock_takeover_s: float = Field(
        default=900.0,
        gt=0,
        description=(
            "seconds without a heartbeat after which another run may take a district's lock over "
            "(a live run heartbeats every min(60 s, a quarter of this))"
        ),
    )

    @property
    def state_db_url(self) -> str:
        return self.state_url or f"sqlite:///{(self.home / 'state.db').as_posix()}"

    @property
    def source_db_url(self) -> str:
        return self.source_url or f"sqlite:///{(self.home / 'otus.db').as_posix()}"

    @property
    def docs_dir(self) -> Path:
        return self.data_docs_dir or self.home / "data_docs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment)."""
    get_settings.cache_clear()
