#!/bin/sh
# `make run`: a demo instance in ./var (created on first run) and `shomei serve` on it.
set -eu
BIN=build/shomei
DATA=${SHOMEI_DATA:-./var}

if [ ! -f "$DATA/shomei.conf" ]; then
	echo "== first run: creating a demo CA in $DATA"
	$BIN -d "$DATA" init --ca-name shomei --org-name "shomei demo" \
		--base-url http://localhost:8080
	$BIN -d "$DATA" org add DEMO --name "デモ株式会社 (demo)" --domain demo.example
	$BIN -d "$DATA" ticket create --org DEMO --profile client --count 5 > "$DATA/demo-tickets.txt"
	$BIN -d "$DATA" ticket create --org DEMO --profile server --count 5 >> "$DATA/demo-tickets.txt"
	$BIN -d "$DATA" crl >/dev/null
fi
echo "== demo organization DEMO; tickets (client x5, server x5):"
sed 's/^/     /' "$DATA/demo-tickets.txt" 2>/dev/null || $BIN -d "$DATA" ticket list --org DEMO
cat <<EOM
== shomei serve (Ctrl-C stops it)
     health:       http://localhost:8080/healthz
     CA chain:     $DATA/certs/chain.pem
     issue by CLI: openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\
                     -keyout k.pem -out r.csr -subj /CN=www.demo.example \\
                     -addext subjectAltName=DNS:www.demo.example
                   $BIN -d $DATA issue --profile server --org DEMO --csr r.csr
EOM
exec $BIN -d "$DATA" serve
