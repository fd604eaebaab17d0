#!/usr/bin/env bash
# Builds the CKAN test environment from nothing (idempotent):
#   - .venv-ckan: CKAN 2.12.0 with its requirements, ckanext-xloader 2.6.0, CKAN's
#     test extras and conveyor itself (editable, with its redis and postgresql extras);
#   - PostgreSQL databases for CKAN, its datastore and xloader's jobs table, and the
#     datastore's read-only role, all named after this checkout (PostgreSQL is shared
#     with other test runs), dropped and made again on every run;
#   - tests/ckan/.run/test-core.ini, then `ckan db init` and the datastore permissions.
# Usage: tests/ckan/setup.sh [SOLR_PORT]   (without a port: only the venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VENV=${CKAN_VENV:-.venv-ckan}
SOLR_PORT=${1:-}
PG="postgresql://postgres@127.0.0.1:5432"
ID=${CKAN_TEST_ID:-$(printf '%s' "$ROOT" | md5sum | cut -c1-8)}
DB="cvckan_${ID}"
RO="cvckan_${ID}_ro"
RUN=tests/ckan/.run
STAMP="$VENV/.installed-ckan"

if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    python3 -m venv "$VENV"
    PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
    # Two steps: pip's resolver refuses the pair in one command (each alone resolves).
    "${PIP[@]}" "ckan[requirements]==2.12.0"
    "${PIP[@]}" "ckanext-xloader==2.6.0"
    "${PIP[@]}" pytest factory-boy Faker pytest-factoryboy freezegun pytest-freezegun \
        responses beautifulsoup4 pytest-timeout
    "${PIP[@]}" -e ".[redis,postgresql]"
    touch "$STAMP"
fi

[ -n "$SOLR_PORT" ] || exit 0

psql_admin() { psql "$PG/postgres" -v ON_ERROR_STOP=1 -q "$@"; }
for name in "$DB" "${DB}_ds" "${DB}_xl"; do
    psql_admin -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
done
psql_admin -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$RO')
    THEN CREATE ROLE \"$RO\" LOGIN; END IF; END \$\$"
for name in "$DB" "${DB}_ds" "${DB}_xl"; do
    psql_admin -c "CREATE DATABASE \"$name\" ENCODING 'UTF8' TEMPLATE template0"
done

mkdir -p "$RUN"
cat > "$RUN/test-core.ini" <<INI
# Written by tests/ckan/setup.sh: CKAN's test config, with conveyor as the job system.
[DEFAULT]
debug = false

[app:main]
use = egg:ckan
testing = true
SECRET_KEY = conveyor-ckan-tests
sqlalchemy.url = $PG/$DB
ckan.datastore.write_url = $PG/${DB}_ds
ckan.datastore.read_url = postgresql://$RO@127.0.0.1:5432/${DB}_ds
solr_url = http://127.0.0.1:$SOLR_PORT/solr/ckan
ckan.redis.url = redis://127.0.0.1:6379/0
ckan.site_id = test.ckan.net
ckan.site_url = http://test.ckan.net
ckan.plugins = conveyor datastore xloader
ckan.files.default_storages.default = test
ckan.files.storage.test.type = ckan:memory
ckan.storage_path = $ROOT/$RUN/storage
WTF_CSRF_ENABLED = false
ckan.auth.create_unowned_dataset = true
ckan.auth.create_dataset_if_not_in_organization = true
ckan.auth.user_create_organizations = true
ckanext.xloader.jobs_db.uri = $PG/${DB}_xl
ckanext.xloader.ssl_verify = false

[loggers]
keys = root, ckan, conveyor

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[logger_ckan]
level = INFO
handlers =
qualname = ckan

[logger_conveyor]
level = INFO
handlers =
qualname = conveyor

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
INI

CKAN=("$VENV/bin/ckan" -c "$RUN/test-core.ini")
"${CKAN[@]}" db init >/dev/null
"${CKAN[@]}" datastore set-permissions | psql "$PG/${DB}_ds" -v ON_ERROR_STOP=1 -q >/dev/null
echo "CKAN test environment ready: $RUN/test-core.ini (databases $DB, ${DB}_ds, ${DB}_xl)"
