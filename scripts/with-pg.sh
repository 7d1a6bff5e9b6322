#!/bin/bash
# Runs a command with a throwaway PostgreSQL cluster: initdb as the postgres user into a
# temporary directory, unix socket only (no TCP), stopped and removed afterwards.
# The command sees SHOMEI_TEST_PG (a libpq connection string).
set -euo pipefail

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
	echo "with-pg: PostgreSQL server binaries not found (scripts/deps.sh installs them)" >&2
	exit 1
fi
dir=$(mktemp -d /tmp/shomei-pg.XXXXXX)
chown postgres:postgres "$dir"
chmod 711 "$dir" # the socket reaches the web process's own user too
# Stopped with -m immediate: the cluster is thrown away, and a fast stop's shutdown checkpoint
# (fsync=on) writes out every database the tests made (a minute after the unit suites).
cleanup() {
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" stop -m immediate -w >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
runuser -u postgres -- "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
	--locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
	-o "-k $dir -c listen_addresses='' -c fsync=on" start >/dev/null \
	|| { cat "$dir/pg.log" >&2; exit 1; }
export SHOMEI_TEST_PG="host=$dir dbname=postgres user=postgres"
export SHOMEI_TEST_PGHOST="$dir"
set +e
"$@"
rc=$?
set -e
exit $rc
