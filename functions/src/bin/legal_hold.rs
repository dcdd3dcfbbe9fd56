//! Lambda: place (PUT) and lift (DELETE) a legal hold (/api/users/{userId}/legal-hold), behind API Gateway.

use erasure::domain::functions;
use erasure::http::serve;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(functions::LEGAL_HOLD).await
}
