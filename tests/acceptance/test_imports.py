"""What importing conveyor loads, seen from a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys


# -- the package and the plugin -------------------------------------------------------------
def test_importing_conveyor_and_its_test_helpers_does_not_import_pytest() -> None:
    code = (
        "import sys, conveyor, conveyor.testing\n"
        "assert 'pytest' not in sys.modules, 'pytest was imported'\n"
        "from conveyor.testing import BackendConformance\n"
        "assert 'pytest' in sys.modules\n"
        "print(BackendConformance.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "BackendConformance\n"
