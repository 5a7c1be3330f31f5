#!/usr/bin/env bash
# Runs a small production-shaped cluster on this machine against the local
# MariaDB and Redis (see services.sh): `tether migrate`, one `tether api`
# and two `tether push` nodes, each its own process. Ctrl-C stops them all.
#
#   API     http://127.0.0.1:8080   admin http://127.0.0.1:9090
#   push-1  127.0.0.1:7071          admin http://127.0.0.1:9091
#   push-2  127.0.0.1:7072          admin http://127.0.0.1:9092
#
# The token key pair is generated once into .tether/cluster.env.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

"$root/deployments/local/services.sh"

mkdir -p bin .tether
go build -v -o bin/tether ./cmd/tether # -v: the first build compiles every dependency, for minutes

db=${TETHER_LOCAL_DB:-tether_local}
mysql --protocol=TCP -h 127.0.0.1 -uroot -e "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"

envfile=.tether/cluster.env
if [ ! -f "$envfile" ]; then
	(umask 077 && bin/tether keygen >"$envfile")
fi
set -a
# shellcheck disable=SC1090
. "$envfile"
set +a
export TETHER_MYSQL_DSN="root@tcp(127.0.0.1:3306)/$db"
export TETHER_REDIS_ADDR=127.0.0.1:6379
export TETHER_REDIS_PREFIX=${TETHER_REDIS_PREFIX:-tether-local:}

bin/tether migrate

pids=()
stop() {
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait
}
trap stop INT TERM EXIT

bin/tether api --http 127.0.0.1:8080 --admin 127.0.0.1:9090 &
pids+=($!)
bin/tether push --node-id push-1 --tcp 127.0.0.1:7071 --admin 127.0.0.1:9091 &
pids+=($!)
bin/tether push --node-id push-2 --tcp 127.0.0.1:7072 --admin 127.0.0.1:9092 &
pids+=($!)

# Exit (and stop the others) as soon as any process ends.
wait -n
