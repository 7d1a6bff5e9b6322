#!/bin/sh
# The lint gates must fail when they should: each runs over the fixtures in tests/lint/ —
# banned.c (one call of every banned function), format.c (not clang-formatted), funclen.c (a
# 301-line function) — and must refuse them, and must pass good.c (near misses) and funclen.c
# cut to 300 lines.  Run by `make lint`.
set -eu
cd "$(dirname "$0")/.."

fx=tests/lint
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() {
	echo "lint-selftest: $*" >&2
	fail=1
}

# banned: every name of the list has a call in banned.c, and every call is reported
names=$(sed -n "s/^BANNED='\(.*\)'$/\1/p" scripts/lint-banned.sh | tr '|' ' ')
[ -n "$names" ] || bad "cannot read the banned list from scripts/lint-banned.sh"
for n in $names; do
	grep -qE "\\b$n\\s*\\(.*/\\* bad \\*/" $fx/banned.c || bad "$fx/banned.c has no call of $n"
done
if scripts/lint-banned.sh $fx/banned.c >"$tmp/out" 2>/dev/null; then
	bad "lint-banned passed $fx/banned.c"
fi
want=$(grep -c '/\* bad \*/' $fx/banned.c)
got=$(grep -c '/\* bad \*/' "$tmp/out" || true)
[ "$got" = "$want" ] || bad "lint-banned reported $got of the $want banned calls in $fx/banned.c"
scripts/lint-banned.sh $fx/good.c $fx/funclen.c >/dev/null 2>&1 ||
	bad "lint-banned refused a near miss in $fx/good.c"

# format: refuses format.c and says how to fix it; passes good.c and funclen.c
if scripts/lint-format.sh $fx/format.c >/dev/null 2>"$tmp/err"; then
	bad "lint-format passed $fx/format.c"
fi
grep -q "make format" "$tmp/err" || bad "lint-format does not tell to run 'make format'"
scripts/lint-format.sh $fx/good.c $fx/funclen.c >/dev/null 2>&1 ||
	bad "lint-format refused $fx/good.c or $fx/funclen.c"

# funclen: 301 lines fail with file:line, name and length; 300 pass
if scripts/lint-funclen.sh $fx/funclen.c >"$tmp/out" 2>/dev/null; then
	bad "lint-funclen passed the 301-line function of $fx/funclen.c"
fi
grep -q "^$fx/funclen.c:[0-9]*: funclen_probe: 301 lines" "$tmp/out" ||
	bad "lint-funclen did not report funclen_probe: 301 lines"
sed '/\/\* drop \*\//d' $fx/funclen.c >"$tmp/funclen300.c"
scripts/lint-funclen.sh "$tmp/funclen300.c" >/dev/null 2>&1 ||
	bad "lint-funclen refused a 300-line function"
scripts/lint-funclen.sh $fx/good.c >/dev/null 2>&1 || bad "lint-funclen refused $fx/good.c"

[ $fail = 0 ] || exit 1
echo "lint-selftest: every gate refuses its bad fixture and passes the good ones"
