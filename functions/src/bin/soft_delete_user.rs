//! Lambda: soft delete (DELETE /api/users/{userId}), behind API Gateway.

use erasure::domain::functions;
use erasure::http::serve;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(functions::SOFT_DELETE_USER).await
}
