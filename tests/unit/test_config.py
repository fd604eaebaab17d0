"""Configuration: .ini sections, environment overrides, CKAN fallbacks, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs
from conveyor import config
from conveyor.exceptions import ConfigError

#: An ini as CKAN's own template writes it (trimmed), untouched for conveyor.
CKAN_INI = """\
#
# CKAN - Pylons configuration
#
# The %(here)s variable will be replaced with the parent directory of this file
#
[DEFAULT]
debug = false
smtp_server = localhost
error_email_from = ckan@localhost

[server:main]
use = egg:Paste#http
host = 0.0.0.0
port = 5000

[app:main]
use = egg:ckan
full_stack = true
cache_dir = /tmp/%(ckan.site_id)s/
beaker.session.key = ckan
beaker.session.secret = 6bYK7Xg0Rj3Kk0zWnAJIXGKOz
who.config_file = %(here)s/who.ini
who.log_file = %(cache_dir)s/who_log.ini

## Database Settings
sqlalchemy.url = postgresql://ckan_default:pass@localhost/ckan_default

## Site Settings
ckan.site_url = http://localhost:5000
ckan.plugins = activity datastore
ckan.site_id = mysite

## Background jobs
ckan.redis.url = redis://localhost:6379/1
ckan.jobs.timeout = 600
ckan.jobs.default_list_limit = 50

## Logging configuration
[loggers]
keys = root, ckan, ckanext

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[logger_ckan]
level = INFO
handlers = console
qualname = ckan
propagate = 0

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
"""


def write_ini(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- sections and precedence ---------------------------------------------------------
def test_app_main_section_is_read(tmp_path: Path) -> None:
    ini = write_ini(
        tmp_path / "app.ini",
        """
        [app:main]
        conveyor.site_id = from-app-main
        conveyor.jobs.timeout = 77
        """,
    )
    loaded = config.load(ini, env={})
    assert loaded.site_id == "from-app-main"
    assert loaded.jobs_timeout == 77
    assert loaded.source == str(ini)


def test_conveyor_section_wins_over_app_main(tmp_path: Path) -> None:
    ini = write_ini(
        tmp_path / "both.ini",
        """
        [conveyor]
        conveyor.site_id = from-conveyor

        [app:main]
        conveyor.site_id = from-app-main
        conveyor.jobs.timeout = 90
        """,
    )
    loaded = config.load(ini, env={})
    assert loaded.site_id == "from-conveyor"
    assert loaded.jobs_timeout == 90  # only set in [app:main], still read


def test_environment_variables_override_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ini = write_ini(
        tmp_path / "env.ini",
        """
        [conveyor]
        conveyor.site_id = from-file
        conveyor.jobs.timeout = 90
        conveyor.jobs.default_list_limit = 10
        """,
    )
    monkeypatch.setenv("CONVEYOR_SITE_ID", "from-env")
    monkeypatch.setenv("CONVEYOR_JOBS_TIMEOUT", "45")
    monkeypatch.setenv("CONVEYOR_BACKEND", "sqlite:///env.sqlite3")
    loaded = config.load(ini)
    assert loaded.site_id == "from-env"
    assert loaded.jobs_timeout == 45
    assert loaded.backend == "sqlite:///env.sqlite3"
    assert loaded.default_list_limit == 10  # not overridden, so the file's


def test_conveyor_config_variable_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ini = write_ini(tmp_path / "named.ini", "[conveyor]\nconveyor.site_id = named-by-env\n")
    monkeypatch.setenv("CONVEYOR_CONFIG", str(ini))
    assert config.load().site_id == "named-by-env"


def test_without_any_setting_the_defaults_apply() -> None:
    loaded = config.load(env={})
    assert loaded.site_id == "default"
    assert loaded.jobs_timeout == 180
    assert loaded.default_list_limit == 200
    assert loaded.serializer == "json"
    assert loaded.backend == "sqlite:///conveyor.sqlite3"
    assert loaded.queue_prefix == "conveyor:default:"


# -- CKAN fallbacks ----------------------------------------------------------------------
def test_ckan_keys_are_used_when_conveyor_keys_are_absent(tmp_path: Path) -> None:
    ini = write_ini(
        tmp_path / "ckan.ini",
        """
        [app:main]
        ckan.site_id = ckan-site
        ckan.jobs.timeout = 600
        ckan.redis.url = redis://localhost:6379/1
        """,
    )
    loaded = config.load(ini, env={})
    assert loaded.site_id == "ckan-site"
    assert loaded.jobs_timeout == 600
    assert loaded.backend == "redis://localhost:6379/1"


def test_conveyor_keys_win_over_ckan_keys(tmp_path: Path) -> None:
    ini = write_ini(
        tmp_path / "ckan.ini",
        """
        [app:main]
        ckan.site_id = ckan-site
        ckan.jobs.timeout = 600
        ckan.redis.url = redis://localhost:6379/1
        conveyor.site_id = conveyor-site
        conveyor.jobs.timeout = 30
        conveyor.backend = sqlite:///jobs.sqlite3
        """,
    )
    loaded = config.load(ini, env={})
    assert loaded.site_id == "conveyor-site"
    assert loaded.jobs_timeout == 30
    assert loaded.backend == "sqlite:///jobs.sqlite3"


def test_ckan_site_id_variable_is_used_only_without_a_conveyor_site_id(tmp_path: Path) -> None:
    bare = write_ini(tmp_path / "bare.ini", "[app:main]\nuse = egg:ckan\n")
    assert config.load(bare, env={"CKAN_SITE_ID": "ckan-env"}).site_id == "ckan-env"
    own = write_ini(tmp_path / "own.ini", "[conveyor]\nconveyor.site_id = mine\n")
    assert config.load(own, env={"CKAN_SITE_ID": "ckan-env"}).site_id == "mine"
    env = {"CKAN_SITE_ID": "ckan-env", "CONVEYOR_SITE_ID": "conveyor-env"}
    assert config.load(bare, env=env).site_id == "conveyor-env"


def test_ckan_site_id_variable_overrides_ckan_site_id_in_the_file_as_in_ckan(
    tmp_path: Path,
) -> None:
    ini = write_ini(tmp_path / "ckan.ini", "[app:main]\nckan.site_id = from-file\n")
    assert config.load(ini, env={"CKAN_SITE_ID": "from-env"}).site_id == "from-env"
    assert config.load(ini, env={}).site_id == "from-file"


def test_ckan_redis_url_variable_is_used_only_without_a_conveyor_backend(tmp_path: Path) -> None:
    ini = write_ini(tmp_path / "ckan.ini", "[app:main]\nckan.redis.url = redis://file:6379/0\n")
    env = {"CKAN_REDIS_URL": "redis://env:6379/2"}
    assert config.load(ini, env=env).backend == "redis://env:6379/2"
    env["CONVEYOR_BACKEND"] = "sqlite:///mine.sqlite3"
    assert config.load(ini, env=env).backend == "sqlite:///mine.sqlite3"


def test_an_empty_ckan_variable_is_ignored(tmp_path: Path) -> None:
    ini = write_ini(tmp_path / "ckan.ini", "[app:main]\nckan.site_id = from-file\n")
    assert config.load(ini, env={"CKAN_SITE_ID": ""}).site_id == "from-file"


def test_a_real_ckan_ini_loads_as_is(tmp_path: Path) -> None:
    ini = write_ini(tmp_path / "etc" / "ckan.ini", CKAN_INI)
    loaded = config.load(ini, env={})
    assert loaded.site_id == "mysite"
    assert loaded.jobs_timeout == 600
    assert loaded.default_list_limit == 50  # an int, not the string CKAN passes on
    assert loaded.backend == "redis://localhost:6379/1"
    assert loaded.base_dir == ini.parent.resolve()


def test_here_is_replaced_by_the_directory_of_the_ini(tmp_path: Path) -> None:
    ini = write_ini(
        tmp_path / "site" / "here.ini",
        "[conveyor]\nconveyor.backend = sqlite:///%(here)s/db/jobs.sqlite3\n",
    )
    loaded = config.load(ini, env={})
    assert loaded.backend == f"sqlite:///{(tmp_path / 'site').resolve()}/db/jobs.sqlite3"


# -- malformed configuration ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("conveyor.site_id = x\n", ["malformed"]),
        ("[conveyor]\nthis line has no equals sign\n", ["malformed"]),
        ("[conveyor]\nconveyor.jobs.timout = 5\n", ["unknown key", "conveyor.jobs.timout"]),
        ("[app:main]\nconveyor.bakend = sqlite:///x\n", ["unknown key", "conveyor.bakend"]),
        ("[conveyor]\nsite_id = x\n", ["unknown key", "site_id", "conveyor.site_id"]),
        (
            "[conveyor]\nconveyor.jobs.timeout = zero\n",
            ["conveyor.jobs.timeout", "'zero' is not a duration"],
        ),
        (
            "[app:main]\nckan.jobs.timeout = zero\n",
            ["ckan.jobs.timeout", "'zero' is not a duration"],
        ),
        ("[conveyor]\nconveyor.jobs.timeout = 0\n", ["conveyor.jobs.timeout", "not a timeout"]),
        ("[conveyor]\nconveyor.site_id = my site\n", ["conveyor.site_id", "not a site id"]),
        ("[app:main]\nckan.site_id = a:b\n", ["ckan.site_id", "not a site id"]),
        ("[conveyor]\nconveyor.serializer = yaml\n", ["conveyor.serializer", "yaml"]),
        ("[conveyor]\nconveyor.backend = jobs.db\n", ["conveyor.backend", "not a backend URL"]),
        (
            "[conveyor]\nconveyor.jobs.default_list_limit = -1\n",
            ["conveyor.jobs.default_list_limit", "not between 0 and 1000000"],
        ),
    ],
)
def test_a_malformed_config_file_is_refused_naming_file_key_and_problem(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    ini = write_ini(tmp_path / "bad.ini", text)
    with pytest.raises(ConfigError) as caught:
        config.load(ini, env={})
    message = str(caught.value)
    assert str(ini) in message
    for fragment in fragments:
        assert fragment in message


def test_a_missing_config_file_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.ini"
    with pytest.raises(ConfigError, match="does not exist") as caught:
        config.load(missing, env={})
    assert str(missing) in str(caught.value)


def test_a_malformed_environment_value_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        config.load(env={"CONVEYOR_JOBS_TIMEOUT": "zero"})
    assert "CONVEYOR_JOBS_TIMEOUT" in str(caught.value)
    assert "'zero' is not a duration" in str(caught.value)


def test_a_refused_configure_keeps_the_configuration_in_force(tmp_path: Path) -> None:
    before = config.current()
    ini = write_ini(tmp_path / "bad.ini", "[conveyor]\nconveyor.jobs.timeout = zero\n")
    with pytest.raises(ConfigError):
        config.configure(ini)
    assert config.current() is before


# -- where the default database lives -------------------------------------------------------
def test_relative_sqlite_path_resolves_against_the_ini_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ini = write_ini(
        tmp_path / "site" / "conveyor.ini",
        "[conveyor]\nconveyor.backend = sqlite:///data/jobs.sqlite3\n",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config.configure(ini)
    conveyor.enqueue(conveyor_test_jobs.succeed)
    assert (tmp_path / "site" / "data" / "jobs.sqlite3").is_file()
    assert not (elsewhere / "data").exists()
    assert conveyor.job_list(ids_only=True) != []


# -- override() --------------------------------------------------------------------------
def test_override_changes_keys_inside_and_restores_them_after() -> None:
    before = config.current()
    with config.override({"conveyor.jobs.timeout": 42, "conveyor.site_id": "other"}) as changed:
        assert config.current() is changed
        assert changed.jobs_timeout == 42
        assert changed.site_id == "other"
        assert changed.backend == before.backend
    assert config.current() is before


def test_override_restores_the_configuration_after_an_exception() -> None:
    before = config.current()
    with pytest.raises(RuntimeError), config.override({"conveyor.jobs.timeout": 42}):
        raise RuntimeError("inside")
    assert config.current() is before


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"conveyor.jobs.timout": 5}, "Unknown config key 'conveyor.jobs.timout'"),
        ({"conveyor.jobs.timeout": "zero"}, "'zero' is not a duration"),
        ({"conveyor.site_id": "has space"}, "not a site id"),
    ],
)
def test_override_refuses_bad_settings_and_changes_nothing(
    settings: dict[str, object], fragment: str
) -> None:
    before = config.current()
    with pytest.raises(ConfigError, match=fragment), config.override(settings):
        pytest.fail("the body must not run")
    assert config.current() is before


def test_a_short_key_in_the_conveyor_section_suggests_the_full_key(tmp_path: Path) -> None:
    ini = tmp_path / "short.ini"
    ini.write_text("[conveyor]\ntimeout = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'timeout' .*'conveyor\.jobs\.timeout'"):
        config.load(ini, env={})


def test_an_unknown_log_level_is_refused_when_the_config_loads(tmp_path: Path) -> None:
    ini = tmp_path / "level.ini"
    ini.write_text("[conveyor]\nconveyor.worker.log_level = loud\n")
    with pytest.raises(
        ConfigError, match=r"conveyor\.worker\.log_level: 'loud' is not a log level"
    ):
        config.load(ini, env={})


# -- duplicates, bounds and backend URLs ---------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[conveyor]\nconveyor.site_id = a\n# note\nconveyor.site_id = b\n",
            "key 'conveyor.site_id' in section [conveyor] appears twice, on lines 2 and 4",
        ),
        (
            "[app:main]\nckan.site_id = a\n\n[conveyor]\n\n[app:main]\nx = 1\n",
            "section [app:main] appears twice, on lines 1 and 6",
        ),
        (
            "[loggers]\nkeys = root\nkeys = other\n",
            "key 'keys' in section [loggers] appears twice, on lines 2 and 3",
        ),
    ],
)
def test_a_duplicate_key_or_section_is_refused_naming_both_lines(
    tmp_path: Path, text: str, message: str
) -> None:
    ini = write_ini(tmp_path / "dup.ini", text)
    with pytest.raises(ConfigError) as caught:
        config.load(ini, env={})
    assert str(caught.value) == f"Config file {ini} is malformed: {message}"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("conveyor.jobs.timeout", "99999999999999999999", "between 1 and 315360000"),
        ("conveyor.jobs.timeout", "1.5h", "is not a duration"),
        ("conveyor.jobs.result_ttl", "99999999999999999999", "between 0 and 315360000"),
        ("conveyor.jobs.failure_ttl", "-2", "between 0 and 315360000"),
        ("conveyor.jobs.max_attempts", "10001", "not between 1 and 10000"),
        ("conveyor.jobs.retries", "10000", "not between 0 and 9999"),
        ("conveyor.jobs.retry_interval", "10 1e20", "between 0 and 315360000"),
        ("conveyor.jobs.default_list_limit", "1000001", "not between 0 and 1000000"),
        ("conveyor.worker.concurrency", "99999999999999999999", "not between 1 and 1024"),
        ("conveyor.worker.lease", "86401", "not between 2 and 86400"),
        ("conveyor.worker.prefetch", "-1", "not between 0 and 100000"),
        ("conveyor.worker.max_jobs_per_child", "-1", "not between 0 and 1000000000"),
        ("conveyor.backend", "sqlite:///x.db?busy_timeout=-5", "busy_timeout='-5'"),
        ("conveyor.backend", "sqlite:///x.db?busy_timeout=1e9", "from 0 to 3600"),
        ("conveyor.backend", "sqlite:///x.db?synchronous=sometimes", "synchronous"),
        ("conveyor.backend", "redis://host?bogus=1", "Unknown option(s) ['bogus']"),
        ("conveyor.backend", "redis://[::1", "Invalid IPv6 URL"),
        ("conveyor.backend", "redis://host:99999/0", "Port out of range"),
        ("conveyor.backend", "redis://host/zero", "Invalid database number 'zero'"),
        ("conveyor.backend", "redis://host?socket_timeout=-1", "socket_timeout='-1'"),
        ("conveyor.backend", "redis://host?db=1&db=2", "given twice"),
        ("conveyor.backend", "mongodb://host", "Unknown backend URL scheme 'mongodb'"),
    ],
)
def test_every_value_has_bounds_and_the_error_names_the_key(
    tmp_path: Path, key: str, value: str, fragment: str
) -> None:
    ini = write_ini(tmp_path / "b.ini", f"[conveyor]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as caught:
        config.load(ini, env={})
    message = str(caught.value)
    assert message.startswith(f"Invalid value in config file {ini}, key {key}: ")
    assert fragment in message
    assert "\n" not in message
    variable = key.replace(".", "_").upper()
    with pytest.raises(ConfigError, match=f"environment variable {variable}: "):
        config.load(env={variable: value})


def test_a_password_in_a_bad_backend_url_is_not_repeated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config.load(env={"CONVEYOR_BACKEND": "redis://:s3cret@host?bogus=1"})
    assert "s3cret" not in str(caught.value)
    assert "redis://:***@host?bogus=1" in str(caught.value)


def test_opening_a_malformed_redis_url_directly_is_a_config_error() -> None:
    from conveyor.backends import open_backend

    for url in ("redis://host?bogus=1", "redis://[::1"):
        with pytest.raises(ConfigError, match="URL"):
            open_backend(url)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3600", 3600), ("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800)],
)
def test_the_configured_timeout_takes_rqs_forms(value: str, seconds: int) -> None:
    assert config.load(env={"CONVEYOR_JOBS_TIMEOUT": value}).jobs_timeout == seconds


# -- finding conveyor.ini --------------------------------------------------------------------
def test_conveyor_ini_is_found_in_the_nearest_parent(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert config.find_config(deep) is None
    outer = write_ini(tmp_path / "conveyor.ini", "[conveyor]\n")
    inner = write_ini(tmp_path / "a" / "b" / "conveyor.ini", "[conveyor]\n")
    assert config.find_config(deep) == inner
    assert config.find_config(tmp_path / "a") == outer
    (tmp_path / "a" / "b" / "c" / "conveyor.ini").mkdir()  # a directory is no config file
    assert config.find_config(deep) == inner


def test_a_relative_sqlite_path_is_resolved_against_the_found_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(tmp_path / "conveyor.ini", "[conveyor]\nconveyor.backend = sqlite:///var/j.db\n")
    (tmp_path / "pkg").mkdir()
    monkeypatch.chdir(tmp_path / "pkg")
    loaded = config.load(env={})
    assert loaded.config_file == tmp_path / "conveyor.ini"
    assert loaded.config_origin == "found"
    assert loaded.base_dir == tmp_path
    assert "found from the working directory" in config.describe_source(loaded)


def test_a_byte_order_mark_at_the_start_of_the_file_is_no_error(tmp_path: Path) -> None:
    ini = tmp_path / "bom.ini"
    ini.write_bytes(b"\xef\xbb\xbf[conveyor]\nconveyor.site_id = bom\n")
    assert config.load(ini, env={}).site_id == "bom"
