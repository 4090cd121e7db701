#!/bin/sh
# Installs the Debian/Ubuntu packages `make test` needs when they are missing: a real browser
# (chromium), the RFC and QR cross-checks (oathtool, zbarimg), PDF text (pdftotext), and the servers
# the suite starts for itself (PostgreSQL's initdb/postgres, redis-server, nginx, Caddy, Apache with
# mod_auth_openidc). As root it uses apt-get;
# otherwise sudo when it is available without a password prompt; elsewhere it names what is missing.
set -eu
missing=""
need() {  # need PACKAGE TEST-COMMAND...
  pkg=$1; shift
  if ! "$@" >/dev/null 2>&1; then missing="$missing $pkg"; fi
}
need chromium test -x /usr/bin/chromium
need oathtool command -v oathtool
need zbar-tools command -v zbarimg
need poppler-utils command -v pdftotext
need postgresql sh -c 'ls /usr/lib/postgresql/*/bin/initdb'
need redis-server command -v redis-server
need nginx-light sh -c 'command -v nginx || test -x /usr/sbin/nginx'
need caddy command -v caddy  # forward-auth tests (docs/forward-auth.md)
need apache2 test -x /usr/sbin/apache2  # the OpenID Connect relying-party test (docs/oidc.md)
need libapache2-mod-auth-openidc test -f /usr/lib/apache2/modules/mod_auth_openidc.so
[ -z "$missing" ] && exit 0
echo "make test: installing system packages:$missing" >&2
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "make test needs these packages:$missing" >&2
  echo "install them (Debian/Ubuntu: sudo apt-get install$missing) and run make test again" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no apt-get here: install the equivalents of$missing with your system's package manager" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $missing >/dev/null
