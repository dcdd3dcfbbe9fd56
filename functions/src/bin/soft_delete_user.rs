//! Lambda: soft delete (DELETE /api/users/{userId}), behind API Gateway.

use erasure::http::{routes::Route, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(Route::SoftDelete).await
}
