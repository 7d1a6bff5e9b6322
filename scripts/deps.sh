#!/bin/sh
# Installs every Debian 12 package that building, `make run` and `make test` need.
# Idempotent: does nothing (and needs no network) when all are present.
set -eu

PKGS="build-essential pkg-config git ca-certificates openssl libssl-dev
libsqlite3-dev sqlite3 libpq-dev postgresql
libsodium-dev libjansson-dev libmicrohttpd-dev libgnutls28-dev gnutls-bin
libcurl4-openssl-dev libgd-dev fonts-dejavu-core gettext libpsl-dev publicsuffix
libengine-pkcs11-openssl softhsm2 opensc libp11-kit-dev
libcmocka-dev clang clang-format libclang-rt-14-dev
python3 python3-pytest python3-pytest-xdist python3-cryptography python3-requests python3-yaml python3-aiosmtpd python3-acme certbot python3-dnslib
lego dehydrated uacme pebble
chromium chromium-driver python3-selenium libnss3-tools fonts-noto-cjk
curl procps iproute2 util-linux p7zip-full systemd man-db"

# The account `shomei serve` runs its network-facing web process as (web.user) when started
# as root: no login, no home, no access to the keys.
account() {
	if [ "$(id -u)" = 0 ] && ! getent passwd shomei >/dev/null; then
		echo "deps: creating the system account shomei (the web process's user)"
		useradd --system --user-group --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin shomei
	fi
}

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	account
	exit 0
fi

echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: need root to install packages (run as root or: sudo $0)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
account
