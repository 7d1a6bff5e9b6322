#!/bin/sh
# Format gate: scripts/lint-format.sh FILE...  Every file must be as clang-format (the
# repository's .clang-format, Debian 12's clang-format 14) would write it.  On failure it shows
# the first violations, lists the files and tells how to fix them: `make format`.
set -eu

[ $# -gt 0 ] || { echo "usage: $0 FILE..." >&2; exit 2; }
if ! command -v clang-format >/dev/null 2>&1; then
	echo "lint-format: clang-format not found: run 'make deps' (Debian package clang-format)" >&2
	exit 1
fi
if out=$(clang-format --dry-run -Werror "$@" 2>&1); then
	exit 0
fi
printf '%s\n' "$out" | head -n 30 >&2
echo "lint-format: not clang-formatted ($(clang-format --version)):" >&2
printf '%s\n' "$out" | sed -n 's/^\([^ :][^:]*\):[0-9][0-9]*:[0-9][0-9]*: error: .*/\1/p' |
	sort -u | sed 's/^/  /' >&2
echo "lint-format: run 'make format' (clang-format -i over the same files) and commit" >&2
exit 1
