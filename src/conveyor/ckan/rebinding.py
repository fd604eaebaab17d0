"""Rebinding names that extensions imported before conveyor replaced them.

``from ckan.plugins.toolkit import enqueue_job`` or ``from rq import
get_current_job`` copies the function into the extension's module when it
is imported, which may be before the conveyor plugin loads. Each original
is registered with its replacement, and :func:`rebind` walks the already
imported modules of CKAN and its extensions, pointing such copies at the
replacement. Originals are kept referenced, so they are compared by
identity safely.

This module needs no CKAN.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

#: id(original) -> (original, replacement)
_registry: dict[int, tuple[Any, Any]] = {}
DEFAULT_PREFIXES = ("ckanext.", "ckan.")


def register(original: Any, replacement: Any) -> None:
    """From now on, :func:`rebind` replaces ``original`` with ``replacement``."""
    if original is not None and original is not replacement:
        _registry[id(original)] = (original, replacement)


def rebind(prefixes: Sequence[str] = DEFAULT_PREFIXES, skip: Sequence[str] = ()) -> int:
    """Point module globals still naming a registered original at its replacement.

    Only modules whose name starts with one of ``prefixes`` (and is not in
    ``skip``) are changed. Returns how many names were rebound.
    """
    if not _registry:
        return 0
    rebound = 0
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(tuple(prefixes)) or name in skip:
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for attr, value in list(namespace.items()):
            entry = _registry.get(id(value))
            if entry is not None and entry[0] is value:
                namespace[attr] = entry[1]
                rebound += 1
    return rebound
