# The few commands a person types. Each sets up what it needs on a fresh machine.
SHELL := /bin/bash
STACK := source .local/stack.env

.PHONY: run test stop seed lint fmt bench-policy bench-cleanup bench-deletion bench-refusals bench-coldstart bench-load bench-integrity validate build sam-local

## run: bring the local stack up (PostgreSQL, moto, migrations, demo data, functions)
run:
	infra/local/up.sh --seed --functions
	@infra/local/usage.sh

## test: bring the stack up without demo data, ready sam local, and run the whole workspace suite
test:
	infra/local/up.sh --functions
	infra/local/sam.sh
	$(STACK) && cargo test --workspace

## stop: stop what `make run` or `make test` started
stop:
	infra/local/down.sh

## seed: add demo data (SEED_ARGS="--users 1000 --heavy 10" for more)
seed:
	$(STACK) && cargo run --quiet -p erasure-devtools -- seed $(SEED_ARGS)

## bench-policy: the policy's costs side by side (wasm vs native, encodings, engine start)
bench-policy:
	cargo bench -p erasure-policy --bench policy

## bench-cleanup: purge throughput against raw SQL and a per-row loop, behind a 1 ms network, in interleaved rounds (BENCH_USERS=100000, BENCH_LIVE_USERS beside them, BENCH_BATCH=1000,2000 to compare batch sizes, BENCH_ROUNDS=3, BENCH_RTT_MS=0 for loopback)
bench-cleanup:
	infra/local/up.sh
	$(STACK) && cargo bench -p erasure-functions --bench cleanup

## bench-deletion: one soft delete and one purge through the service against raw SQL, behind a 1 ms network, in interleaved rounds (BENCH_REQUESTS=300, BENCH_ROUNDS=3, BENCH_RTT_MS=0 for loopback)
bench-deletion:
	infra/local/up.sh
	$(STACK) && cargo bench -p erasure-functions --bench deletion

## bench-coldstart: each function's binary started against a loopback Runtime API beside a bare lambda_runtime floor: init, first and warm answers, resident memory (BENCH_STARTS, BENCH_INVOCATIONS)
bench-coldstart:
	infra/local/up.sh
	cargo build --quiet --profile bench -p erasure-functions --example floor_function
	$(STACK) && cargo bench -p erasure-functions --bench coldstart

## bench-load: 100 containers at once, each its own pool: different users for a bounded time (throughput, p50/p95/p99, errors, deadlocks, peak connections), then the same few users (one winner each, clean 409s) (BENCH_CONTAINERS, BENCH_SECONDS, BENCH_ROUNDS)
bench-load:
	infra/local/up.sh
	$(STACK) && cargo bench -p erasure-functions --bench load

## bench-integrity: the integrity audit of 1M users and 10.8M related rows against the raw anti-join, in interleaved rounds; memory; the handler over invocations cut by a deadline (BENCH_USERS, BENCH_AUDIT_ROWS, BENCH_ROUNDS, BENCH_INVOCATION_SECS)
bench-integrity:
	infra/local/up.sh
	$(STACK) && cargo bench -p erasure-functions --bench integrity

## bench-refusals: soft delete latency during a burst of 1,000 refused requests, counted per minute against an audit row each (BENCH_REFUSALS, BENCH_ROUNDS)
bench-refusals:
	infra/local/up.sh
	$(STACK) && cargo bench -p erasure-functions --bench refusals

## validate: cfn-lint (with the serverless rules) and sam validate on template.yaml
validate:
	infra/local/up.sh
	.venv/bin/cfn-lint -a cfn_lint_serverless.rules -- template.yaml
	SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint --region us-east-1

## build: sam build as it ships (arm64 through zig, the release profile), then check each artifact
build:
	infra/local/up.sh
	SAM_CLI_TELEMETRY=0 .venv/bin/sam build
	infra/check-build.sh .aws-sam/build

## sam-local: the local stack, the Docker engine, the base image and a local build, for sam local invoke and start-api
sam-local:
	infra/local/up.sh --seed --functions
	infra/local/sam.sh
	@infra/local/usage.sh

# What `sam build` runs per function (BuildMethod: makefile): its bootstrap into $(ARTIFACTS_DIR).
build-%Function:
	infra/build-function.sh $* "$(ARTIFACTS_DIR)"

## lint: formatting, clippy with warnings denied, and policy/cases.json as policy/cases.py writes it
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@python3 policy/cases.py | cmp -s - policy/cases.json || \
	  { echo "policy/cases.json is not what policy/cases.py prints: run python3 policy/cases.py > policy/cases.json"; exit 1; }
	@test -z "$$(cargo tree --quiet -p erasure-functions -e normal -i cranelift-codegen 2>/dev/null)" || \
	  { echo "the functions link Cranelift: the policy is precompiled at build time, keep wasmtime's cranelift feature out of their dependencies"; exit 1; }

fmt:
	cargo fmt --all
