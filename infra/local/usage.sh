#!/usr/bin/env bash
# Prints how to reach the running local stack.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$STATE/stack.env"
cd "$ROOT"
cat <<EOT

erasure's local stack is up.
  PostgreSQL   $DATABASE_URL
  moto (AWS)   $AWS_ENDPOINT_URL   secrets: $ERASURE_DB_SECRET, $ERASURE_JWT_SECRET
  functions    $ERASURE_LAMBDA_URL (cargo lambda watch; log: $ERASURE_LAMBDA_LOG)
  demo data    .local/seeded.json (the ids of the super admin, admins, helpdesk, users)
               and the cast the events in events/ act as and on (fixtures/src/cast.rs)

Try:
  source .local/stack.env
  cargo lambda invoke health_check --invoke-address 127.0.0.1 --invoke-port $LAMBDA_PORT --data-ascii '{}'
  cargo lambda invoke soft_delete_user --invoke-address 127.0.0.1 --invoke-port $LAMBDA_PORT \\
    --data-file events/soft_delete_user/admin-deletes-client.json
  psql "\$DATABASE_URL" -c 'SELECT type, count(*) FROM profiles GROUP BY 1'
$(if [ -f .aws-sam/local/template.yaml ]; then cat <<SAM

sam local (make sam-local built .aws-sam/local; arm64 in a local stand-in image):
  source .local/stack.env
  sam local invoke SoftDeleteUserFunction --event events/soft_delete_user/admin-deletes-client.json --env-vars infra/env.json
  sam local start-api --env-vars infra/env.json     # then curl http://127.0.0.1:3000/api/users/deleted ...
SAM
fi)

Stop it with: make stop
EOT
