//! Lambda: restore within the grace period (POST /api/users/{userId}/restore), behind API Gateway.

use erasure::http::{routes::Route, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(Route::Restore).await
}
