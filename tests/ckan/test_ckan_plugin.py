"""Loading the plugin: names an extension copied before it loaded are conveyor's afterwards."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

SCRIPT = """
import sys, types
from ckan.plugins import toolkit

early = types.ModuleType("ckanext.copied_early")
early.enqueue_job = toolkit.enqueue_job        # copied before any plugin loaded
sys.modules[early.__name__] = early

from ckan.cli import load_config
from ckan.config.middleware import make_app
make_app(load_config(sys.argv[1]))

from conveyor.ckan import jobs
print("enqueue_job:", early.enqueue_job is jobs.enqueue)
print("toolkit:", toolkit.enqueue_job is jobs.enqueue, toolkit.job_from_id is jobs.job_from_id)
"""


def test_names_copied_before_the_plugin_loaded_are_rebound(ckan_config: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, ckan_config["__file__"]],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "enqueue_job: True" in done.stdout
    assert "toolkit: True True" in done.stdout
