"""ckanext-xloader 2.6.0, unchanged, loading CSV files through conveyor.

Creating a resource makes xloader enqueue its job (through the toolkit's
``enqueue_job``, which the plugin made conveyor's); ``ckan jobs worker
--burst``, CKAN's own command run as a real process, runs it on conveyor;
then the datastore holds every row. A download that never ends makes the
job run past its timeout: xloader's own ``except JobTimeoutException``
handler (RQ's name) must run and record the timeout.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ckan.tests import factories, helpers

HERE = Path(__file__).parent
CKAN = str(Path(sys.executable).with_name("ckan"))
ROWS = [{"city": f"City {n}", "population": str(1000 + n)} for n in range(25)]

pytestmark = pytest.mark.usefixtures("clean_db", "with_plugins")


@pytest.fixture
def csv_server(tmp_path: Path) -> Iterator[str]:
    """The base URL of a local server holding rows.csv (stopped by its pid)."""
    files = tmp_path / "files"
    files.mkdir()
    with (files / "rows.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["city", "population"])
        writer.writeheader()
        writer.writerows(ROWS)
    port_file = tmp_path / "csv.port"
    process = subprocess.Popen([sys.executable, str(HERE / "csv_server.py"), files, port_file])
    try:
        helpers_wait(lambda: port_file.exists() and port_file.read_text(), "CSV server port")
        yield f"http://127.0.0.1:{port_file.read_text()}"
    finally:
        process.kill()
        process.wait(timeout=30)


def helpers_wait(condition: Any, what: str, timeout: float = 30.0) -> None:
    """Wait for ``condition()`` to be true, failing after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def site(tmp_path: Path, ckan_config: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A sysadmin token for xloader, in this process's config and in an ini for the worker."""
    sysadmin = factories.SysadminWithToken()
    monkeypatch.setitem(ckan_config, "ckanext.xloader.api_token", sysadmin["token"])
    ini = tmp_path / "site.ini"
    ini.write_text(
        "[app:main]\n"
        f"use = config:{Path(ckan_config['__file__']).resolve()}\n"
        f"ckanext.xloader.api_token = {sysadmin['token']}\n"
        "ckanext.xloader.job_timeout = 3\n"
    )
    monkeypatch.setitem(ckan_config, "ckanext.xloader.job_timeout", 3)
    return {"ini": ini, "sysadmin": sysadmin}


def run_worker(ini: Path) -> subprocess.CompletedProcess[str]:
    """``ckan -c INI jobs worker --burst``, CKAN's own command, as a real process."""
    return subprocess.run(
        [CKAN, "-c", str(ini), "jobs", "worker", "--burst"],
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ),
        check=False,
    )


def xloader_jobs() -> list[dict[str, Any]]:
    return [job for job in helpers.call_action("job_list") if "xloader" in (job["title"] or "")]


def test_a_csv_resource_is_loaded_by_a_conveyor_worker(
    site: dict[str, Any], csv_server: str
) -> None:
    dataset = factories.Dataset()
    resource = helpers.call_action(
        "resource_create",
        package_id=dataset["id"],
        url=f"{csv_server}/rows.csv",
        format="CSV",
        name="rows.csv",
    )
    waiting = xloader_jobs()
    assert len(waiting) == 1, helpers.call_action("job_list")

    worker = run_worker(site["ini"])
    print(worker.stderr[-4000:])
    assert worker.returncode == 0, worker.stderr[-4000:]
    assert f"starts job {waiting[0]['id']}" in worker.stderr

    found = helpers.call_action("datastore_search", resource_id=resource["id"], limit=1000)
    assert found["total"] == len(ROWS)
    assert [{"city": r["city"], "population": str(r["population"])} for r in found["records"]] == (
        ROWS
    )
    from ckan.common import config
    from ckanext.xloader import db

    db.init(config)
    job = db.get_job(waiting[0]["id"])
    assert job is not None
    assert job["status"] == "complete", job


def test_a_job_past_its_timeout_is_reported_by_xloader(
    site: dict[str, Any], csv_server: str
) -> None:
    dataset = factories.Dataset()
    helpers.call_action(
        "resource_create",
        package_id=dataset["id"],
        url=f"{csv_server}/stalled/rows.csv",
        format="CSV",
        name="stalled.csv",
    )
    waiting = xloader_jobs()
    assert len(waiting) == 1

    worker = run_worker(site["ini"])
    print(worker.stderr[-4000:])
    assert worker.returncode == 0, worker.stderr[-4000:]

    from ckan.common import config
    from ckanext.xloader import db

    db.init(config)
    job = db.get_job(waiting[0]["id"])
    assert job is not None, "xloader's job never started"
    messages = [entry["message"] for entry in job["logs"]]
    assert any("Job timed out after" in message for message in messages), messages
    assert job["status"] == "error", job
