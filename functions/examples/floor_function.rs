//! The floor of the cold-start benchmark (`make bench-coldstart`): the least a
//! Rust Lambda function is, on the same runtime and profile as the real ones:
//! `lambda_runtime` and a multi-threaded tokio, answering each event with itself.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
