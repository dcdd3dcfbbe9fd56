#!/usr/bin/env bash
# Brings the local stack up on a fresh machine, idempotently:
#   PostgreSQL (DATABASE_URL when given, otherwise a cluster of our own in
#   .local/pg, installed with apt-get when missing, run as the postgres user),
#   the Python tools in .venv, moto on loopback with the functions' secrets,
#   the migrations, the functions' least-privilege login role, and
#   (--functions) the Lambda functions under `cargo lambda watch`;
#   (--seed) demo data, once.
# Writes .local/stack.env for tests and shells. `infra/local/down.sh` stops it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

seed=false
functions=false
for arg in "$@"; do
  case $arg in
    --seed) seed=true ;;
    --functions) functions=true ;;
    *) die "unknown option $arg (expected --seed, --functions)" ;;
  esac
done

mkdir -p "$STATE" "$LOGS" "$PIDS"
cd "$ROOT"

# --- Rust: the toolchain file names the wasm target; rustup installs it ------
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
rustup target list --installed | grep -q wasm32-unknown-unknown ||
  rustup target add wasm32-unknown-unknown

# --- Python tools ------------------------------------------------------------
requirements=infra/local/requirements.txt
stamp=$VENV/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python tools into .venv (moto, cargo-lambda, sam, cfn-lint)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" >"$stamp"
fi
export PATH=$VENV/bin:$PATH

# --- PostgreSQL ----------------------------------------------------------------
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/postgres" ] && echo "$dir"
}

# Runs a PostgreSQL server command as the postgres user (PostgreSQL refuses root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local bin
  bin=$(pg_bin) || true
  if [ -z "$bin" ]; then
    log "installing PostgreSQL (apt-get)"
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    bin=$(pg_bin) || die "PostgreSQL installed but no server binary found"
  fi
  local owner_password
  owner_password=$(password postgres)
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    log "initialising a PostgreSQL cluster in $PGDATA"
    mkdir -p "$PGDATA"
    printf '%s\n' "$owner_password" >"$STATE/pwfile"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$PGDATA" "$STATE/pwfile"
    as_pg "$bin/initdb" -D "$PGDATA" -U postgres --pwfile="$STATE/pwfile" \
      --auth-local=peer --auth-host=scram-sha-256 >"$LOGS/initdb.log"
    rm -f "$STATE/pwfile"
  fi
  if ! as_pg "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    port_open "$PG_PORT" && die "port $PG_PORT is taken by something else (set ERASURE_PG_PORT)"
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    touch "$LOGS/postgres.log"
    [ "$(id -u)" = 0 ] && chown postgres: "$LOGS/postgres.log"
    # A throwaway development cluster: durability settings traded for speed.
    as_pg "$bin/pg_ctl" -D "$PGDATA" -l "$LOGS/postgres.log" -w -t 60 start -o \
      "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
       -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
  fi
  wait_for_port "$PG_PORT" PostgreSQL 30 "$LOGS/postgres.log"
  DATABASE_URL="postgres://postgres:$owner_password@127.0.0.1:$PG_PORT/erasure"
  local admin_url="postgres://postgres:$owner_password@127.0.0.1:$PG_PORT/postgres"
  "$bin/psql" -qtA "$admin_url" -c "SELECT 1 FROM pg_database WHERE datname = 'erasure'" | grep -q 1 ||
    "$bin/psql" -q "$admin_url" -c "CREATE DATABASE erasure" >/dev/null
}

# A DATABASE_URL naming this stack's own cluster (exported by .local/stack.env)
# is not an external database: the cluster is (re)started all the same.
own_url="postgres://postgres:$(password postgres)@127.0.0.1:$PG_PORT/erasure"
if [ -n "${DATABASE_URL:-}" ] && [ "$DATABASE_URL" != "$own_url" ]; then
  log "using the database in DATABASE_URL"
else
  start_postgres
fi
export DATABASE_URL

# --- moto: the AWS APIs on loopback ------------------------------------------
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
if ! running moto; then
  port_open "$MOTO_PORT" && die "port $MOTO_PORT is taken by something else (set ERASURE_MOTO_PORT)"
  log "starting moto on $AWS_ENDPOINT_URL"
  setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" </dev/null >"$LOGS/moto.log" 2>&1 &
  echo $! >"$PIDS/moto"
fi
wait_for_port "$MOTO_PORT" moto 30 "$LOGS/moto.log"

# --- schema, the functions' role, the secrets --------------------------------
log "building the developer tool"
cargo build --quiet -p erasure-devtools
dev=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/erasure-dev
"$dev" migrate >&2
app_password=$(password "$APP_DB_USER")
APP_DB_PASSWORD=$app_password "$dev" app-login --user "$APP_DB_USER" >&2

db_host=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p.hostname, p.port or 5432, p.path.lstrip("/"))' "$DATABASE_URL")
read -r host port dbname <<<"$db_host"
SECRET_VALUE=$(printf '{"engine":"postgres","username":"%s","password":"%s","host":"%s","port":%s,"dbname":"%s"}' \
  "$APP_DB_USER" "$app_password" "$host" "$port" "$dbname") "$dev" put-secret --name "$DB_SECRET_NAME" >&2
# A fixed, local-only token key: the events in events/ are signed with it.
SECRET_VALUE=$(cat infra/local/jwt-hs256.secret) "$dev" put-secret --name "$JWT_SECRET_NAME" >&2

# The snapshot hook's database, in moto, and CodeDeploy's hook API, stood in for.
"$dev" rds-instance --id "$RDS_INSTANCE" >&2
# The bus the erasure events go to (the requests' and the relay's).
"$dev" event-bus --name "$EVENT_BUS" >&2
if ! running codedeploy; then
  port_open "$CODEDEPLOY_PORT" && die "port $CODEDEPLOY_PORT is taken by something else (set ERASURE_CODEDEPLOY_PORT)"
  log "starting the CodeDeploy stand-in on 127.0.0.1:$CODEDEPLOY_PORT"
  # The deployment of events/snapshot_hook/pre-traffic.json: its hook
  # smoke-tests soft_delete_user, through cargo lambda watch's Invoke API.
  setsid "$dev" codedeploy-stand-in --port "$CODEDEPLOY_PORT" \
    --deployment 'd-AB12CD34E=soft_delete_user:$LATEST' </dev/null >"$LOGS/codedeploy.log" 2>&1 &
  echo $! >"$PIDS/codedeploy"
fi
wait_for_port "$CODEDEPLOY_PORT" "the CodeDeploy stand-in" 30 "$LOGS/codedeploy.log"

# The environment the functions get, as the SAM template gives it in AWS.
cat >"$STATE/functions.env" <<EOF
DATABASE_SECRET_ARN=$DB_SECRET_NAME
DATABASE_SSL_MODE=disable
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
AWS_LAMBDA_LOG_FORMAT=JSON
AWS_LAMBDA_LOG_LEVEL=INFO
JWT_ISSUER=http://127.0.0.1:54321/auth/v1
JWT_AUDIENCE=authenticated
JWT_HS256_SECRET_ARN=$JWT_SECRET_NAME
CORS_ALLOWED_ORIGINS=http://localhost:3000
SNAPSHOT_DB_INSTANCE_ID=$RDS_INSTANCE
SNAPSHOT_PREFIX=erasure-local-predeploy
AWS_ENDPOINT_URL_CODEDEPLOY=http://127.0.0.1:$CODEDEPLOY_PORT
AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:$LAMBDA_PORT
AUDIT_ANCHOR_PARAMETER=$AUDIT_ANCHOR_PARAMETER
EVENT_BUS_NAME=$EVENT_BUS
EOF

# --- the functions under cargo lambda watch ----------------------------------
if $functions; then
  log "building the functions"
  cargo build --quiet -p erasure-functions --bins
  if ! running lambda; then
    port_open "$LAMBDA_PORT" && die "port $LAMBDA_PORT is taken by something else (set ERASURE_LAMBDA_PORT)"
    log "starting cargo lambda watch on 127.0.0.1:$LAMBDA_PORT"
    # The functions get functions.env only, never the owner's DATABASE_URL.
    # --disable-cors: watch's own CORS echoes any Origin with credentials;
    # without it the functions' CORS answers, as in production.
    env -u DATABASE_URL setsid cargo lambda watch --manifest-path functions/Cargo.toml \
      --disable-cors --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
      --env-file "$STATE/functions.env" </dev/null >"$LOGS/lambda.log" 2>&1 &
    echo $! >"$PIDS/lambda"
  fi
  wait_for_port "$LAMBDA_PORT" "cargo lambda watch" 120 "$LOGS/lambda.log"
fi

if $seed; then
  log "seeding demo data (once) and the cast the events in events/ act on"
  "$dev" seed --if-empty >"$STATE/seeded.json"
  "$dev" cast >&2
fi

cat >"$STATE/stack.env" <<EOF
export DATABASE_URL='$DATABASE_URL'
export AWS_ENDPOINT_URL='$AWS_ENDPOINT_URL'
export AWS_REGION='$AWS_REGION' AWS_DEFAULT_REGION='$AWS_REGION'
export AWS_ACCESS_KEY_ID='$AWS_ACCESS_KEY_ID' AWS_SECRET_ACCESS_KEY='$AWS_SECRET_ACCESS_KEY'
export ERASURE_DB_SECRET='$DB_SECRET_NAME'
export ERASURE_JWT_SECRET='$JWT_SECRET_NAME'
export ERASURE_APP_DB_USER='$APP_DB_USER'
export ERASURE_LAMBDA_URL='http://127.0.0.1:$LAMBDA_PORT'
export ERASURE_LAMBDA_LOG='$LOGS/lambda.log'
export ERASURE_CODEDEPLOY_LOG='$LOGS/codedeploy.log'
export ERASURE_AUDIT_ANCHOR='$AUDIT_ANCHOR_PARAMETER'
export PATH='$VENV/bin':"\$PATH"
EOF
log "stack is up; its settings are in .local/stack.env"
