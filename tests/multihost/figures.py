"""The figures the multi-host scenarios report, kept for the end of the session's output."""

from __future__ import annotations

#: One line per scenario run: its store, what it did, and its counts.
FIGURES: list[str] = []
