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
	(umask 077 && $BIN -d "$DATA" apikey create --org DEMO --name demo > "$DATA/demo-apikey.txt")
	$BIN -d "$DATA" crl >/dev/null
	# an RA officer of DEMO (the console): the URL is mailed, the access PIN kept here once
	(umask 077 && $BIN -d "$DATA" officer add --org DEMO --name "Demo Officer" \
		--email officer@demo.example --perm server,client,codesign,acme,stats \
		> "$DATA/demo-officer.txt")
fi
echo "== demo organization DEMO; tickets (client x5, server x5):"
sed 's/^/     /' "$DATA/demo-tickets.txt" 2>/dev/null || $BIN -d "$DATA" ticket list --org DEMO
KEY=$(cat "$DATA/demo-apikey.txt" 2>/dev/null || echo "(see shomei apikey create)")
cat <<EOM
== shomei serve (Ctrl-C stops it)
     health:        http://localhost:8080/healthz        metrics: http://localhost:8080/metrics
     CRL:           http://localhost:8080/crl/shomei.crl   delta: http://localhost:8080/crl/shomei-delta.crl
     CA:            http://localhost:8080/ca/shomei.crt    chain: http://localhost:8080/ca/shomei.pem
     OCSP:          http://localhost:8080/ocsp
     TSA:           http://localhost:8080/tsa
     portal:        https://localhost:8443/   (trust $DATA/certs/root.pem in the browser, or accept it)
                    apply with a ticket above and an address @demo.example; the mails land in
                    $DATA/outbox/new/ (one file each).  Revocation: https://localhost:8443/revoke/step1
                    Re-issue: https://localhost:8443/reissue
     RA console:    https://localhost:8444/   (an RA officer's TLS client certificate: open the
                    officer URL mailed to officer@demo.example in $DATA/outbox/new/, enter the
                    access PIN of $DATA/demo-officer.txt, import the PKCS#12 into the browser)
     REST API:      https://localhost:8443/api/v1/certificates   (docs/openapi.yaml)
     demo API key:  $KEY
     try:  curl --cacert $DATA/certs/root.pem -H "Authorization: Bearer $KEY" \\
             https://localhost:8443/api/v1/certificates
           openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\
             -keyout k.pem -out r.csr -subj /CN=www.demo.example \\
             -addext subjectAltName=DNS:www.demo.example
           $BIN -d $DATA issue --profile server --org DEMO --csr r.csr --out c.pem
           openssl ocsp -issuer $DATA/certs/issuing.pem -cert c.pem \\
             -url http://localhost:8080/ocsp -CAfile $DATA/certs/root.pem
EOM
exec $BIN -d "$DATA" serve
