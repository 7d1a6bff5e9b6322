#!/bin/sh
# bench-compare.sh OLD NEW [RUNS]: runs bench/issue, bench/ocsp and bench/portal of two built
# trees (each tree's own bench binaries and shomei) back to back, alternating which goes first,
# RUNS times (default 2), and prints each figure side by side with the ratio new / old.
# Build both first: `make all bench-build` in each tree (or `make all build/bench/X`).
# Per-bench arguments: ISSUE_ARGS, OCSP_ARGS, PORTAL_ARGS (default: the benches' own defaults).
# Figures: issue certs/s (higher is better), ocsp responses/s of shomei (higher is better),
# portal server p99 per page in ms (lower is better; the server's own time, as bench/portal judges).
set -eu
old=${1:?usage: bench-compare.sh OLD NEW [RUNS]}
new=${2:?usage: bench-compare.sh OLD NEW [RUNS]}
runs=${3:-2}
out=$(mktemp -d /tmp/bench-compare.XXXXXX)
trap 'rm -rf "$out"' EXIT

for t in "$old" "$new"; do
	for b in issue ocsp portal; do
		[ -x "$t/build/bench/$b" ] || { echo "bench-compare: $t/build/bench/$b is not built" >&2; exit 2; }
	done
done

one() { # tree tag bench run
	case $3 in
	issue) args=${ISSUE_ARGS:-} ;;
	ocsp) args=${OCSP_ARGS:-} ;;
	portal) args=${PORTAL_ARGS:-} ;;
	esac
	# shellcheck disable=SC2086
	(cd "$1" && "build/bench/$3" $args) >"$out/$2.$3.$4" 2>&1 ||
		{ echo "bench-compare: $1 bench/$3 failed; its output:" >&2; cat "$out/$2.$3.$4" >&2; exit 1; }
}

# Key figures of one output, as "name<TAB>value" lines.
figures() { # bench file
	case $1 in
	issue) awk '/^shomei issue:/ { for (i = 1; i <= NF; i++) if ($i == "certs/s") { print "issue certs/s\t" $(i - 1); exit } }' "$2" ;;
	ocsp) awk '/responses\/s/ && /^shomei/ { split($0, a, /responses\/s/); n = split(a[1], w, " "); name = substr($0, 1, 34); sub(/ +$/, "", name); print "ocsp " name " resp/s\t" w[n] }' "$2" ;;
	portal) awk 'hdr && /\|/ && !/^page/ { name = substr($0, 1, 24); sub(/ +$/, "", name); split(substr($0, 25), f, " "); print "portal srv p99 ms " name "\t" f[7] } /^page \(ms\)/ { hdr = 1 } /^all responses checked/ { hdr = 0 }' "$2" ;;
	esac
}

i=1
while [ "$i" -le "$runs" ]; do
	for b in issue ocsp portal; do
		if [ $((i % 2)) -eq 1 ]; then
			one "$old" old "$b" "$i"
			one "$new" new "$b" "$i"
		else
			one "$new" new "$b" "$i"
			one "$old" old "$b" "$i"
		fi
		echo "bench-compare: run $i bench/$b done" >&2
	done
	i=$((i + 1))
done

printf '%-48s %5s %12s %12s %8s\n' figure run old new new/old
for b in issue ocsp portal; do
	i=1
	while [ "$i" -le "$runs" ]; do
		figures "$b" "$out/old.$b.$i" >"$out/fo"
		figures "$b" "$out/new.$b.$i" >"$out/fn"
		awk -F '\t' -v run="$i" 'NR == FNR { o[$1] = $2; next }
			($1 in o) { r = (o[$1] + 0 > 0) ? ($2 / o[$1]) : 0; printf "%-48s %5s %12s %12s %7.2fx\n", $1, run, o[$1], $2, r }' \
			"$out/fo" "$out/fn"
		i=$((i + 1))
	done
done
