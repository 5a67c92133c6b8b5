"""Topic and table names, all derived from settings so several deployments can share a cluster."""

from __future__ import annotations

from streams.settings import Settings

PROFILES_TABLE = "profiles"


def changelog_topic(settings: Settings, table: str = PROFILES_TABLE) -> str:
    """The name Faust gives a table's changelog topic."""
    return f"{settings.app_id}-{table}-changelog"
