"""The SQLite backend's SQL, by name, from ``sqlite_queries.sql``.

One file holds every statement the SQLite backend runs (its tables are built
by ``migrations/sqlite/``), each under a ``-- name:`` header (see
:mod:`conveyor.backends.sqlfile`). Parameters are ``?`` or ``?N`` in order, or
``:name``. A list of values is passed as one JSON array parameter and read with
``json_each`` (an ``IN (SELECT value FROM json_each(?))``), so every query is
static text.
"""

from __future__ import annotations

import functools

from conveyor.backends import sqlfile


@functools.cache
def query(name: str) -> str:
    """The query ``name`` of ``sqlite_queries.sql``; an unknown name raises
    :class:`~conveyor.backends.sqlfile.UnknownQuery`."""
    return sqlfile.lookup(__package__ or __name__, "sqlite_queries.sql", name)


def with_words(name: str, **words: str) -> str:
    """The query ``name`` with its ``{word}`` placeholders filled in: for the keywords
    that SQL cannot take as parameters (a PRAGMA's value). Each must be one plain word."""
    for key, word in words.items():
        if not word.isidentifier():
            raise ValueError(f"{word!r} cannot stand for {{{key}}} in the query {name!r}")
    return query(name).format(**words)
