"""The wall clock, read in one place: the imperative shell passes its time to the pure core."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)
