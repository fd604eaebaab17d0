"""conveyor's configuration, read from a CKAN site's config object.

CKAN has already parsed the site's ini (and applied its ``CKAN_*``
environment variables) into ``ckan.common.config``. conveyor's own keys
(``conveyor.backend`` ...) are read from there first, then the CKAN keys
each falls back to (``ckan.redis.url``, ``ckan.site_id``,
``ckan.jobs.timeout``), then ``CONVEYOR_*`` environment variables win over
both, as in a plain conveyor ini. The result is cached and rebuilt only when
one of the values it was made from changes, because CKAN code and tests
change the config at run time (``changed_config``, ``ckan_config``).

This module needs no CKAN: it reads any mapping.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conveyor import config as _config
from conveyor.exceptions import ConfigError

_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], _config.Config] | None = None


def _raw(setting: _config.Setting, site: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """The value a setting takes in this site, before parsing; None for the default."""
    env_name = setting.key.replace(".", "_").upper()
    if env.get(env_name):
        return env[env_name]
    for key in (setting.key, *setting.fallbacks):
        value = site.get(key, None)  # a default given: CKAN warns of undeclared keys otherwise
        if value is not None and value != "":
            return value
    return None


def _snapshot(site: Mapping[str, Any], env: Mapping[str, str]) -> tuple[Any, ...]:
    raw = tuple(_raw(setting, site, env) for setting in _config.SETTINGS)
    return (*raw, site.get("__file__", None))


def from_site(site: Mapping[str, Any], env: Mapping[str, str] | None = None) -> _config.Config:
    """The configuration a CKAN site's config mapping gives, validated like an ini's."""
    env = os.environ if env is None else env
    ini = site.get("__file__", None)
    ini_path = Path(str(ini)).resolve() if ini else None
    base_dir = ini_path.parent if ini_path else Path.cwd()
    source = f"CKAN config {ini}" if ini else "CKAN config"
    settings: dict[str, Any] = {}
    for setting in _config.SETTINGS:
        value = _raw(setting, site, env)
        if value is not None:
            settings[setting.key] = value
    try:
        blank = _config.Config(
            base_dir=base_dir,
            source=source,
            config_file=ini_path,  # the site's ini, given to `ckan -c` (or CKAN_INI)
            config_origin="given" if ini_path else "none",
        )
        return _config.with_settings(blank, settings)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def sync(site: Mapping[str, Any], env: Mapping[str, str] | None = None) -> _config.Config:
    """Install the configuration of ``site`` as conveyor's, if it changed; return it."""
    global _cached  # noqa: PLW0603 -- the one cached site configuration
    env = os.environ if env is None else env
    key = _snapshot(site, env)
    cached = _cached
    if cached is not None and cached[0] == key and _config.current() is cached[1]:
        return cached[1]
    with _lock:
        config = from_site(site, env)
        _config.install(config)
        _cached = (key, config)
    return config
