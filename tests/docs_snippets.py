"""Find the code blocks of README.md and docs/*.md, and run one page's blocks in order.

The rules are written for authors in docs/README.md ("Code blocks in these pages"):
```python blocks run, a page's blocks in order in one process and namespace, in a
fresh directory with a store of its own; a block whose first line names a file
("# tasks.py") is written as that file; ```pycon blocks run as doctests; ```sh
blocks run only after ``<!-- snippet: run -->``; ``<!-- snippet: no-run: REASON -->``
right before a fence keeps a block from running.

Run as a script: ``python tests/docs_snippets.py`` lists every block that does not
run, with its reason; ``python tests/docs_snippets.py run PAGE.json`` is what the
tests call in a subprocess to run one page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import doctest
import json
import os
import re
import signal
import subprocess
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = frozenset({"python", "py"})
#: Interactive sessions (">>> " prompts): run as doctests, their output compared.
SESSION = frozenset({"pycon"})
SHELL = frozenset({"sh", "bash", "shell"})
#: Blocks of these kinds are files when their first line names one ("# tasks.py").
FILES = PYTHON | {"ini", "cfg", "toml"}
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(?P<body>.*?)\s*-->\s*$")
_NO_RUN = re.compile(r"^no-run\b[\s:-]*(?P<reason>.*)$")
_FILE = re.compile(r"^#\s+(?P<name>[A-Za-z0-9_][A-Za-z0-9_./-]*\.[a-z]+)\s*$")


class SnippetMarkupError(Exception):
    """A snippet marker that is malformed or not right before a code block."""


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str  # relative to the project root
    line: int  # 1-based line of the opening fence
    lang: str  # the fence's first word ("python", "sh", ...)
    source: str
    runs: bool  # False: marked no-run (python) or not marked run (shell)
    reason: str = ""  # the no-run marker's reason
    file: str = ""  # the file this block is, from its first line ("# tasks.py")

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages(root: Path = ROOT) -> list[Path]:
    """README.md, the package's description and every page under docs/, in a stable order."""
    return [root / "README.md", root / "README.pypi.md", *sorted((root / "docs").rglob("*.md"))]


def _directive(marker: str | None, lang: str, where: str) -> tuple[bool, str]:
    """(runs, reason) for a block of ``lang`` preceded by ``marker`` (the marker's body)."""
    if marker is None:
        return lang in PYTHON | SESSION, ""
    if marker == "run":
        return True, ""
    match = _NO_RUN.match(marker)
    if match is None:
        raise SnippetMarkupError(f"{where}: unknown snippet marker {marker!r}")
    return False, match.group("reason") or ""


def parse(path: Path, root: Path = ROOT) -> list[Block]:
    """Every fenced code block of ``path``; raises SnippetMarkupError for a stray marker."""
    page = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        marker = _MARKER.match(lines[index])
        fence = _FENCE.match(lines[index])
        if marker and not (index + 1 < len(lines) and _FENCE.match(lines[index + 1])):
            raise SnippetMarkupError(
                f"{page}:{index + 1}: a snippet marker must be the line right before a fence"
            )
        if fence is None:
            index += 1
            continue
        before = _MARKER.match(lines[index - 1]) if index else None
        indent, ticks = len(fence["indent"]), fence["fence"]
        lang = (fence["info"].split() or [""])[0].lower()
        end = index + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        body = [
            text[indent:] if text[:indent].isspace() else text for text in lines[index + 1 : end]
        ]
        where = f"{page}:{index + 1}"
        first = _FILE.match(body[0]) if body and lang in FILES else None
        kind = "python" if first else lang  # a file block is written like a python one runs
        runs, reason = _directive(before["body"] if before else None, kind, where)
        blocks.append(
            Block(
                page=page,
                line=index + 1,
                lang=lang,
                source="\n".join(body) + "\n",
                runs=runs and (lang in PYTHON | SESSION | SHELL or first is not None),
                reason=reason,
                file=first["name"] if first else "",
            )
        )
        index = end + 1
    return blocks


def environment(workdir: Path) -> dict[str, str]:
    """The environment a page runs in: its own SQLite store, this interpreter first on PATH."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CONVEYOR_", "CKAN_", "PYTEST_")) and name != "PYTHONPATH"
    }
    env["CONVEYOR_BACKEND"] = f"sqlite:///{workdir}/conveyor.sqlite3"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_page(blocks: list[Block], workdir: Path, timeout: float = 90.0) -> str:
    """Run a page's blocks in ``workdir`` in a fresh interpreter; raise AssertionError on failure.

    Returns what the blocks printed.
    """
    spec = workdir.parent / f"{workdir.name}.blocks.json"
    spec.write_text(json.dumps([dataclasses.asdict(block) for block in blocks]), "utf-8")
    # A session of its own: a block that leaves a worker running cannot outlive the test.
    with subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "run", str(spec)],
        cwd=workdir,
        env=environment(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as runner:
        try:
            output, _ = runner.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
            output, _ = runner.communicate()
            raise AssertionError(f"the page's blocks ran over {timeout}s:\n{output}") from None
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(runner.pid, signal.SIGKILL)  # whatever the blocks left behind
    if runner.returncode != 0:
        raise AssertionError(f"a code block failed (exit {runner.returncode}):\n{output}")
    return output


# -- what runs inside the subprocess ---------------------------------------------------------
def _execute(block: Block, namespace: dict[str, object]) -> None:
    # Blank lines in front make a traceback's line numbers those of the Markdown page.
    padded = "\n" * block.line + block.source
    if block.file:
        target = Path(block.file)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.source, encoding="utf-8")
        if block.lang in PYTHON:
            compile(padded, block.page, "exec")
    elif block.lang in PYTHON:
        exec(compile(padded, block.page, "exec"), namespace)
    elif block.lang in SESSION:
        _session(block, namespace)
    else:
        sys.stdout.flush()
        subprocess.run(["bash", "-euo", "pipefail", "-c", block.source], check=True)


def _session(block: Block, namespace: dict[str, object]) -> None:
    """Run a ">>> " session as a doctest; its output must match (``...`` matches anything)."""
    test = doctest.DocTestParser().get_doctest(
        block.source, namespace, block.where, block.page, block.line
    )
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.REPORT_NDIFF
    )
    results = runner.run(test, out=sys.stderr.write, clear_globs=False)
    if results.failed:
        raise AssertionError(f"{results.failed} example(s) of the session gave other output")


def _run(spec: Path) -> int:
    sys.path[0] = os.getcwd()  # the page's directory, not tests/
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in (Block(**fields) for fields in json.loads(spec.read_text("utf-8"))):
        if not block.runs:
            continue
        print(f"--- {block.where} ({block.file or block.lang})", flush=True)
        try:
            _execute(block, namespace)
        except BaseException:
            sys.stdout.flush()
            print(f"FAILED: the block at {block.where}", file=sys.stderr)
            traceback.print_exc()
            return 1
    return 0


def _report() -> int:
    """Print every block that does not run, and a count per page."""
    for path in pages():
        blocks = [b for b in parse(path) if b.lang in PYTHON | SESSION | SHELL]
        skipped = [b for b in blocks if not b.runs]
        print(f"{path.relative_to(ROOT)}: {len(blocks) - len(skipped)} run, {len(skipped)} not")
        for block in skipped:
            why = block.reason or ("shell, not marked run" if block.lang in SHELL else "no reason")
            print(f"  {block.where} [{block.lang}] {why}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        sys.exit(_run(Path(sys.argv[2])))
    sys.exit(_report())
