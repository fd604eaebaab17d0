"""Job functions are named by import path; what a worker could not import is refused."""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import conveyor
import conveyor_test_jobs
from conveyor.exceptions import FunctionNotImportable, InvalidJobError
from conveyor.functions import function_path, import_function


def _nested_function() -> Callable[[], None]:
    def inner() -> None:
        """Defined inside another function: a worker cannot import it."""

    return inner


def _main_function() -> Callable[[], None]:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec("def main_job():\n    pass\n", namespace)
    return namespace["main_job"]  # type: ignore[no-any-return]


class _Callable:
    def __call__(self) -> None:
        """An instance with __call__ has no import path."""


def assert_nothing_stored() -> None:
    assert conveyor.job_list(ids_only=True) == []
    assert conveyor.get_all_queues() == []


# -- what works ------------------------------------------------------------------------
def test_a_module_level_function_is_named_module_colon_name() -> None:
    assert function_path(conveyor_test_jobs.add) == "conveyor_test_jobs:add"
    assert import_function("conveyor_test_jobs:add") is conveyor_test_jobs.add


def test_a_classmethod_of_a_top_level_class_is_named_by_its_qualname() -> None:
    path = function_path(conveyor_test_jobs.Maker.build)
    assert path == "conveyor_test_jobs:Maker.build"
    assert import_function(path)(21) == 42


@pytest.mark.parametrize("path", ["conveyor_test_jobs:add", "conveyor_test_jobs.add"])
def test_a_string_path_names_the_function_in_either_spelling(path: str) -> None:
    assert function_path(path) == "conveyor_test_jobs:add"
    assert import_function(path) is conveyor_test_jobs.add


def test_a_dotted_path_into_a_package_resolves() -> None:
    assert import_function("os.path.join") is __import__("os").path.join
    assert function_path("os.path:join") == "os.path:join"


@pytest.mark.parametrize(
    ("fn", "path"),
    [
        (conveyor_test_jobs.add, "conveyor_test_jobs:add"),
        ("conveyor_test_jobs.add", "conveyor_test_jobs:add"),
        ("conveyor_test_jobs:add", "conveyor_test_jobs:add"),
        (conveyor_test_jobs.Maker.build, "conveyor_test_jobs:Maker.build"),
        ("conveyor_test_jobs.Maker.build", "conveyor_test_jobs:Maker.build"),
    ],
)
def test_enqueue_stores_the_import_path(fn: Any, path: str) -> None:
    job = conveyor.enqueue(fn, [1, 2] if "add" in path else [1])
    assert job.func_name == path
    assert conveyor.job_from_id(job.id).func_name == path


# -- what is refused at enqueue time -----------------------------------------------------------
@pytest.mark.parametrize(
    ("fn", "fragment"),
    [
        (lambda: None, "is a lambda"),
        (_nested_function(), "is a nested function"),
        (conveyor_test_jobs.Maker().method, "is a method bound to an instance"),
        (_main_function(), "is defined in __main__"),
        (functools.partial(conveyor_test_jobs.add, 1), "no module and name"),
        (_Callable(), "no module and name"),
        (42, "is not callable"),
        ("no_such_module_for_conveyor:run", "Cannot import module 'no_such_module_for_conveyor'"),
        ("conveyor_test_jobs:no_such_function", "has no attribute 'no_such_function'"),
        ("conveyor_test_jobs.Maker.nothing", "has no attribute 'Maker.nothing'"),
        ("os:sep", "names a str, not a function"),
        ("nodots", "is not an import path"),
        ("", "is not an import path"),
    ],
    ids=[
        "lambda",
        "nested",
        "bound-method",
        "main",
        "partial",
        "callable-instance",
        "not-callable",
        "unimportable-module",
        "missing-attribute",
        "missing-nested-attribute",
        "not-a-function",
        "no-module",
        "empty",
    ],
)
def test_what_a_worker_cannot_import_is_refused_and_nothing_is_stored(
    fn: Any, fragment: str
) -> None:
    with pytest.raises(FunctionNotImportable, match=fragment):
        conveyor.enqueue(fn, [1])
    assert_nothing_stored()


def test_function_not_importable_is_an_invalid_job_error() -> None:
    with pytest.raises(InvalidJobError):
        conveyor.enqueue(lambda: None)


def test_a_function_replaced_in_its_module_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "replaced_jobs_for_conveyor.py").write_text(
        "def job():\n    return 1\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("replaced_jobs_for_conveyor")
    try:
        original = module.job
        module.job = conveyor_test_jobs.add
        with pytest.raises(FunctionNotImportable, match="does not name"):
            conveyor.enqueue(original)
    finally:
        sys.modules.pop("replaced_jobs_for_conveyor", None)
    assert_nothing_stored()


def test_a_refused_function_in_enqueue_many_stores_none_of_the_batch() -> None:
    with pytest.raises(FunctionNotImportable):
        conveyor.enqueue_many(
            [
                {"fn": conveyor_test_jobs.succeed},
                {"fn": lambda: None},
                {"fn": conveyor_test_jobs.succeed},
            ]
        )
    assert_nothing_stored()
