#!/usr/bin/env bash
# Installs and starts what wxcas's tests need on a Debian machine: MariaDB
# (when nothing listens on 127.0.0.1:3306), Chromium, Apache with mod_auth_cas,
# xmllint, promtool and systemd-analyze (the deploy/ tests). Idempotent and
# quick when everything is already there.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || need+=(apache2)
[ -f /usr/lib/apache2/modules/mod_auth_cas.so ] || need+=(libapache2-mod-auth-cas)
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
# promtool checks and unit-tests deploy/prometheus (Debian ships it with the
# server, which the tests never start).
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# CJK glyphs, so that screenshots of the Chinese pages are readable.
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)

mysql_up() { (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; }
if ! mysql_up && ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  need+=(mariadb-server)
fi

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: missing ${need[*]}; run as root (or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "test-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! mysql_up; then
  echo "test-deps: starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1
  for _ in $(seq 1 60); do mysql_up && break; sleep 1; done
  mysql_up || { echo "test-deps: MariaDB did not start" >&2; exit 1; }
fi

# The tests connect as root without a password over TCP (WXCAS_TEST_MYSQL_DSN
# overrides). A fresh Debian MariaDB authenticates root by unix socket only.
if [ -z "${WXCAS_TEST_MYSQL_DSN:-}" ] && command -v mariadb >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  if ! mariadb -h127.0.0.1 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    echo "test-deps: allowing passwordless root over TCP for tests"
    mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;" || true
  fi
fi
# axe-core, for the browser tests' accessibility checks (axe_browser_test.go
# reads $WXCAS_AXE_JS, by default axe.min.js under the directory below). An
# exact version, from the registry npm is configured to use; kept out of the
# repository, and left alone when that version is already there.
axe_version=4.14.1
axe_dir=/opt/wxcas-test/axe
axe_pkg="$axe_dir/node_modules/axe-core/package.json"
if ! grep -qs "\"version\": \"$axe_version\"" "$axe_pkg"; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "test-deps: npm is needed to install axe-core@$axe_version into $axe_dir" >&2
    exit 1
  fi
  if ! mkdir -p "$axe_dir" 2>/dev/null || [ ! -w "$axe_dir" ]; then
    echo "test-deps: cannot write $axe_dir for axe-core@$axe_version; run as root" >&2
    exit 1
  fi
  echo "test-deps: installing axe-core@$axe_version into $axe_dir"
  npm install --prefix "$axe_dir" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts --loglevel=error "axe-core@$axe_version" >/dev/null
  [ -f "$axe_dir/node_modules/axe-core/axe.min.js" ] || { echo "test-deps: axe-core did not install" >&2; exit 1; }
fi
echo "test-deps: ready"
