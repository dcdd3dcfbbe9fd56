#!/usr/bin/env bash
# Stops what infra/local/up.sh started, by pid: the functions, moto, and the
# PostgreSQL cluster in .local/pg (a DATABASE_URL database is left alone);
# and the Docker engine when infra/local/sam.sh started it, with the sam local
# containers on it (an engine that was already running is left alone).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

for name in lambda codedeploy moto; do
  if running "$name"; then
    log "stopping $name"
    pid=$(cat "$PIDS/$name")
    # Started with setsid: the pid leads its own process group (cargo's children too).
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$PIDS/$name"
done

if running dockerd; then
  containers=$(docker ps -aq --filter label=sam.cli.container.type=lambda 2>/dev/null)
  [ -z "$containers" ] || { log "removing sam local's containers"; docker rm -f $containers >/dev/null; }
  log "stopping the Docker engine"
  pid=$(cat "$PIDS/dockerd")
  kill -TERM "$pid"
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
rm -f "$PIDS/dockerd"

if [ -s "$PGDATA/postmaster.pid" ]; then
  log "stopping PostgreSQL"
  pid=$(head -n 1 "$PGDATA/postmaster.pid")
  kill -INT "$pid" 2>/dev/null # fast shutdown
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
log "stopped"
