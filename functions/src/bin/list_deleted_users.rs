//! Lambda: the trash (GET /api/users/deleted), behind API Gateway.

use erasure::domain::functions;
use erasure::http::serve;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(functions::LIST_DELETED_USERS).await
}
