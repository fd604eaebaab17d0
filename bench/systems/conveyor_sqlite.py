"""conveyor on its embedded default, SQLite (a file in WAL mode)."""

from __future__ import annotations

from pathlib import Path

from systems import Context
from systems._conveyor import ConveyorSystem, make


class ConveyorSQLite(ConveyorSystem):
    def backend_url(self, ctx: Context) -> str:
        self.path = ctx.workdir / "conveyor-bench.sqlite3"
        return f"sqlite:///{self.path}"

    def reset(self) -> None:
        super().reset()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


SYSTEMS = [
    make(
        ConveyorSQLite,
        "conveyor-sqlite",
        "conveyor (SQLite)",
        "defaults: a SQLite file in WAL mode with synchronous=NORMAL, INFO logging (two lines"
        " per job) to a file, job timeout 180 s, lease 30 s, children never recycled",
        "sqlite",
    )
]
