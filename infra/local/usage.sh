#!/usr/bin/env bash
# Prints how to reach the running local stack.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$STATE/stack.env"
cat <<EOT

erasure's local stack is up.
  PostgreSQL   $DATABASE_URL
  moto (AWS)   $AWS_ENDPOINT_URL   secrets: $ERASURE_DB_SECRET, $ERASURE_JWT_SECRET
  functions    $ERASURE_LAMBDA_URL (cargo lambda watch; log: $ERASURE_LAMBDA_LOG)
  demo data    .local/seeded.json (the ids of the super admin, admins, helpdesk, users)

Try:
  source .local/stack.env
  cargo lambda invoke health_check --invoke-address 127.0.0.1 --invoke-port $LAMBDA_PORT --data-ascii '{}'
  psql "\$DATABASE_URL" -c 'SELECT type, count(*) FROM profiles GROUP BY 1'

Stop it with: make stop
EOT
