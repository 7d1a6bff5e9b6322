#!/bin/bash
# Builds every tests/fuzz/fuzz_<name>.c as a libFuzzer binary (ASan + UBSan) in build-fuzz/
# and runs each for FUZZ_SECONDS (default 20), as many at once as there are cores, on a
# scratch copy of its seed corpus
# tests/fuzz/corpus/<name>/ (the copy keeps the repository's corpus from growing).
# New targets need no change here.  Fails if any target fails to build or finds a crash,
# leak, timeout or out-of-memory.  Crash inputs are kept in build-fuzz/artifacts/.
#
#   FUZZ_SECONDS=60 scripts/fuzz.sh            all targets
#   scripts/fuzz.sh csr                         only tests/fuzz/fuzz_csr.c
#   FUZZ_ARGS="-max_len=65536" scripts/fuzz.sh  extra libFuzzer flags
set -euo pipefail

cd "$(dirname "$0")/.."

if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz: clang not found, skipped"
	exit 0
fi

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_ARGS=${FUZZ_ARGS:-}
OUT=build-fuzz
JOBS=$(nproc 2>/dev/null || echo 2)

# the same libraries as the Makefile
PKGS=$(sed -n 's/^PKGS[[:space:]]*:\{0,1\}=[[:space:]]*//p' Makefile | head -n 1)
if [ -z "$PKGS" ]; then
	echo "fuzz: cannot read PKGS from the Makefile" >&2
	exit 1
fi
# shellcheck disable=SC2086
PKG_CFLAGS=$(pkg-config --cflags $PKGS)
# shellcheck disable=SC2086
PKG_LIBS=$(pkg-config --libs $PKGS)

SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -Wall -Wextra \
-Wno-unused-parameter -Isrc -I$OUT/gen $PKG_CFLAGS"
export CFLAGS SAN OUT

mkdir -p "$OUT/obj" "$OUT/gen" "$OUT/artifacts"

# Embedded migrations, when the Makefile generates them.
gen=()
if grep -q 'gen/migrations\.c' Makefile; then
	if ! make -s BUILD="$OUT" "$OUT/gen/migrations.c" >/dev/null; then
		scripts/embed-migrations.sh src/store/migrations/*.sql >"$OUT/gen/migrations.c"
	fi
	gen=("$OUT/gen/migrations.c")
fi

# The compiled-in paths (src/util/paths.h includes the generated header).
if grep -q 'gen/shomei_paths\.h' Makefile; then
	make -s BUILD="$OUT" "$OUT/gen/shomei_paths.h" >/dev/null
fi

# One object per library source (everything but src/main.c), rebuilt when it or a header
# changed, compiled in parallel.
compile_one() {
	local src=$1 obj
	obj="$OUT/obj/$(echo "$src" | sed 's|^src/||; s|^build-fuzz/||; s|\.c$|.o|; s|/|_|g')"
	if [ -f "$obj" ] && [ "$obj" -nt "$src" ] &&
		[ -z "$(find src -name '*.h' -newer "$obj" -print -quit)" ]; then
		return 0
	fi
	# shellcheck disable=SC2086
	clang $CFLAGS $SAN -fsanitize=fuzzer-no-link -c -o "$obj" "$src"
}
export -f compile_one

srcs=()
for f in src/*/*.c; do
	[ "$f" = src/main.c ] && continue
	srcs+=("$f")
done
srcs+=("${gen[@]}")
if ! printf '%s\n' "${srcs[@]}" | xargs -P "$JOBS" -I{} bash -c 'compile_one "$1"' _ {}; then
	echo "fuzz: library build failed" >&2
	exit 1
fi
objs=()
for f in "${srcs[@]}"; do
	objs+=("$OUT/obj/$(echo "$f" | sed 's|^src/||; s|^build-fuzz/||; s|\.c$|.o|; s|/|_|g')")
done
rm -f "$OUT/libshomei-fuzz.a"
ar rcs "$OUT/libshomei-fuzz.a" "${objs[@]}"

works=()
cleanup() {
	local w
	# the runs and their fuzzers (each run is a subshell whose child is the fuzzer)
	for w in $(jobs -pr); do
		pkill -TERM -P "$w" 2>/dev/null || true
		kill "$w" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	for w in "${works[@]}"; do rm -rf "$w"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Runs one built target on a scratch copy of its corpus; its output goes to $OUT/run-<name>.log
# and its exit status to $OUT/run-<name>.rc.
run_one() {
	local name=$1 work=$2 rc
	{
		echo "== fuzz: running $name for ${FUZZ_SECONDS}s on $(find "$work" -type f | wc -l) seeds"
		set +e
		# shellcheck disable=SC2086
		"$OUT/fuzz_$name" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=30 \
			-print_final_stats=1 -artifact_prefix="$OUT/artifacts/$name-" $FUZZ_ARGS "$work"
		rc=$?
		set -e
		echo "$rc" >"$OUT/run-$name.rc"
	} >"$OUT/run-$name.log" 2>&1
	rm -rf "$work"
}

# Links one target; its messages go to $OUT/build-<name>.log, and $OUT/build-<name>.ok is
# written when it built.
build_one() {
	local target=$1 name
	name=$(basename "$target" .c)
	name=${name#fuzz_}
	rm -f "$OUT/build-$name.ok"
	# shellcheck disable=SC2086
	if clang $CFLAGS $SAN -fsanitize=fuzzer -o "$OUT/fuzz_$name" "$target" \
		"$OUT/libshomei-fuzz.a" $PKG_LIBS -lpthread >"$OUT/build-$name.log" 2>&1; then
		: >"$OUT/build-$name.ok"
	fi
}
export -f build_one
export PKG_LIBS

failed=()
names=()
targets=()
for target in tests/fuzz/fuzz_*.c; do
	[ -f "$target" ] || continue
	name=$(basename "$target" .c)
	name=${name#fuzz_}
	if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then
		continue
	fi
	targets+=("$target")
done
# the targets link side by side, one per core
echo "== fuzz: building ${#targets[@]} target(s) in $OUT/"
if [ ${#targets[@]} -gt 0 ]; then
	# shellcheck disable=SC2016
	printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -I{} bash -c 'build_one "$1"' _ {}
fi
for target in "${targets[@]}"; do
	name=$(basename "$target" .c)
	name=${name#fuzz_}
	if [ ! -f "$OUT/build-$name.ok" ]; then
		cat "$OUT/build-$name.log"
		failed+=("$name (build)")
		continue
	fi
	names+=("$name")
done

# The targets run side by side, one per core: each still gets its FUZZ_SECONDS of one core.
for name in "${names[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n || true
	done
	work=$(mktemp -d /tmp/shomei-fuzz."$name".XXXXXX)
	works+=("$work")
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp -R "tests/fuzz/corpus/$name/." "$work/"
	else
		echo "fuzz: no seed corpus tests/fuzz/corpus/$name/, starting empty"
	fi
	rm -f "$OUT/run-$name.rc"
	run_one "$name" "$work" &
done
wait || true

ran=0
for name in "${names[@]}"; do
	ran=$((ran + 1))
	rc=$(cat "$OUT/run-$name.rc" 2>/dev/null || true)
	case "$rc" in
	'' | *[!0-9]*) rc=99 ;; # no status written: the run did not finish
	esac
	if [ "$rc" -ne 0 ]; then
		cat "$OUT/run-$name.log"
		echo "fuzz: $name FAILED (exit $rc); reproducer in $OUT/artifacts/$name-*"
		failed+=("$name")
	else
		# the run's summary: the seeds, the final coverage and the stats
		grep -E "^== fuzz|^#[0-9]+.*DONE|^stat::number_of_executed_units|^stat::peak_rss" \
			"$OUT/run-$name.log" || true
		echo "fuzz: $name ok"
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failed: ${failed[*]}"
	exit 1
fi
if [ "$ran" -eq 0 ]; then
	echo "fuzz: no targets matched" >&2
	exit 1
fi
echo "fuzz: $ran target(s) passed"
