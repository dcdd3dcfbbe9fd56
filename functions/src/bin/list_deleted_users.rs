//! Lambda: the trash (GET /api/users/deleted), behind API Gateway.

use erasure::http::{routes::Route, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(Route::ListDeleted).await
}
