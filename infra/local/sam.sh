#!/usr/bin/env bash
# Makes `sam local invoke` and `sam local start-api` work offline against the
# local stack (which must be up: infra/local/up.sh), idempotently:
#   the Docker engine (Debian's docker.io, started here when it is not running),
#   qemu-user-static and binfmt_misc so arm64 containers run on x86_64,
#   the Lambda base image SAM asks for, as a LOCAL STAND-IN built from Debian
#   (no registry is reachable; see base-image.py), built once and kept,
#   the route from the containers to the services on 127.0.0.1,
#   infra/env.json for this stack's ports, and `sam build` of every function
#   into .aws-sam/local (samconfig.toml points `sam local` there).
# Needs root for the engine, binfmt and iptables. down.sh stops what it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
[ -f "$STATE/functions.env" ] || die "the local stack is not up: run infra/local/up.sh (or make run) first"
export PATH=$VENV/bin:$PATH SAM_CLI_TELEMETRY=0

# The architecture the functions ship for (template.yaml's Globals).
ARCH=arm64
BASE_TAG=public.ecr.aws/lambda/provided:al2023-$ARCH
# Kept across clones and runs: the root file system takes minutes under qemu.
CACHE=${ERASURE_SAM_CACHE:-/var/tmp/erasure-sam}

as_root() {
  [ "$(id -u)" = 0 ] || die "$1 needs root (run as root, or do it once by hand: $2)"
}

# --- packages --------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
[ -x /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
command -v update-binfmts >/dev/null || missing+=(binfmt-support)
command -v arch-test >/dev/null || missing+=(arch-test)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v iptables >/dev/null || missing+=(iptables)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
  as_root "installing ${missing[*]}" "apt-get install ${missing[*]}"
  log "installing ${missing[*]} (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- the Docker engine -------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  as_root "starting the Docker engine" "dockerd --userland-proxy=false &"
  log "starting the Docker engine"
  # Without the userland proxy: with it, the proxy accepts the connection
  # before the emulated runtime listens, and SAM gives up on the container.
  setsid dockerd --userland-proxy=false </dev/null >"$LOGS/dockerd.log" 2>&1 &
  echo $! >"$PIDS/dockerd"
  for _ in $(seq 300); do
    docker info >/dev/null 2>&1 && break
    running dockerd || break
    sleep 0.1
  done
  docker info >/dev/null 2>&1 || {
    rm -f "$PIDS/dockerd"
    tail -n 20 "$LOGS/dockerd.log" >&2
    die "the Docker engine did not start (log above, in $LOGS/dockerd.log): stop any other dockerd, check iptables and that /var/lib/docker is writable"
  }
elif ! pgrep -a dockerd | grep -q -- --userland-proxy=false; then
  log "warning: the running Docker engine was not started with --userland-proxy=false; arm64 invocations may hang"
fi

# --- arm64 under qemu ------------------------------------------------------------
if [ "$(uname -m)" != aarch64 ] && ! arch-test "$ARCH" >/dev/null 2>&1; then
  as_root "registering qemu for $ARCH" "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable qemu-aarch64"
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64
  arch-test "$ARCH" >/dev/null || die "$ARCH binaries still do not run under qemu (see update-binfmts --display qemu-aarch64)"
fi

# --- the base image: a stand-in built from Debian --------------------------------------
# What it is built from, pinned: Debian 12 (bookworm) from the mirror apt uses,
# the essential packages and ca-certificates, the directories and environment
# of Lambda's provided runtime. bookworm's glibc (2.36) is newer than AL2023's
# (2.34), so what runs on AL2023 runs here. The image's label carries this
# recipe's hash; a changed recipe builds a new image.
SUITE=bookworm
RECIPE="mmdebstrap --variant=essential --include=ca-certificates $SUITE; dirs /var/task /var/runtime /opt; no /var/runtime/bootstrap"
recipe_id=$(printf '%s\n%s\n' "$RECIPE" "$(sha256sum infra/local/base-image.py)" | sha256sum | cut -c1-16)
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock" # one build of the image at a time (two checkouts, two shells)
flock 9
if [ "$(docker image inspect -f '{{index .Config.Labels "erasure.recipe"}}' "$BASE_TAG" 2>/dev/null)" != "$recipe_id" ]; then
  rootfs=$CACHE/rootfs-$SUITE-$ARCH-$recipe_id.tar
  if [ ! -f "$rootfs" ]; then
    # mmdebstrap writes the format its output's name ends in: .tar.
    as_root "building the base image's root file system" "make sam-local as root"
    log "building the base image's root file system ($SUITE, $ARCH; minutes under qemu, once)"
    partial=$CACHE/partial-$SUITE-$ARCH-$recipe_id.tar started=$SECONDS
    mmdebstrap --quiet --format=tar --variant=essential --architectures="$ARCH" --include=ca-certificates \
      --customize-hook='mkdir -p "$1/var/task" "$1/var/runtime" "$1/opt"' \
      --customize-hook='dpkg-query --admindir="$1/var/lib/dpkg" -W >"$1/etc/erasure-stand-in-packages"' \
      "$SUITE" "$partial" >"$LOGS/mmdebstrap.log" 2>&1 ||
      { tail -n 20 "$LOGS/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $LOGS/mmdebstrap.log)"; }
    mv "$partial" "$rootfs"
    log "built the root file system in $((SECONDS - started)) s"
  fi
  log "loading $BASE_TAG (a local stand-in built from Debian $SUITE, not the AWS image)"
  python3 infra/local/base-image.py "$rootfs" "$ARCH" "$BASE_TAG" "$CACHE/image-$ARCH.tar" \
    "erasure.recipe=$recipe_id" "erasure.built-from=$RECIPE" \
    "org.opencontainers.image.description=LOCAL STAND-IN for the AWS Lambda provided:al2023 base image, built from Debian $SUITE by infra/local/sam.sh; not the AWS image"
  docker load -i "$CACHE/image-$ARCH.tar" >/dev/null
  rm -f "$CACHE/image-$ARCH.tar"
fi
flock -u 9

# --- from the containers to 127.0.0.1 --------------------------------------------------
# The containers reach the host as host.docker.internal (samconfig.toml's
# add_host), the docker0 gateway; PostgreSQL and moto listen on 127.0.0.1 only,
# so traffic to the gateway is redirected to loopback.
# (What host-gateway resolves to: docker0's address. The bridge network's
# IPAM of dockerd 20.10 names only the subnet.)
gateway=$(ip -4 -o addr show docker0 | awk '{print $4}' | cut -d/ -f1)
[ -n "$gateway" ] || die "the Docker engine has no docker0 bridge address (ip addr show docker0)"
rule=(-t nat -i docker0 -d "$gateway" -p tcp -j DNAT --to-destination 127.0.0.1)
if [ "$(sysctl -n net.ipv4.conf.docker0.route_localnet)" != 1 ] || ! iptables "${rule[@]:0:2}" -C PREROUTING "${rule[@]:2}" 2>/dev/null; then
  as_root "routing the containers to 127.0.0.1" "sysctl -w net.ipv4.conf.docker0.route_localnet=1; iptables ${rule[*]:0:2} -I PREROUTING ${rule[*]:2}"
  sysctl -qw net.ipv4.conf.docker0.route_localnet=1
  iptables "${rule[@]:0:2}" -C PREROUTING "${rule[@]:2}" 2>/dev/null || iptables "${rule[@]:0:2}" -I PREROUTING "${rule[@]:2}"
fi

# PostgreSQL sees a container's own address (the redirect keeps the source):
# the stack's cluster admits the bridge's subnet, with the same passwords.
# (A DATABASE_URL database is not the stack's; reaching it is up to its owner.)
subnet=$(docker network inspect bridge -f '{{(index .IPAM.Config 0).Subnet}}')
if [ -s "$PGDATA/pg_hba.conf" ] && ! grep -q "^host all all $subnet " "$PGDATA/pg_hba.conf"; then
  log "admitting sam local's containers ($subnet) to the stack's PostgreSQL"
  echo "host all all $subnet scram-sha-256 # sam local's containers (infra/local/sam.sh)" >>"$PGDATA/pg_hba.conf"
  (source "$STATE/stack.env" && psql -qtA "$DATABASE_URL" -c 'SELECT pg_reload_conf()' >/dev/null)
fi

# --- infra/env.json: the stack's environment as the containers see it ------------------------
python3 infra/local/env-json.py "$STATE/functions.env" >infra/env.json

# --- the functions, built as they ship but for the profile ---------------------------------
log "sam build into .aws-sam/local (arm64, profile lambda-local)"
started=$SECONDS
ERASURE_BUILD_PROFILE=lambda-local sam build --build-dir .aws-sam/local --build-in-source \
  --parallel --no-cached >"$LOGS/sam-build.log" 2>&1 ||
  { tail -n 30 "$LOGS/sam-build.log" >&2; die "sam build failed (log: $LOGS/sam-build.log)"; }
log "built in $((SECONDS - started)) s"
infra/check-build.sh .aws-sam/local >&2
log "sam local is ready (${SECONDS} s): sam local invoke <Function> --event events/... --env-vars infra/env.json"
