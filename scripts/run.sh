#!/bin/sh
# `make run`: a demo instance in ./var (created on first run) and `shomei serve` on it.
set -eu
BIN=build/shomei
DATA=${SHOMEI_DATA:-./var}
# the ports (a test runs this script on free ones; the demo's are the defaults)
HP=${SHOMEI_HTTP_PORT:-8080}
SP=${SHOMEI_HTTPS_PORT:-8443}
CP=${SHOMEI_CONSOLE_PORT:-8444}
AP=${SHOMEI_ACME_HTTP01_PORT:-5002}

if [ ! -f "$DATA/shomei.conf" ]; then
	echo "== first run: creating a demo CA in $DATA"
	$BIN -d "$DATA" init --ca-name shomei --org-name "shomei demo" \
		--base-url "http://localhost:$HP"
	sed -i -e "s|^listen.http = .*|listen.http = 127.0.0.1:$HP|" \
		-e "s|^listen.https = .*|listen.https = 127.0.0.1:$SP|" \
		-e "s|^listen.console = .*|listen.console = 127.0.0.1:$CP|" "$DATA/shomei.conf"
	echo "portal.base_url = https://localhost:$SP" >> "$DATA/shomei.conf"
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
# ACME (RFC 8555) for DEMO, also in a demo directory made before it existed: an External Account
# Binding for www.demo.example, http-01 on port $AP of this machine (loopback allowed: the
# demo's client and validator share one machine)
if ! grep -q '^acme.enabled' "$DATA/shomei.conf"; then
	# the portal's origin (the demo's, or the default of a directory made before it was set)
	ABASE=$(sed -n 's|^portal.base_url = ||p' "$DATA/shomei.conf" | tail -n 1)
	ABASE=${ABASE:-https://localhost:$SP}
	cat >> "$DATA/shomei.conf" <<EOC

# ACME for the demo (make run): http-01 answered on this machine
acme.enabled = yes
acme.base_url = $ABASE
acme.http01_port = $AP
acme.allow_private_addresses = yes
EOC
	# two bindings (each makes one account): the first for certbot, the second for lego
	(umask 077 && for _ in 1 2; do
		$BIN -d "$DATA" acme eab create --org DEMO --names www.demo.example
	done > "$DATA/demo-eab.txt")
fi
ACME=$(sed -n 's|^acme.base_url = ||p' "$DATA/shomei.conf" | tail -n 1)/acme/directory
AP=$(sed -n 's|^acme.http01_port = ||p' "$DATA/shomei.conf" | tail -n 1)
KID=$(sed -n 1p "$DATA/demo-eab.txt")
HMAC=$(sed -n 2p "$DATA/demo-eab.txt")
KID2=$(sed -n 3p "$DATA/demo-eab.txt")
HMAC2=$(sed -n 4p "$DATA/demo-eab.txt")
echo "== demo organization DEMO; tickets (client x5, server x5):"
sed 's/^/     /' "$DATA/demo-tickets.txt" 2>/dev/null || $BIN -d "$DATA" ticket list --org DEMO
KEY=$(cat "$DATA/demo-apikey.txt" 2>/dev/null || echo "(see shomei apikey create)")
cat <<EOM
== shomei serve (Ctrl-C stops it)
     health:        http://localhost:$HP/healthz        metrics: http://localhost:$HP/metrics
     CRL:           http://localhost:$HP/crl/shomei.crl   delta: http://localhost:$HP/crl/shomei-delta.crl
     CA:            http://localhost:$HP/ca/shomei.crt    chain: http://localhost:$HP/ca/shomei.pem
     OCSP:          http://localhost:$HP/ocsp
     TSA:           http://localhost:$HP/tsa
     portal:        https://localhost:$SP/   (trust $DATA/certs/root.pem in the browser, or accept it)
                    apply with a ticket above and an address @demo.example; the mails land in
                    $DATA/outbox/new/ (one file each).  Revocation: https://localhost:$SP/revoke/step1
                    Re-issue: https://localhost:$SP/reissue
     RA console:    https://localhost:$CP/   (an RA officer's TLS client certificate: open the
                    officer URL mailed to officer@demo.example in $DATA/outbox/new/, enter the
                    access PIN of $DATA/demo-officer.txt, import the PKCS#12 into the browser)
     REST API:      https://localhost:$SP/api/v1/certificates   (docs/openapi.yaml)
     demo API key:  $KEY
     try:  curl --cacert $DATA/certs/root.pem -H "Authorization: Bearer $KEY" \\
             https://localhost:$SP/api/v1/certificates
           openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\
             -keyout k.pem -out r.csr -subj /CN=www.demo.example \\
             -addext subjectAltName=DNS:www.demo.example
           $BIN -d $DATA issue --profile server --org DEMO --csr r.csr --out c.pem
           openssl ocsp -issuer $DATA/certs/issuing.pem -cert c.pem \\
             -url http://localhost:$HP/ocsp -CAfile $DATA/certs/root.pem
EOM
cat <<EOM
     ACME:          $ACME
                    External Account Bindings of DEMO for www.demo.example, each for one
                    account ($DATA/demo-eab.txt; more: $BIN -d $DATA acme eab create --org DEMO):
                    key id $KID, HMAC key $HMAC
                    key id $KID2, HMAC key $HMAC2
                    http-01 is fetched from http://www.demo.example:$AP/: first make the name
                    this machine's:  echo 127.0.0.1 www.demo.example >> /etc/hosts
     certbot:       REQUESTS_CA_BUNDLE=$DATA/certs/root.pem certbot certonly --standalone \\
                      --http-01-port $AP --http-01-address 127.0.0.1 --server $ACME \\
                      --eab-kid=$KID --eab-hmac-key=$HMAC \\
                      --agree-tos -m admin@demo.example -d www.demo.example
     lego:          LEGO_CA_CERTIFICATES=$DATA/certs/root.pem lego --server $ACME \\
                      --eab --kid=$KID2 --hmac=$HMAC2 \\
                      --accept-tos --email admin@demo.example --http --http.port 127.0.0.1:$AP \\
                      --domains www.demo.example --path ./lego run
EOM
exec $BIN -d "$DATA" serve
