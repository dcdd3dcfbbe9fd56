# Shared settings and helpers of the local stack; sourced by up.sh and down.sh.
# Everything the stack makes lives in .local/ (gitignored): data, logs, pids,
# generated passwords, and stack.env, which tells tests and shells where it is.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=$ROOT/.local
VENV=$ROOT/.venv
LOGS=$STATE/logs
PIDS=$STATE/pids
PGDATA=$STATE/pg

PG_PORT=${ERASURE_PG_PORT:-55432}
MOTO_PORT=${ERASURE_MOTO_PORT:-55000}
LAMBDA_PORT=${ERASURE_LAMBDA_PORT:-59000}
CODEDEPLOY_PORT=${ERASURE_CODEDEPLOY_PORT:-55100}
# The RDS instance (in moto) the snapshot hook snapshots.
RDS_INSTANCE=erasure-local
# The EventBridge bus (in moto) the erasure events go to.
EVENT_BUS=erasure-local-events
# The SSM parameter (in moto) that keeps the audit chain's anchor.
AUDIT_ANCHOR_PARAMETER=/erasure/local/audit-chain-anchor

# The functions' login role and the secrets they read, as a deployment has them.
APP_DB_USER=erasure_fn
DB_SECRET_NAME=erasure/local/database
JWT_SECRET_NAME=erasure/local/jwt-hs256

log() { printf '\033[1m[stack]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[stack] %s\033[0m\n' "$*" >&2; exit 1; }

# True when a process with the pid in pid file $1 is alive.
running() { [ -f "$PIDS/$1" ] && kill -0 "$(cat "$PIDS/$1")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for_port PORT NAME SECONDS LOGFILE
wait_for_port() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    port_open "$1" && return 0
    sleep 0.1
  done
  [ -f "$4" ] && tail -n 30 "$4" >&2
  die "$2 did not open port $1 within $3 s (log: $4)"
}

# A password made once per checkout and kept in .local/.
password() {
  local file=$STATE/$1.password
  [ -s "$file" ] || python3 -c 'import secrets; print(secrets.token_hex(16))' >"$file"
  cat "$file"
}
