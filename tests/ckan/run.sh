#!/usr/bin/env bash
# `make ckan-test`: conveyor as the job system of a real CKAN 2.12 site.
# Builds the environment (setup.sh), starts the Solr stand-in, then runs, on each of
# conveyor's stores (SQLite, Redis, PostgreSQL): CKAN's own job tests as installed
# (ckan/tests/lib/test_jobs.py, ckan/tests/cli/test_jobs.py) and tests/ckan/test_*.py
# (xloader, timeouts, RQ's names, moving jobs out of RQ), then CKAN's own tests of the
# job_* actions (ckan/tests/logic/action/test_get.py and test_delete.py, classes TestJob*).
# Stops the stand-in by its pid.
# CONVEYOR_CKAN_STORES="sqlite redis" limits the stores.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$(pwd)
VENV=${CKAN_VENV:-../../.venv-ckan}
mkdir -p .run
rm -f .run/solr.port
SOLR_PID=""
cleanup() { if [ -n "$SOLR_PID" ]; then kill "$SOLR_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT
started=$(date +%s)
bash setup.sh  # the venv first: the stand-in needs CKAN's schema.xml
"$VENV/bin/python" solr_standin.py .run/solr.port &
SOLR_PID=$!
for _ in $(seq 100); do [ -s .run/solr.port ] && break; sleep 0.1; done
[ -s .run/solr.port ] || { echo "the Solr stand-in did not start" >&2; exit 1; }
bash setup.sh "$(cat .run/solr.port)"
status=0
for store in ${CONVEYOR_CKAN_STORES:-sqlite redis postgresql}; do
    echo "=== conveyor store: $store"
    CONVEYOR_CKAN_STORE=$store PYTHONPATH="$HERE" "$VENV/bin/pytest" -c pytest.ini \
        --ckan-ini=.run/test-core.ini \
        --pyargs ckan.tests.lib.test_jobs ckan.tests.cli.test_jobs "$HERE" \
        || status=1
    CONVEYOR_CKAN_STORE=$store PYTHONPATH="$HERE" "$VENV/bin/pytest" -c pytest.ini \
        --ckan-ini=.run/test-core.ini -k TestJob \
        --pyargs ckan.tests.logic.action.test_get ckan.tests.logic.action.test_delete \
        || status=1
done
echo "=== CKAN tests took $(( $(date +%s) - started ))s"
exit $status
