"""Every code block of README.md and docs/ runs as written (rules: docs/README.md)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import conveyor
from docs_snippets import PYTHON, ROOT, SESSION, SnippetMarkupError, pages, parse, run_page
from support import is_gone, wait_until

# README.md runs in test_the_readme_quickstart_runs_end_to_end, which also checks its outcome.
PAGES = [name for path in pages() if (name := path.relative_to(ROOT).as_posix()) != "README.md"]


@pytest.mark.parametrize("page", PAGES)
def test_code_blocks_of_the_page_run(page: str, tmp_path: Path) -> None:
    blocks = parse(ROOT / page)
    if not any(block.runs for block in blocks):
        return  # nothing to run (a page of prose, or every block says why it cannot run)
    workdir = tmp_path / "page"
    workdir.mkdir()
    run_page(blocks, workdir)


def test_every_block_that_does_not_run_says_why() -> None:
    unexplained = [
        block.where
        for path in pages()
        for block in parse(path)
        if block.lang in PYTHON | SESSION and not block.runs and not block.reason
    ]
    assert unexplained == [], "a no-run marker without a reason"


def test_the_readme_quickstart_runs_end_to_end(tmp_path: Path) -> None:
    """The quickstart's files, scripts and shell commands, then what its store holds."""
    workdir = tmp_path / "quickstart"
    workdir.mkdir()
    output = run_page(parse(ROOT / "README.md"), workdir)
    conveyor.configure(settings={"conveyor.backend": f"sqlite:///{workdir}/conveyor.sqlite3"})
    ended = conveyor.job_list(states=["finished", "failed"])
    assert sorted((job["title"], job["state"]) for job in ended) == [
        ("Count notes.txt", "finished"),
        ("Count todo.txt", "finished"),
        ("Welcome ada@example.com", "finished"),
    ]
    todo = conveyor.job_from_id("count-todo")
    assert todo.result == 4
    assert [error.type for error in todo.errors] == ["FileNotFoundError"]  # the first run's
    assert "FileNotFoundError" in output  # `jobs show` printed it before the retry


# -- the rules themselves ------------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "docs").mkdir(exist_ok=True)
    page = tmp_path / "docs" / "page.md"
    page.write_text(textwrap.dedent(text), encoding="utf-8")
    return page


def test_markers_and_file_blocks_are_read(tmp_path: Path) -> None:
    page = write(
        tmp_path,
        """\
        <!-- snippet: no-run: needs a Redis server -->
        ```python
        print(1)
        ```

        ```python
        # tasks.py
        def add(a, b):
            return a + b
        ```

        ```sh
        conveyor jobs list
        ```

        <!-- snippet: run -->
        ```sh
        conveyor jobs list
        ```
        """,
    )
    blocks = parse(page, root=tmp_path)
    assert [(b.line, b.lang, b.runs, b.reason, b.file) for b in blocks] == [
        (2, "python", False, "needs a Redis server", ""),
        (6, "python", True, "", "tasks.py"),
        (12, "sh", False, "", ""),
        (17, "sh", True, "", ""),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "<!-- snippet: no-run: a reason -->\n\n```python\nprint(1)\n```\n",
        "<!-- snippet: skip -->\n```python\nprint(1)\n```\n",
    ],
    ids=["not-before-a-fence", "unknown-marker"],
)
def test_a_stray_or_unknown_marker_is_an_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(SnippetMarkupError):
        parse(write(tmp_path, text), root=tmp_path)


def test_a_failing_block_fails_with_its_page_line(tmp_path: Path) -> None:
    page = write(
        tmp_path,
        """\
        ```python
        # tasks.py
        def greet(name):
            return f"Hello, {name}"
        ```

        ```python
        from tasks import greet
        total = greet("Ada")
        ```

        ```python
        assert total == "Hello, Bob", total
        ```
        """,
    )
    workdir = tmp_path / "run"
    workdir.mkdir()
    with pytest.raises(AssertionError) as failure:
        run_page(parse(page, root=tmp_path), workdir)
    assert "FAILED: the block at docs/page.md:12" in str(failure.value)
    assert 'File "docs/page.md", line 13' in str(failure.value)  # the page's own line
    assert "Hello, Ada" in str(failure.value)
    assert (workdir / "tasks.py").is_file()


def test_a_failing_shell_command_fails_the_page(tmp_path: Path) -> None:
    page = write(
        tmp_path,
        """\
        <!-- snippet: run -->
        ```sh
        conveyor jobs show no-such-job
        echo "not reached"
        ```
        """,
    )
    workdir = tmp_path / "run"
    workdir.mkdir()
    with pytest.raises(AssertionError) as failure:
        run_page(parse(page, root=tmp_path), workdir)
    assert "FAILED: the block at docs/page.md:2" in str(failure.value)
    assert "\nnot reached\n" not in str(failure.value)  # bash stopped at the failure


def test_a_page_that_does_not_end_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    page = write(
        tmp_path,
        """\
        <!-- snippet: run -->
        ```sh
        sleep 300 &
        echo $! > sleeper.pid
        ```

        ```python
        import time

        time.sleep(300)
        ```
        """,
    )
    workdir = tmp_path / "run"
    workdir.mkdir()
    with pytest.raises(AssertionError, match="ran over 3"):
        run_page(parse(page, root=tmp_path), workdir, timeout=3)
    sleeper = int((workdir / "sleeper.pid").read_text())
    wait_until(lambda: is_gone(sleeper), "the block's background process to be stopped")
