"""Jobs named by string: ``@conveyor.task``, ``send_task`` and names in ``enqueue``."""

from __future__ import annotations

import sys
import uuid

import pytest

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import functions
from conveyor.exceptions import ConfigError, FunctionNotImportable, InvalidJobError
from conveyor.tasks import registered_tasks
from conveyor.testing import run_jobs


# Registered when this module is imported, as an extension's tasks would be.
@conveyor.task(name="my_extension.echofunction")
def echo(message: str) -> str:
    print(message)
    return message


@conveyor.task
def bare() -> str:
    return "bare"


@conveyor.task("conveyor_tests.positional")
def positional() -> str:
    return "positional"


def replaced_later() -> None:
    """Registered by a test, then replaced in this module by another function."""


def other_function() -> None:
    """What a test puts in place of replaced_later."""


@pytest.fixture(autouse=True)
def own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names a test registers are forgotten after it (the module's own stay)."""
    monkeypatch.setattr(functions, "_tasks", dict(functions._tasks))


def unique_name() -> str:
    return f"conveyor_tests.task_{uuid.uuid4().hex[:8]}"


# -- registering ----------------------------------------------------------------------------
def test_the_decorator_returns_the_function_unchanged() -> None:
    assert echo.__name__ == "echo"
    assert echo("plain call") == "plain call"
    assert globals()["echo"] is echo
    assert registered_tasks()["my_extension.echofunction"] == f"{__name__}:echo"


def test_a_bare_decorator_registers_the_dotted_import_path() -> None:
    assert registered_tasks()[f"{__name__}.bare"] == f"{__name__}:bare"


def test_the_name_may_also_be_given_positionally() -> None:
    assert registered_tasks()["conveyor_tests.positional"] == f"{__name__}:positional"


def test_registering_a_taken_name_for_another_function_is_an_error() -> None:
    name = unique_name()
    conveyor.task(name=name)(test_jobs.add)
    conveyor.task(name=name)(test_jobs.add)  # the same function again: fine

    with pytest.raises(ConfigError, match=rf"{name}.*registered already.*conveyor_test_jobs:add"):
        conveyor.task(name=name)(test_jobs.echo)

    assert registered_tasks()[name] == "conveyor_test_jobs:add"


@pytest.mark.parametrize("name", ["", "  ", "tab\there", 42])
def test_a_task_name_must_be_a_printable_string(name: object) -> None:
    with pytest.raises(ConfigError, match="task name"):
        conveyor.task(name=name)(test_jobs.add)  # type: ignore[arg-type]


def test_a_function_no_worker_could_import_cannot_be_registered() -> None:
    def nested() -> None:
        pass

    with pytest.raises(FunctionNotImportable, match="nested function"):
        conveyor.task(name=unique_name())(nested)
    with pytest.raises(FunctionNotImportable, match="lambda"):
        conveyor.task(name=unique_name())(lambda: None)
    with pytest.raises(FunctionNotImportable, match="bound to an instance"):
        conveyor.task(name=unique_name())(test_jobs.Maker().method)


# -- enqueueing by name -------------------------------------------------------------------------
def test_enqueue_accepts_a_registered_name_and_stores_the_import_path() -> None:
    job = conveyor.enqueue("my_extension.echofunction", ["Hello World"])
    assert job.func_name == f"{__name__}:echo"
    assert conveyor.job_from_id(job.id).func_name == f"{__name__}:echo"
    assert job.args == ["Hello World"]


def test_enqueue_many_accepts_registered_names() -> None:
    jobs = conveyor.enqueue_many(
        [{"fn": "conveyor_tests.positional"}, {"fn": f"{__name__}.bare", "queue": "q"}]
    )
    assert [job.func_name for job in jobs] == [f"{__name__}:positional", f"{__name__}:bare"]


def test_a_registered_name_is_looked_up_before_an_import_path_it_looks_like() -> None:
    conveyor.task(name="conveyor_test_jobs.echo")(test_jobs.add)
    job = conveyor.enqueue("conveyor_test_jobs.echo", [2, 3])
    assert job.func_name == "conveyor_test_jobs:add"


def test_import_paths_still_work_without_registration() -> None:
    assert conveyor.enqueue("conveyor_test_jobs:add", [1, 2]).func_name == "conveyor_test_jobs:add"
    assert conveyor.enqueue("conveyor_test_jobs.add", [1, 2]).func_name == "conveyor_test_jobs:add"


def test_an_unknown_name_is_refused_at_enqueue_with_the_closest_names() -> None:
    with pytest.raises(FunctionNotImportable) as refused:
        conveyor.enqueue("my_extension.echofuncton", ["Hello"])
    message = str(refused.value)
    assert "'my_extension.echofuncton' is not a registered task name" in message
    assert "Did you mean 'my_extension.echofunction'?" in message
    assert conveyor.get_all_queues() == []


def test_an_unknown_name_without_close_matches_lists_the_registered_names() -> None:
    with pytest.raises(FunctionNotImportable, match=r"Registered task names: .*'my_extension"):
        conveyor.enqueue("zzz.qqq")


def test_a_registered_function_replaced_in_its_module_is_refused_at_enqueue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = unique_name()
    conveyor.task(name=name)(replaced_later)
    monkeypatch.setattr(sys.modules[__name__], "replaced_later", other_function)

    with pytest.raises(FunctionNotImportable, match="does not name"):
        conveyor.enqueue(name)
    assert conveyor.get_all_queues() == []


# -- send_task ----------------------------------------------------------------------------------
def test_send_task_is_the_references_celery_call_ported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    task_id = str(uuid.uuid4())
    job = conveyor.send_task("my_extension.echofunction", args=["Hello World"], task_id=task_id)
    assert job.id == task_id

    [ran] = run_jobs()

    assert ran.id == task_id
    assert ran.result == "Hello World"
    assert capsys.readouterr().out == "Hello World\n"


def test_send_task_passes_queue_kwargs_and_options() -> None:
    job = conveyor.send_task(
        "my_extension.echofunction",
        kwargs={"message": "hi"},
        queue="celery",
        title="Echo",
        timeout=30,
    )
    assert (job.queue, job.kwargs, job.title, job.timeout) == (
        "celery",
        {"message": "hi"},
        "Echo",
        30,
    )


def test_send_task_refuses_celery_options_conveyor_does_not_have() -> None:
    with pytest.raises(InvalidJobError, match="countdown"):
        conveyor.send_task("my_extension.echofunction", args=["x"], countdown=10)
    assert conveyor.get_all_queues() == []


def test_send_task_refuses_a_function() -> None:
    with pytest.raises(InvalidJobError, match=r"takes a task name.*conveyor\.enqueue"):
        conveyor.send_task(echo)  # type: ignore[arg-type]


def test_send_task_refuses_both_task_id_and_job_id() -> None:
    with pytest.raises(InvalidJobError, match="task_id or job_id"):
        conveyor.send_task("my_extension.echofunction", task_id="a", job_id="b")


# -- docs/migrating.md ----------------------------------------------------------------------------
def compat_enqueue(name, fn, args=None):  # type: ignore[no-untyped-def]
    """Enqueue a background job using conveyor, or Celery where conveyor is missing."""
    try:
        from conveyor import enqueue_job
    except ImportError:
        import uuid

        from ckan.lib.celery_app import celery

        celery.send_task(name, args=args, task_id=str(uuid.uuid4()))
    else:
        enqueue_job(fn, args=args)


def test_the_documented_compat_enqueue_uses_conveyor(capsys: pytest.CaptureFixture[str]) -> None:
    compat_enqueue("my_extension.echofunction", echo, ["Hello World"])
    [job] = run_jobs()
    assert job.func_name == f"{__name__}:echo"
    assert capsys.readouterr().out == "Hello World\n"


def test_a_name_alone_is_enough_once_the_function_is_registered() -> None:
    job = conveyor.send_task("my_extension.echofunction", args=["by name"])
    [ran] = run_jobs()
    assert (ran.id, ran.result) == (job.id, "by name")
