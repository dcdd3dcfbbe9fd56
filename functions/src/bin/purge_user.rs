//! Lambda: permanent deletion now (DELETE /api/users/{userId}/purge), behind API Gateway.

use erasure::http::{routes::Route, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(Route::Purge).await
}
