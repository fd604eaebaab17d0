"""Named queries: one ``.sql`` file per SQL store, each query found by its name.

A file holds many queries, each introduced by a header line::

    -- name: claim
    -- Comment lines after the header document the query; they are part of
    -- its text, as any SQL comment is.
    SELECT ...

A query's text runs from the line after its header to the next header (blank
lines at its end dropped). Before the first header only comment lines and
blank lines may stand: they describe the file. A file is read and parsed
once per process; an unknown name is a KeyError that names the file.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_HEADER = re.compile(r"^--\s*name:\s*(\S*)\s*$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class UnknownQuery(KeyError):
    """A query name the file does not define."""

    def __str__(self) -> str:
        return str(self.args[0])


@functools.cache
def queries(package: str, filename: str) -> dict[str, str]:
    """The queries of ``filename`` in ``package``, by name, in file order."""
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    return parse(text, f"{package}/{filename}")


def parse(text: str, where: str) -> dict[str, str]:
    """The queries of a named-query file's ``text``; ``where`` names it in errors."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header is not None:
            name = header.group(1)
            if not _NAME.match(name):
                raise ValueError(f"{where}, line {number}: {name!r} is not a query name")
            if name in found:
                raise ValueError(f"{where}, line {number}: the query {name!r} is defined twice")
            current = found[name] = []
        elif current is not None:
            current.append(line)
        elif line.strip() and not line.startswith("--"):
            raise ValueError(f"{where}, line {number}: SQL before the first '-- name:' header")
    result: dict[str, str] = {}
    for name, lines in found.items():
        while lines and not lines[-1].strip():
            lines.pop()
        if not any(line.strip() and not line.startswith("--") for line in lines):
            raise ValueError(f"{where}: the query {name!r} has no SQL")
        result[name] = "\n".join(lines) + "\n"
    return result


def lookup(package: str, filename: str, name: str) -> str:
    """The text of the query ``name``, or UnknownQuery naming the file."""
    try:
        return queries(package, filename)[name]
    except KeyError:
        raise UnknownQuery(f"{package}/{filename} has no query named {name!r}") from None
