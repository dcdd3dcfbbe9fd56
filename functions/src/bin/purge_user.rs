//! Lambda: permanent deletion now (DELETE /api/users/{userId}/purge), behind API Gateway.

use erasure::domain::functions;
use erasure::http::serve;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(functions::PURGE_USER).await
}
