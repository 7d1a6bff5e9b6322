#!/bin/sh
# Runs every unit test binary in BUILD/tests; fails if any fails or a sanitizer reports.
set -u
build=${1:-build}
fail=0
n=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export SHOMEI_BIN="$PWD/$build/shomei"
if [ -z "${SHOMEI_TEST_PG:-}" ]; then echo "run-unit: SHOMEI_TEST_PG not set (run through scripts/with-pg.sh)" >&2; exit 1; fi
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	n=$((n + 1))
	echo "== $t"
	if ! "$t"; then
		echo "FAILED: $t"
		fail=$((fail + 1))
	fi
done
if [ "$n" = 0 ]; then
	echo "no unit tests found in $build/tests" >&2
	exit 1
fi
echo "unit: $n binaries, $fail failed"
[ "$fail" = 0 ]
