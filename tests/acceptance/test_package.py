"""The distributions as published: built, checked, installed in a fresh venv, a worker run.

Marked ``package``: ``make package`` runs it (CI does, after ``make test``);
``make unit`` leaves it out. The venv installs the wheel's dependencies from the
package index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from support import ROOT

BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.package, pytest.mark.timeout(600)]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel (built from the sdist, as `python -m build` does)."""
    out = tmp_path_factory.mktemp("dist")
    run(BIN / "python", "-m", "build", "--outdir", out, ROOT, cwd=out)
    return out


def the(dist: Path, pattern: str) -> Path:
    [found] = dist.glob(pattern)
    return found


def test_both_distributions_carry_the_licence_and_pass_twine_check(dist: Path) -> None:
    wheel, sdist = the(dist, "*.whl"), the(dist, "*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert "conveyor/py.typed" in names
    # The SQL stores' named queries (read at run time, not imported).
    assert "conveyor/backends/sqlite_queries.sql" in names
    assert "conveyor/backends/postgresql/queries.sql" in names
    with tarfile.open(sdist) as archive:
        assert any(name.endswith("/LICENSE") for name in archive.getnames())
    text = metadata.decode("utf-8")
    assert "License-Expression: MIT" in text
    assert "Classifier: Programming Language :: Python :: 3.13" in text
    assert "](docs/" not in text
    assert "](../" not in text
    run(BIN / "twine", "check", "--strict", wheel, sdist, cwd=dist)


def test_the_wheel_installs_in_a_fresh_venv_and_a_burst_worker_runs_a_job(
    dist: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        the(dist, "*.whl"),
        cwd=tmp_path,
    )
    project = tmp_path / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "PYTHON"))}
    env["CONVEYOR_BACKEND"] = f"sqlite:///{project}/conveyor.sqlite3"
    where = run(
        venv / "bin" / "python",
        "-c",
        "import conveyor; print(conveyor.__file__)",
        cwd=project,
        env=env,
    )
    assert where.strip().startswith(str(venv))  # the installed copy, not the source tree
    (project / "tasks.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    enqueue = "import conveyor, tasks; conveyor.enqueue(tasks.add, [2, 3], job_id='add')"
    run(venv / "bin" / "python", "-c", enqueue, cwd=project, env=env)
    conveyor = venv / "bin" / "conveyor"
    run(conveyor, "jobs", "test", cwd=project, env=env)
    run(conveyor, "jobs", "worker", "--burst", cwd=project, env=env)
    listed = run(conveyor, "jobs", "list", "--state", "finished", "--json", cwd=project, env=env)
    ended = json.loads(listed)
    assert sorted(job["func"] for job in ended) == ["conveyor.api:test_job", "tasks:add"]
    assert (
        json.loads(run(conveyor, "jobs", "show", "add", "--json", cwd=project, env=env))["result"]
        == 5
    )
