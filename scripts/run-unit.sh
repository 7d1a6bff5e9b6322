#!/bin/sh
# Runs every unit test binary in BUILD/tests; fails if any fails or a sanitizer reports.
# UNIT_JOBS binaries at once (default: two per core, as the suites mostly wait on fsync and
# timers, not the CPU).  Each binary gets a PostgreSQL database of its own in the cluster of
# scripts/with-pg.sh (the suites drop and re-create schema public), its output goes to a file
# that is printed whole when it ends (logs never interleave), with its time; the failed ones
# are listed at the end.  Binaries run longest first by the times of the last run in BUILD
# (BUILD/tests/unit-times), else by tests/unit/durations.txt, else by name.
set -u
build=${1:-build}
jobs=${UNIT_JOBS:-$((2 * $(nproc 2>/dev/null || echo 1)))}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export SHOMEI_BIN="$PWD/$build/shomei"
if [ -z "${SHOMEI_TEST_PG:-}" ] || [ -z "${SHOMEI_TEST_PGHOST:-}" ]; then
	echo "run-unit: SHOMEI_TEST_PG not set (run through scripts/with-pg.sh)" >&2
	exit 1
fi

# One binary: $1 the binary, $2 the directory of the results.  Run by xargs below.
if [ "${RUN_UNIT_ONE:-}" = 1 ]; then
	t=$1
	out=$2
	name=${t##*/}
	db="unit_$name"
	start=$(date +%s)
	if PGOPTIONS="-c client_min_messages=warning" psql -h "$SHOMEI_TEST_PGHOST" -U postgres \
		-d postgres -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
		>"$out/$name.log" 2>&1; then
		SHOMEI_TEST_PG="host=$SHOMEI_TEST_PGHOST dbname=$db user=postgres" "$t" \
			>>"$out/$name.log" 2>&1
		rc=$?
	else
		echo "run-unit: cannot create database $db" >>"$out/$name.log"
		rc=1
	fi
	secs=$(($(date +%s) - start))
	echo "$secs $name" >>"$out/times"
	[ "$rc" = 0 ] || echo "$t" >>"$out/failed"
	# one printer at a time, so that two logs never mix
	(
		flock 9
		echo "== $t (${secs} s)"
		cat "$out/$name.log"
		[ "$rc" = 0 ] || echo "FAILED: $t (exit $rc)"
	) 9>>"$out/lock"
	exit 0
fi

out=$(mktemp -d /tmp/shomei-unit.XXXXXX)
trap 'rm -rf "$out"' EXIT INT TERM
times="$build/tests/unit-times"
order=$times
# a fresh clone has no times yet: the ones committed (refresh from a BUILD/tests/unit-times)
[ -f "$order" ] || order=tests/unit/durations.txt
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	name=${t##*/}
	prev=0
	[ -f "$order" ] && prev=$(awk -v n="$name" '$2 == n { print $1 }' "$order")
	echo "${prev:-0} $t"
done | sort -k1,1nr -k2,2 | awk '{ print $2 }' >"$out/list"
n=$(wc -l <"$out/list")
if [ "$n" = 0 ]; then
	echo "no unit tests found in $build/tests" >&2
	exit 1
fi
start=$(date +%s)
RUN_UNIT_ONE=1 xargs -P "$jobs" -I{} "$0" {} "$out" <"$out/list"
secs=$(($(date +%s) - start))
sort -k1,1nr "$out/times" >"$times"
echo "unit: slowest binaries (s): $(head -5 "$times" | awk '{ printf "%s %s  ", $2, $1 }')"
fail=0
if [ -f "$out/failed" ]; then
	fail=$(wc -l <"$out/failed")
	sort "$out/failed" | sed 's/^/FAILED: /'
fi
echo "unit: $n binaries, $fail failed, ${secs} s with $jobs at once"
[ "$fail" = 0 ]
