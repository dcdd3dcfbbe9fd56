#!/usr/bin/env bash
# What `sam build` runs for one function (template.yaml's BuildMethod:
# makefile, through the Makefile's build-<Name>Function target): builds every
# function binary for arm64 in one cargo invocation, so the functions after
# the first find it done, then copies this function's as ARTIFACTS_DIR's
# `bootstrap`. The binary is the function's logical id in snake case, without
# "Function" (SoftDeleteUserFunction: soft_delete_user).
# ERASURE_BUILD_PROFILE: release (the shipped profile) unless told otherwise;
# sam local builds with lambda-local (see Cargo.toml).
set -euo pipefail
name=${1:?usage: build-function.sh <Name> <artifacts dir>}
artifacts=${2:?usage: build-function.sh <Name> <artifacts dir>}
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH # cargo-lambda and zig
binary=$(sed -E 's/([a-z0-9])([A-Z])/\1_\2/g' <<<"$name" | tr '[:upper:]' '[:lower:]')
profile=${ERASURE_BUILD_PROFILE:-release}
[ -f "functions/src/bin/$binary.rs" ] || { echo "no binary functions/src/bin/$binary.rs for $name" >&2; exit 1; }
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mkdir -p "$target"
# sam build --parallel runs one of these per function at once: one builds,
# the others wait here and then find nothing to do.
# cargo lambda puts each binary in <lambda dir>/<binary>/bootstrap; one lambda
# dir per profile, so a local build never hands over a release one or back.
lambda_dir=$target/lambda-$profile
flock "$target/.sam-build.lock" \
  cargo lambda build --quiet --profile "$profile" --arm64 -p erasure-functions --lambda-dir "$lambda_dir"
mkdir -p "$artifacts"
cp "$lambda_dir/$binary/bootstrap" "$artifacts/bootstrap"
