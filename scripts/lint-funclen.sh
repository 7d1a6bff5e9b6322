#!/bin/sh
# Function-length gate: no C function longer than MAX lines (default 300).
#   scripts/lint-funclen.sh [-m MAX] FILE...    print each offender, exit 1 if there is one
#   scripts/lint-funclen.sh -t N FILE...        print the N longest functions, exit 0
# Reads clang-formatted code (.clang-format: Linux braces, return type on its own line): a
# function body opens with `{` alone at column 0 and closes with `}` at column 0.  Its name is
# the identifier before the first `(` on the last line at column 0 above that `{`; its length
# counts from that line through the closing `}`.
set -eu

max=300
top=0
while getopts m:t: opt; do
	case $opt in
	m) max=$OPTARG ;;
	t) top=$OPTARG ;;
	*) echo "usage: $0 [-m MAX | -t N] FILE..." >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-m MAX | -t N] FILE..." >&2; exit 2; }
for f in "$@"; do
	[ -r "$f" ] || { echo "$0: $f: cannot read" >&2; exit 2; }
done

# One line per function: LENGTH FILE:LINE NAME
list() {
	awk '
	FNR == 1 { infn = 0; hline = 0; hname = "" }
	!infn && /^[A-Za-z_][A-Za-z0-9_ *]*\(/ {
		s = $0
		sub(/\(.*/, "", s)
		n = split(s, w, /[ *]+/)
		hname = w[n]
		hline = FNR
		next
	}
	!infn && /^\{[ \t]*$/ {
		infn = 1
		start = hline ? hline : FNR
		name = hname != "" ? hname : "?"
		next
	}
	infn && /^}/ {
		printf "%d %s:%d %s\n", FNR - start + 1, FILENAME, start, name
		infn = 0; hline = 0; hname = ""
		next
	}
	!infn && /^[;}#]/ { hline = 0; hname = "" }
	' "$@"
}

if [ "$top" -gt 0 ]; then
	list "$@" | sort -rn | head -n "$top" |
		awk '{ printf "%s: %s: %d lines\n", $2, $3, $1 }'
	exit 0
fi

list "$@" | awk -v max="$max" '
	$1 > max { printf "%s: %s: %d lines (max %d)\n", $2, $3, $1, max; bad = 1 }
	END { exit bad }
' || {
	echo "lint-funclen: functions longer than $max lines: split them (see STYLE.md)" >&2
	exit 1
}
