//! Lambda: invoking one version of a function directly (the pre-traffic
//! smoke test), never through its alias or API Gateway.

use aws_config::SdkConfig;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;

#[derive(Debug, Clone)]
pub struct Lambda {
    client: Client,
}

/// What an invocation answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoked {
    /// Set when the function failed (`Unhandled`: a panic, an error at init,
    /// a timeout), with the payload holding the error.
    pub function_error: Option<String>,
    pub payload: Vec<u8>,
}

impl Lambda {
    pub fn new(sdk: &SdkConfig) -> Lambda {
        Lambda {
            client: Client::new(sdk),
        }
    }

    /// A client for a given endpoint (a stand-in in tests).
    pub fn with_endpoint(sdk: &SdkConfig, endpoint: &str) -> Lambda {
        let config = aws_sdk_lambda::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Lambda {
            client: Client::from_conf(config),
        }
    }

    /// Invokes version `qualifier` of `function` with `payload`, and waits for its answer.
    pub async fn invoke(
        &self,
        function: &str,
        qualifier: &str,
        payload: &[u8],
    ) -> Result<Invoked, String> {
        let out = self
            .client
            .invoke()
            .function_name(function)
            .qualifier(qualifier)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| format!("Lambda Invoke: {}", DisplayErrorContext(e)))?;
        Ok(Invoked {
            function_error: out.function_error().map(str::to_owned),
            payload: out
                .payload()
                .map(|p| p.as_ref().to_vec())
                .unwrap_or_default(),
        })
    }
}
