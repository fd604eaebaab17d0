"""conveyor on PostgreSQL, in a schema of its own in the benchmark's database."""

from __future__ import annotations

from systems import Context, drop_schema, empty_schema, fresh_schema, postgres_unavailable
from systems._conveyor import ConveyorSystem, make

SCHEMA = "bench_conveyor"


class ConveyorPostgreSQL(ConveyorSystem):
    def unavailable(self) -> str | None:
        from systems import POSTGRES_URL

        reason = postgres_unavailable(POSTGRES_URL)
        if reason:
            return reason
        try:
            import conveyor.backends.postgresql  # noqa: F401
        except Exception as exc:
            return f"conveyor's PostgreSQL backend cannot be imported: {exc!r}"
        return None

    def backend_url(self, ctx: Context) -> str:
        separator = "&" if "?" in ctx.postgres_url else "?"
        return f"{ctx.postgres_url}{separator}schema={SCHEMA}"

    def open(self, ctx: Context) -> None:
        super().open(ctx)
        from conveyor.backends import open_backend

        fresh_schema(ctx.postgres_url, SCHEMA)
        open_backend(self.url).close()  # makes the tables (the migrations), outside any timing

    def reset(self) -> None:
        super().reset()
        empty_schema(self.ctx.postgres_url, SCHEMA, keep=("conveyor_schema_version",))

    def close(self) -> None:
        super().close()
        drop_schema(self.ctx.postgres_url, SCHEMA)


SYSTEMS = [
    make(
        ConveyorPostgreSQL,
        "conveyor-postgresql",
        "conveyor (PostgreSQL)",
        "defaults: the PostgreSQL backend in its own schema of the benchmark's database, INFO"
        " logging (two lines per job) to a file, job timeout 180 s, lease 30 s, children never"
        " recycled",
        "postgresql",
    )
]
