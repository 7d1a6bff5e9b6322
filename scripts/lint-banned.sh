#!/bin/sh
# Banned-function gate (curl's list and then some): scripts/lint-banned.sh FILE...
# Prints every call as FILE:LINE:TEXT and exits 1 if there is one.  A line that must keep one
# says why and carries the word banned-ok.  Whole words only: gmtime_r, localtime_r, strtok_r,
# fgets, snprintf, RAND_bytes and randombytes_buf are not caught.
set -eu

BANNED='strcpy|strcat|strncat|sprintf|vsprintf|sscanf|atoi|atol|strtok|gets|gmtime|localtime|asctime|ctime|rand'

[ $# -gt 0 ] || { echo "usage: $0 FILE..." >&2; exit 2; }
for f in "$@"; do
	[ -r "$f" ] || { echo "$0: $f: cannot read" >&2; exit 2; }
done
rc=0
out=$(grep -nHE "\\b($BANNED)\\s*\\(" "$@") || rc=$?
[ $rc -le 1 ] || { echo "lint-banned: grep failed" >&2; exit 2; }
hits=$(printf '%s\n' "$out" | grep -v 'banned-ok' || true)
if [ -n "$hits" ]; then
	printf '%s\n' "$hits"
	cat >&2 <<'MSG'
lint-banned: banned function used (see STYLE.md).  Instead: snprintf or struct buf for
sprintf/strcpy/strcat/strncat; util_parse_long or strtol for atoi/atol/sscanf; strtok_r;
fgets; gmtime_r/localtime_r with a local struct tm and strftime for gmtime, localtime,
asctime and ctime; randombytes_buf or RAND_bytes for rand.
MSG
	exit 1
fi
exit 0
