//! Lambda: restore within the grace period (POST /api/users/{userId}/restore), behind API Gateway.

use erasure::domain::functions;
use erasure::http::serve;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(functions::RESTORE_USER).await
}
