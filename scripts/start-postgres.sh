#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests on 127.0.0.1 and prints its URL.
# Data lives in $PGTEST_DIR (default /tmp/iotnotice-pgtest); safe to call repeatedly.
set -euo pipefail
dir=${PGTEST_DIR:-/tmp/iotnotice-pgtest}
port=${PGTEST_PORT:-55432}
bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n1)")
run() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -f "$dir/PG_VERSION" ]; then
  mkdir -p "$dir"; [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  run "$bin/initdb" -D "$dir" -U iotnotice --auth=trust -E UTF8 >/dev/null
fi
# A server killed earlier (e.g. at the end of a session) may leave a stale pid file or
# backends still exiting: retry the start until the server answers.
for attempt in $(seq 1 20); do
  if run "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then break; fi
  if ! run "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    run "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null 2>&1 || true
  fi
  sleep 1
done
if ! run "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  echo "PostgreSQL did not start; see $dir/server.log" >&2
  tail -n 20 "$dir/server.log" >&2 || true
  exit 1
fi
run "$bin/psql" -h 127.0.0.1 -p "$port" -U iotnotice -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='iotnotice_test'" | grep -q 1 ||
  run "$bin/createdb" -h 127.0.0.1 -p "$port" -U iotnotice iotnotice_test
echo "postgresql+psycopg://iotnotice@127.0.0.1:$port/iotnotice_test"
