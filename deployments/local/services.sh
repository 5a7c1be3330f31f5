#!/usr/bin/env bash
# Makes sure MariaDB (127.0.0.1:3306, root with an empty password over TCP)
# and Redis (127.0.0.1:6379) are reachable for the tests and local runs.
# On a fresh Debian/Ubuntu machine it installs and starts them; where they
# already answer it changes nothing. Needs root (or sudo) only to install
# or start them. It also installs promtool (Debian's prometheus package),
# which the deployments tests run on the alert rules and the exposition,
# and Chromium (Debian's chromium package), which the browser tests drive
# headless (internal/browser; docs/browser-tests.md).
set -euo pipefail

MYSQL_HOST=127.0.0.1
MYSQL_PORT=3306
REDIS_HOST=127.0.0.1
REDIS_PORT=6379

log() { printf 'services: %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		log "need root to run: $*"
		exit 1
	fi
}

# port_open HOST PORT: true if something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for() { # wait_for NAME SECONDS COMMAND...
	local name=$1 secs=$2
	shift 2
	for _ in $(seq "$((secs * 4))"); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.25
	done
	log "$name did not come up within ${secs}s"
	return 1
}

apt_updated=""
install() { # install PACKAGE...
	if ! command -v apt-get >/dev/null 2>&1; then
		log "cannot install $* here (no apt-get); install and start it yourself"
		exit 1
	fi
	if [ -z "$apt_updated" ]; then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		apt_updated=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

redis_ok() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping | grep -q PONG; }

ensure_redis() {
	# Tests start private redis-servers (one to kill, a small cluster made
	# with redis-cli --cluster create), so both binaries are needed even
	# where a Redis answers already.
	command -v redis-server >/dev/null 2>&1 || install redis-server
	command -v redis-cli >/dev/null 2>&1 || install redis-tools
	if port_open "$REDIS_HOST" "$REDIS_PORT"; then
		log "redis answers on $REDIS_HOST:$REDIS_PORT"
		return
	fi
	log "starting redis-server on $REDIS_HOST:$REDIS_PORT"
	redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no
	wait_for redis 30 redis_ok
}

mysql_tcp_ok() { mysql --protocol=TCP -h "$MYSQL_HOST" -P "$MYSQL_PORT" -uroot -e 'SELECT 1'; }

mariadbd_bin() {
	for b in /usr/sbin/mariadbd /usr/sbin/mysqld; do
		if [ -x "$b" ]; then echo "$b"; return; fi
	done
	return 1
}

ensure_mariadb() {
	if ! port_open "$MYSQL_HOST" "$MYSQL_PORT"; then
		mariadbd_bin >/dev/null || install mariadb-server mariadb-client
		local bin
		bin=$(mariadbd_bin)
		as_root mkdir -p /run/mysqld
		as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
		if [ ! -d /var/lib/mysql/mysql ]; then
			log "initialising the MariaDB data directory"
			as_root mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null 2>&1 ||
				as_root mysql_install_db --user=mysql --datadir=/var/lib/mysql >/dev/null
		fi
		log "starting $bin on $MYSQL_HOST:$MYSQL_PORT"
		if command -v start-stop-daemon >/dev/null 2>&1; then
			as_root start-stop-daemon --start --oknodo --background --exec "$bin" -- \
				--user=mysql --bind-address="$MYSQL_HOST" --port="$MYSQL_PORT" --skip-name-resolve
		else
			as_root sh -c "cd / && nohup mysqld_safe --user=mysql --bind-address=$MYSQL_HOST --port=$MYSQL_PORT --skip-name-resolve >/dev/null 2>&1 &"
		fi
		wait_for mariadb 60 port_open "$MYSQL_HOST" "$MYSQL_PORT"
	fi
	command -v mysql >/dev/null 2>&1 || install mariadb-client
	if mysql_tcp_ok >/dev/null 2>&1; then
		log "mariadb answers on $MYSQL_HOST:$MYSQL_PORT as root"
		return
	fi
	# Debian's root@localhost uses unix_socket auth, so TCP logins with an
	# empty password fail. Allow both, through the socket, for local tests.
	log "allowing root over TCP with an empty password (local test setup)"
	wait_for "mariadb socket" 30 as_root mysql -uroot -e 'SELECT 1'
	as_root mysql -uroot <<'SQL'
ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
	wait_for "mariadb over TCP" 30 mysql_tcp_ok
	log "mariadb answers on $MYSQL_HOST:$MYSQL_PORT as root"
}

ensure_promtool() {
	if command -v promtool >/dev/null 2>&1; then
		return
	fi
	install prometheus
	# Only the promtool binary is used: stop the server the package may start.
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
		as_root systemctl disable --now prometheus || true
	fi
	log "promtool installed"
}

ensure_chromium() {
	if [ -n "${TETHER_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then
		return
	fi
	# A font, so that screenshots show text (headless Chromium has no other).
	install chromium fonts-dejavu-core
	log "chromium installed"
}

main() {
	ensure_redis
	ensure_mariadb
	ensure_promtool
	ensure_chromium
}

main "$@"
