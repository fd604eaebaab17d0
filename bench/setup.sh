#!/usr/bin/env bash
# Create .venv-bench (the benchmark's own environment) with conveyor and its peers.
# Idempotent: re-running only installs what changed. Used by `make bench`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-bench"
python="${PYTHON:-python3}"
stamp="$venv/.bench-installed"
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$root/bench/requirements.txt" -nt "$stamp" || "$root/pyproject.toml" -nt "$stamp" ]]; then
    # (grep drops a warning some pip configurations print for every package)
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -e "$root[redis,postgresql]" -r "$root/bench/requirements.txt" \
        2> >(grep -v "is neither a file nor a directory" >&2)
    touch "$stamp"
fi
url="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/15}"
if ! "$venv/bin/python" -c 'import redis, sys; redis.Redis.from_url(sys.argv[1]).ping()' "$url" 2>/dev/null; then
    echo "bench: no Redis server answers at $url (start one: redis-server --daemonize yes)" >&2
    exit 1
fi
# The PostgreSQL systems' database: created when the server answers and the database is missing
# (the harness then keeps each system's tables in its own bench_* schema inside it).
pg="${BENCH_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/cv_bench}"
if ! "$venv/bin/python" - "$pg" <<'PY'
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg

url = urlsplit(sys.argv[1])
name = url.path.lstrip("/")
admin = urlunsplit(url._replace(path="/postgres"))
try:
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"bench: created the PostgreSQL database {name}")
except psycopg.OperationalError as exc:
    print(f"bench: PostgreSQL at {urlunsplit(url._replace(path=''))} does not answer ({exc}); "
          "the PostgreSQL systems will not be measured", file=sys.stderr)
PY
then
    echo "bench: could not check the PostgreSQL database" >&2
fi
