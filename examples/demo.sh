#!/usr/bin/env bash
# The demo behind `make demo`: everything on the embedded SQLite default.
set -euo pipefail
bin="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
demo="$(cd "$here/.." && pwd)/.demo"
rm -rf "$demo" && mkdir -p "$demo" && cd "$demo"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "python examples/enqueue_examples.py"
"$bin/python" "$here/enqueue_examples.py"

step "conveyor jobs list"
"$bin/conveyor" jobs list

# The jobs' module is in examples/, not in this directory: --path says where.
step "conveyor jobs worker --burst --path examples default my-own-queue"
"$bin/conveyor" jobs worker --burst --path "$here" default my-own-queue

step "conveyor jobs list"
"$bin/conveyor" jobs list

step "conveyor jobs list --state finished --state failed"
"$bin/conveyor" jobs list --state finished --state failed

failed="$("$bin/conveyor" jobs list --state failed --ids | head -n 1)"
step "conveyor jobs show $failed"
"$bin/conveyor" jobs show "$failed"

printf '\nThe jobs live in %s/conveyor.sqlite3\n' "$demo"
