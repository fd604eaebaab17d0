"""Periodic jobs in one process: schedules, declarations, the worker's ticker, management, CLI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

import conveyor
from conveyor import backends
from conveyor.api import backend
from conveyor.backends import JobState
from conveyor.cli import main
from conveyor.exceptions import ConfigError, NoSuchPeriodicJob, PeriodicJobError
from conveyor.periodic_jobs import declare
from conveyor.periodic_jobs.schedule import Cron, Every, interval_seconds, parse
from conveyor.periodic_jobs.ticker import Ticker

PREFIX = "conveyor:test.conveyor:"
T0 = 1_800_000_000.0  # a multiple of 60, 600 and 3600


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    before = set(declare.registered())
    yield
    for name in set(declare.registered()) - before:
        declare.remove(name)


def ini(tmp_path: Path, sections: str) -> Path:
    path = tmp_path / "conveyor.ini"
    path.write_text(
        f"[conveyor]\nconveyor.backend = sqlite:///{tmp_path}/jobs.sqlite3\n"
        f"conveyor.site_id = test.conveyor\n\n{sections}",
        encoding="utf-8",
    )
    return path


def queued(queue: str = "default") -> list[conveyor.Job]:
    return conveyor.get_queue(queue).jobs


# -- schedules ---------------------------------------------------------------------------
def test_an_interval_ticks_at_multiples_of_itself_since_the_epoch() -> None:
    every = Every(60)
    assert every.latest(T0 + 59.9) == T0
    assert every.latest(T0) == T0
    assert every.next_after(T0) == T0 + 60
    assert every.next_after(T0 - 0.5) == T0


def test_a_cron_schedule_is_read_in_its_time_zone() -> None:
    nightly = Cron("0 3 * * *", "Europe/Paris")
    # 03:00 in Paris is 02:00 UTC in winter and 01:00 UTC in summer.
    assert nightly.latest(utc("2026-12-05T12:00:00")) == utc("2026-12-05T02:00:00")
    assert nightly.next_after(utc("2026-07-01T12:00:00")) == utc("2026-07-02T01:00:00")


def test_across_daylight_saving_changes_a_daily_job_runs_once_a_day() -> None:
    daily = Cron("30 2 * * *", "Europe/Paris")
    # 02:30 does not exist on 29 March 2026 (clocks go 02:00 -> 03:00): it runs at 03:00.
    assert daily.next_after(utc("2026-03-28T12:00:00")) == utc("2026-03-29T01:00:00")
    # 02:30 happens twice on 25 October 2026: it runs at the first one only.
    first = daily.next_after(utc("2026-10-24T12:00:00"))
    assert first == utc("2026-10-25T00:30:00")
    assert daily.next_after(first) == utc("2026-10-26T01:30:00")


def test_a_cron_tick_at_now_is_the_latest() -> None:
    every_five = Cron("*/5 * * * *")
    assert every_five.latest(utc("2026-12-05T10:05:00")) == utc("2026-12-05T10:05:00")
    assert every_five.next_after(utc("2026-12-05T10:05:00")) == utc("2026-12-05T10:10:00")


def test_a_six_field_cron_expression_counts_seconds() -> None:
    assert Cron("*/2 * * * * *").latest(101.5) == 100.0


def test_a_schedule_round_trips_through_its_stored_form() -> None:
    for schedule in (Every(90), Cron("*/5  * * * *", "Europe/Paris")):
        assert parse(schedule.text, schedule.timezone) == schedule
    assert Cron("*/5  * * * *").text == "cron */5 * * * *"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90),
        ("90", 90),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("2d", 172_800),
        (timedelta(minutes=2), 120),
    ],
)
def test_intervals_take_seconds_timedeltas_and_short_forms(value: object, seconds: int) -> None:
    assert interval_seconds(value) == seconds


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Cron("* * *"), "Invalid cron expression"),
        (lambda: Cron("61 * * * *"), "Bad minute"),
        (lambda: Cron("0 0 30 2 *"), "Bad day-of-month"),
        (lambda: Cron("0 3 * * *", "Mars/Olympus"), "Unknown time zone"),
        (lambda: Every(0), "at least 1"),
        (lambda: interval_seconds("5 weeks"), "An interval must be"),
        (lambda: interval_seconds(timedelta(seconds=1.5)), "whole seconds"),
        (lambda: interval_seconds(True), "An interval must be"),
    ],
)
def test_bad_schedules_are_refused(make: object, message: str) -> None:
    with pytest.raises(PeriodicJobError, match=message):
        make()  # type: ignore[operator]


# -- declaring in code -------------------------------------------------------------------
def test_the_decorator_registers_the_function_under_its_import_path() -> None:
    from conveyor_test_jobs import succeed

    decorated = conveyor.periodic(every=timedelta(minutes=5), queue="reports")(succeed)
    assert decorated is succeed
    job = declare.registered()["conveyor_test_jobs:succeed"]
    assert (job.func, job.schedule, job.queue) == (
        "conveyor_test_jobs:succeed",
        Every(300),
        "reports",
    )


def test_register_periodic_takes_arguments_and_a_name() -> None:
    job = conveyor.register_periodic(
        "conveyor_test_jobs:add", name="sum", cron="0 * * * *", tz="Europe/Paris", args=[1, 2]
    )
    assert declare.registered()["sum"] == job
    assert (job.args, job.schedule) == ((1, 2), Cron("0 * * * *", "Europe/Paris"))


def test_the_same_declaration_twice_is_fine_a_different_one_is_refused() -> None:
    conveyor.register_periodic("conveyor_test_jobs:succeed", name="twice", every=60)
    conveyor.register_periodic("conveyor_test_jobs:succeed", name="twice", every=60)
    with pytest.raises(PeriodicJobError, match="different periodic job named 'twice'"):
        conveyor.register_periodic("conveyor_test_jobs:succeed", name="twice", every=61)
    assert declare.registered()["twice"].schedule == Every(60)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of cron= and every="),
        ({"cron": "* * * * *", "every": 60}, "exactly one of cron= and every="),
        ({"every": 60, "tz": "Europe/Paris"}, "cron schedules only"),
        ({"every": 60, "missed": "all"}, "missed must be one of"),
        ({"every": 60, "name": "has space"}, "is not valid"),
        ({"every": 60, "args": "abc"}, "args must be a list"),
        ({"every": 60, "kwargs": [1]}, "kwargs must be a dict"),
        ({"every": 60, "queue": " "}, "A queue name must be a non-blank string"),
    ],
)
def test_bad_declarations_are_refused_and_not_registered(
    options: dict[str, object], message: str
) -> None:
    before = declare.registered()
    with pytest.raises(PeriodicJobError, match=message):
        conveyor.register_periodic("conveyor_test_jobs:succeed", **options)
    assert declare.registered() == before


def test_a_function_a_worker_cannot_import_is_refused() -> None:
    with pytest.raises(PeriodicJobError, match="Periodic job function"):
        conveyor.register_periodic(lambda: None, every=60)


# -- declaring in the config file --------------------------------------------------------
def test_a_config_section_declares_a_periodic_job(tmp_path: Path) -> None:
    path = ini(
        tmp_path,
        "[conveyor:periodic:report]\nfunction = conveyor_test_jobs:add\ncron = 0 3 * * *\n"
        "timezone = Europe/Paris\nargs = [1, 2]\nkwargs = {}\nqueue = reports\ntimeout = 60\n"
        "missed = skip\ntitle = Nightly report\n",
    )
    config = conveyor.configure(path)
    job = declare.declared(config)["report"]
    assert job.schedule == Cron("0 3 * * *", "Europe/Paris")
    assert (job.func, job.args, job.queue, job.timeout) == (
        "conveyor_test_jobs:add",
        (1, 2),
        "reports",
        60,
    )
    assert (job.missed, job.title) == ("skip", "Nightly report")


def test_a_section_of_a_ckan_ini_ignores_the_keys_of_default(tmp_path: Path) -> None:
    path = tmp_path / "ckan.ini"
    path.write_text(
        "[DEFAULT]\ndebug = false\n\n[app:main]\nckan.site_id = test.conveyor\n\n"
        "[conveyor:periodic:tidy]\nfunction = conveyor_test_jobs:succeed\nevery = 1h\n",
        encoding="utf-8",
    )
    assert declare.declared(conveyor.configure(path))["tidy"].schedule == Every(3600)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("every = 60\n", "function is required"),
        ("function = conveyor_test_jobs:add\nevery = 60\nargs = [1,\n", "args is not valid JSON"),
        ("function = conveyor_test_jobs:add\nevery = 60\nargs = {}\n", "args must be a JSON list"),
        ("function = conveyor_test_jobs:add\ncron = 99 * * * *\n", "Bad minute"),
        ("function = conveyor_test_jobs:add\nevery = 60\ncolour = red\n", "unknown key"),
    ],
)
def test_a_bad_config_section_is_refused_naming_it(
    tmp_path: Path, body: str, message: str
) -> None:
    config = conveyor.configure(ini(tmp_path, f"[conveyor:periodic:bad]\n{body}"))
    with pytest.raises(ConfigError, match=rf"\[conveyor:periodic:bad\].*{message}"):
        declare.declared(config)


def test_a_job_declared_in_code_and_differently_in_the_file_is_refused(tmp_path: Path) -> None:
    conveyor.register_periodic("conveyor_test_jobs:succeed", name="both", every=60)
    path = ini(
        tmp_path, "[conveyor:periodic:both]\nfunction = conveyor_test_jobs:succeed\nevery = 30\n"
    )
    with pytest.raises(ConfigError, match="declared both in code and in"):
        declare.declared(conveyor.configure(path))


def test_modules_named_in_the_config_are_imported_for_their_declarations(tmp_path: Path) -> None:
    (tmp_path / "my_periodic_module.py").write_text(
        "import conveyor\n\n@conveyor.periodic(every=30, name='from-module')\n"
        "def tick():\n    pass\n",
        encoding="utf-8",
    )
    path = ini(tmp_path, "")
    config = conveyor.configure(path, settings={"conveyor.periodic.modules": "my_periodic_module"})
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        assert declare.declared(config)["from-module"].func == "my_periodic_module:tick"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_periodic_module", None)


def test_a_module_that_cannot_be_imported_is_a_config_error() -> None:
    config = conveyor.configure(settings={"conveyor.periodic.modules": "no_such_module_here"})
    with pytest.raises(ConfigError, match="cannot import 'no_such_module_here'"):
        declare.declared(config)


# -- the worker's ticker -----------------------------------------------------------------
def ticker(*jobs: declare.PeriodicJob, queues: tuple[str, ...] = ("default",)) -> Ticker:
    config = conveyor.config.current()
    return Ticker(jobs, [config.queue_prefix + q for q in queues], config)


def every_minute(**options: object) -> declare.PeriodicJob:
    return declare.make(
        "conveyor_test_jobs:add", name="minutely", every=60, args=[2, 3], **options
    )  # type: ignore[arg-type]


def test_a_new_periodic_job_waits_for_its_next_tick() -> None:
    first = ticker(every_minute())
    first.start(backend(), T0 + 30)
    assert first.due == T0
    assert first.run_due(backend(), T0 + 30) == 0  # T0 is the baseline: before it existed
    assert first.due == T0 + 60
    assert first.run_due(backend(), T0 + 59) == 0
    assert first.run_due(backend(), T0 + 60.2) == 1
    (job,) = queued()
    assert (job.record.func, job.args, job.title) == ("conveyor_test_jobs:add", [2, 3], "minutely")
    assert (job.meta["periodic"], job.meta["tick"]) == ("minutely", T0 + 60)


def test_workers_evaluating_the_same_job_enqueue_each_tick_once(tmp_path: Path) -> None:
    stores = [backend(), backends.open_backend(conveyor.config.current().backend, tmp_path)]
    tickers = [ticker(every_minute()) for _ in range(3)]
    for index, each in enumerate(tickers):
        each.start(stores[index % 2], T0)
    for minute in range(1, 6):
        for index, each in enumerate(tickers):
            each.run_due(stores[index % 2], T0 + minute * 60 + index * 0.1)
    ticks = sorted(job.meta["tick"] for job in queued())
    assert ticks == [T0 + minute * 60 for minute in range(1, 6)]
    stores[1].close()


def test_ticks_missed_while_no_worker_ran_run_once_the_latest() -> None:
    ticker(every_minute()).start(backend(), T0)
    later = ticker(every_minute())
    later.start(backend(), T0 + 3600 + 5)  # an hour without any worker
    assert later.run_due(backend(), T0 + 3600 + 5) == 1
    (job,) = queued()
    assert job.meta["tick"] == T0 + 3600


def test_with_missed_skip_a_late_tick_is_recorded_but_not_run() -> None:
    def hourly() -> declare.PeriodicJob:
        return declare.make("conveyor_test_jobs:succeed", name="hourly", every="1h", missed="skip")

    ticker(hourly()).start(backend(), T0)
    on_time = ticker(hourly())
    on_time.start(backend(), T0 + 3600 + 5)
    assert on_time.run_due(backend(), T0 + 3600 + 5) == 1  # 5 s late: within SKIP_AFTER
    late = ticker(hourly())
    late.start(backend(), T0 + 7200 + 120)
    assert late.run_due(backend(), T0 + 7200 + 120) == 0  # 2 minutes late: skipped
    assert [job.meta["tick"] for job in queued()] == [T0 + 3600]
    (entry,) = backend().periodic_entries(PREFIX)
    assert entry.last_tick == T0 + 7200
    assert late.run_due(backend(), T0 + 3 * 3600) == 1  # the next tick, on time, runs


def test_a_worker_evaluates_only_the_jobs_of_its_queues() -> None:
    mine = declare.make("conveyor_test_jobs:succeed", name="mine", every=60)
    theirs = declare.make("conveyor_test_jobs:succeed", name="theirs", every=60, queue="other")
    evaluator = ticker(mine, theirs)
    assert [job.name for job in evaluator.jobs] == ["mine"]
    evaluator.start(backend(), T0)
    assert [e.name for e in backend().periodic_entries(PREFIX)] == [PREFIX + "mine"]


def test_a_job_enqueue_would_refuse_stops_the_worker_from_starting() -> None:
    conveyor.register_periodic(
        "conveyor_test_jobs:echo", name="bad-args", every=60, args=[object()]
    )
    with pytest.raises(PeriodicJobError, match="'bad-args' cannot be enqueued"):
        conveyor.Worker()


def test_a_worker_without_periodic_jobs_has_no_ticker() -> None:
    assert conveyor.Worker().ticker is None
    conveyor.register_periodic("conveyor_test_jobs:succeed", name="one", every=60)
    assert conveyor.Worker().ticker is not None
    assert conveyor.Worker(periodic=False).ticker is None
    assert conveyor.Worker("other").ticker is None


# -- managing ----------------------------------------------------------------------------
def test_listing_shows_jobs_declared_here_and_in_the_store() -> None:
    conveyor.register_periodic("conveyor_test_jobs:succeed", name="here", cron="0 3 * * *")
    elsewhere = declare.make("conveyor_test_jobs:succeed", name="elsewhere", every=60)
    ticker(elsewhere).start(backend(), T0)
    listed = {job["name"]: job for job in conveyor.periodic_list()}
    assert sorted(listed) == ["elsewhere", "here"]
    here, there = listed["here"], listed["elsewhere"]
    assert (here["schedule"], here["declared_here"], here["in_store"]) == (
        "cron 0 3 * * * (UTC)",
        True,
        False,
    )
    assert (there["schedule"], there["declared_here"], there["in_store"]) == (
        "every 60",
        False,
        True,
    )
    assert there["last_tick"] == "2027-01-15T08:00:00"
    next_run = datetime.fromisoformat(here["next_run"])
    assert (next_run.hour, next_run.minute) == (3, 0)


def test_a_disabled_job_enqueues_nothing_until_enabled() -> None:
    evaluator = ticker(every_minute())
    evaluator.start(backend(), T0)
    disabled = conveyor.periodic_disable("minutely")
    assert (disabled["enabled"], disabled["next_run"]) == (False, None)
    evaluator.run_due(backend(), T0 + 60)
    assert queued() == []
    assert conveyor.periodic_enable("minutely")["enabled"]
    evaluator.run_due(backend(), T0 + 120)
    assert [job.meta["tick"] for job in queued()] == [T0 + 120]


def test_a_job_declared_here_can_be_disabled_before_any_worker_declared_it() -> None:
    conveyor.register_periodic("conveyor_test_jobs:succeed", name="early", every=60)
    assert conveyor.periodic_disable("early")["enabled"] is False
    (entry,) = backend().periodic_entries(PREFIX)
    assert (entry.name, entry.enabled) == (PREFIX + "early", False)


def test_unknown_periodic_jobs_are_refused() -> None:
    for call in (conveyor.periodic_disable, conveyor.periodic_enable, conveyor.periodic_forget):
        with pytest.raises(NoSuchPeriodicJob, match='no periodic job named "nope"'):
            call("nope")
    assert backend().periodic_entries(PREFIX) == []


def test_forgetting_deletes_the_entry_only() -> None:
    evaluator = ticker(every_minute())
    evaluator.start(backend(), T0)
    evaluator.run_due(backend(), T0 + 60)
    conveyor.periodic_forget("minutely")
    assert conveyor.periodic_list() == []
    assert len(queued()) == 1


# -- the CLI -----------------------------------------------------------------------------
def test_the_cli_lists_disables_and_enables(conveyor_env: conveyor.Config) -> None:
    runner = CliRunner()
    no_store = runner.invoke(main, ["periodic", "list"])
    assert no_store.exit_code == 1  # read-only: it creates no store
    backend()
    assert runner.invoke(main, ["periodic", "list"]).output == "There are no periodic jobs.\n"
    evaluator = ticker(every_minute())
    evaluator.start(backend(), T0)
    evaluator.run_due(backend(), T0 + 60)
    job_id = queued()[0].id
    listed = runner.invoke(main, ["periodic", "list"])
    assert listed.exit_code == 0
    assert listed.output.startswith('minutely enabled "every 60" queue "default" next ')
    assert listed.output.rstrip().endswith(f"(job {job_id})")
    result = runner.invoke(main, ["periodic", "disable", "minutely"])
    assert (result.exit_code, result.output) == (0, "Disabled periodic job minutely\n")
    assert " disabled " in runner.invoke(main, ["periodic", "list"]).output
    as_json = runner.invoke(main, ["periodic", "list", "--json"]).output
    assert '"enabled": false' in as_json
    assert runner.invoke(main, ["periodic", "enable", "minutely"]).exit_code == 0
    missing = runner.invoke(main, ["periodic", "disable", "nope"])
    assert missing.exit_code == 1
    assert 'There is no periodic job named "nope"' in missing.output
    assert queued()[0].state == JobState.QUEUED


def test_the_cli_imports_the_configured_modules_from_where_a_worker_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "cli_periodic_module.py").write_text(
        "import conveyor\n\n@conveyor.periodic(every=60, name='cli-declared')\n"
        "def tick():\n    pass\n",
        encoding="utf-8",
    )
    path = ini(tmp_path, "")
    path.write_text(
        path.read_text(encoding="utf-8") + "conveyor.periodic.modules = cli_periodic_module\n",
        encoding="utf-8",
    )
    conveyor.configure(path)
    backend()  # the store exists: list is read-only
    try:
        listed = CliRunner().invoke(main, ["-c", str(path), "periodic", "list"])
    finally:
        sys.modules.pop("cli_periodic_module", None)
    assert listed.output.startswith('cli-declared enabled "every 60" queue "default" next ')
