"""Numbered, forward-only migrations of the SQL stores' layouts.

Each SQL store has a folder here, ``sqlite/`` and ``postgresql/``, of files
named ``NNNN_what_it_does.sql``, numbered from 0001 without gaps. 0001 is the
layout of the first release; every later change to a store's tables is one
new file. A backend opening a store applies the migrations it has not applied
yet, in order, under a lock (SQLite: one ``BEGIN IMMEDIATE`` transaction;
PostgreSQL: the per-schema advisory lock, in one transaction), and records
each in the store's ``conveyor_schema_version`` table. A store that has
applied a migration this code does not know was written by a newer conveyor,
and is refused with :class:`~conveyor.exceptions.StoreVersionError`.

Migrations never go backwards, and a released one is never edited.
docs/backends.md ("Adding a migration") says how to add one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from conveyor.exceptions import StoreVersionError

if TYPE_CHECKING:
    from importlib.abc import Traversable  # importlib.resources.abc from Python 3.11

__all__ = ["Migration", "latest", "load", "migrations", "pending"]

_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True)
class Migration:
    """One step of a store's layout: its number, its name and its SQL."""

    version: int
    name: str
    sql: str


@functools.cache
def migrations(store: str) -> tuple[Migration, ...]:
    """The migrations of ``store`` ("sqlite" or "postgresql"), in order."""
    return load(resources.files(__package__ or __name__).joinpath(store))


def load(folder: Traversable) -> tuple[Migration, ...]:
    """The migrations in ``folder``, in order.

    A misnamed ``.sql`` file, or numbers that do not run 1, 2, 3, ..., are a
    packaging mistake, reported as such rather than skipped or applied in a
    surprising order.
    """
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.fullmatch(entry.name)
        if match is None:
            raise RuntimeError(
                f"Migration file {entry.name!r} is not named NNNN_what_it_does.sql"
                " (four digits, then lowercase letters, digits and '_')"
            )
        text = entry.read_text(encoding="utf-8")
        found.append(Migration(int(match[1]), match[2], text))
    found.sort(key=lambda migration: migration.version)
    numbers = [migration.version for migration in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"The migrations in {folder} are numbered {numbers}, not 1, 2, 3, ...")
    return tuple(found)


def latest(store: str) -> int:
    """The version of ``store``'s layout this code creates and expects."""
    return len(migrations(store))


def pending(store: str, applied: int, where: str) -> tuple[Migration, ...]:
    """The migrations a store at version ``applied`` still needs, in order.

    ``where`` names the store in the error raised when it is newer than
    this code.
    """
    known = migrations(store)
    if applied > len(known):
        raise StoreVersionError(where, applied, len(known))
    return known[applied:]
