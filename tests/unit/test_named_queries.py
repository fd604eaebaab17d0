"""Named queries: one SQL file per SQL store; every query asked for exists, every one is used."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conveyor.backends import sqlfile, sqlite_queries

BACKENDS = Path(sqlfile.__file__).parent

#: Per store: its queries file, its modules, and the functions that take a query's name.
STORES = {
    "postgresql": (
        ("conveyor.backends.postgresql", "queries.sql"),
        sorted((BACKENDS / "postgresql").glob("*.py")),
        {"query", "_rows"},
    ),
    "sqlite": (
        ("conveyor.backends", "sqlite_queries.sql"),
        sorted(BACKENDS.glob("sqlite*.py")),
        {"query", "with_words"},
    ),
}


def accessor_calls(scope: ast.AST, accessors: set[str]) -> list[ast.Call]:
    """The calls within ``scope`` of a function that takes a query's name."""
    calls = []
    for call in ast.walk(scope):
        if isinstance(call, ast.Call) and call.args:
            callee = call.func
            name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
            if name in accessors:
                calls.append(call)
    return calls


def names_asked_for(modules: list[Path], accessors: set[str]) -> tuple[set[str], list[str]]:
    """The query names the modules pass to an accessor, and the calls whose name is not
    written out (a constant, or a conditional between two) other than an accessor
    passing its own parameter on."""
    asked: set[str] = set()
    unreadable: list[str] = []
    for module in modules:
        tree = ast.parse(module.read_text(encoding="utf-8"))
        passed_on = set()  # an accessor handing its own parameter to another
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef) and function.name in accessors:
                params = {a.arg for a in function.args.args}
                for call in accessor_calls(function, accessors):
                    if isinstance(call.args[0], ast.Name) and call.args[0].id in params:
                        passed_on.add(id(call))
        for call in accessor_calls(tree, accessors):
            if id(call) in passed_on:
                continue
            arg = call.args[0]
            for option in [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]:
                if isinstance(option, ast.Constant) and isinstance(option.value, str):
                    asked.add(option.value)
                else:
                    unreadable.append(f"{module.name}:{call.lineno}")
    return asked, unreadable


@pytest.mark.parametrize("store", sorted(STORES))
def test_every_query_asked_for_exists_and_every_query_is_used(store: str) -> None:
    (package, filename), modules, accessors = STORES[store]
    defined = set(sqlfile.queries(package, filename))
    asked, unreadable = names_asked_for(modules, accessors)
    assert unreadable == []
    assert sorted(asked - defined) == []  # asked for, not in the file
    assert sorted(defined - asked) == []  # dead SQL
    assert len(defined) > 10


def test_the_postgresql_queries_are_bytes_with_their_comments() -> None:
    from conveyor.backends.postgresql.queries import query

    claim = query("claim")
    assert isinstance(claim, bytes)
    assert claim.startswith(b"-- Take up to `limit` queued jobs")
    assert b"FOR UPDATE SKIP LOCKED" in claim
    assert b"-- name:" not in claim


def test_an_unknown_name_is_an_error_that_names_the_file() -> None:
    from conveyor.backends.postgresql.queries import query

    with pytest.raises(
        sqlfile.UnknownQuery, match=r"postgresql/queries.sql has no query named 'clam'"
    ):
        query("clam")
    with pytest.raises(KeyError, match=r"sqlite_queries.sql has no query named 'clam'"):
        sqlite_queries.query("clam")


def test_a_query_runs_from_its_header_to_the_next() -> None:
    text = (
        "-- What the file holds.\n"
        "\n"
        "-- name: first\n"
        "-- Its comment stays.\n"
        "SELECT 1\n"
        "\n"
        "\n"
        "-- name: second\n"
        "SELECT 2;\n"
        "SELECT 3\n"
    )
    assert sqlfile.parse(text, "t.sql") == {
        "first": "-- Its comment stays.\nSELECT 1\n",
        "second": "SELECT 2;\nSELECT 3\n",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1\n-- name: a\nSELECT 2\n", r"t.sql, line 1: SQL before the first '-- name:'"),
        (
            "-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n",
            r"line 3: the query 'a' is defined twice",
        ),
        ("-- name: a\n-- only a comment\n\n-- name: b\nSELECT 1\n", r"the query 'a' has no SQL"),
        ("-- name: Bad-Name\nSELECT 1\n", r"line 1: 'Bad-Name' is not a query name"),
        ("-- name:\nSELECT 1\n", r"line 1: '' is not a query name"),
    ],
)
def test_a_malformed_file_is_refused_with_the_place(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sqlfile.parse(text, "t.sql")
