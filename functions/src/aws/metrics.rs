//! CloudWatch metrics with PutMetricData, for the batch jobs: one call at the
//! end of a run, so a dashboard and an alarm can follow each figure.

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::DisplayErrorContext;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

/// The namespace every erasure metric is published under.
pub const NAMESPACE: &str = "Erasure";

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub value: f64,
    pub unit: StandardUnit,
}

impl Metric {
    pub fn count(name: &'static str, value: impl Into<f64>) -> Metric {
        Metric {
            name,
            value: value.into(),
            unit: StandardUnit::Count,
        }
    }

    pub fn seconds(name: &'static str, value: impl Into<f64>) -> Metric {
        Metric {
            name,
            value: value.into(),
            unit: StandardUnit::Seconds,
        }
    }

    pub fn millis(name: &'static str, value: impl Into<f64>) -> Metric {
        Metric {
            name,
            value: value.into(),
            unit: StandardUnit::Milliseconds,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Metrics {
    client: Client,
}

impl Metrics {
    pub fn new(sdk: &SdkConfig) -> Metrics {
        Metrics {
            client: Client::new(sdk),
        }
    }

    /// Publishes `metrics` with the dimension `Function=<function>`.
    pub async fn publish(&self, function: &str, metrics: &[Metric]) -> Result<(), String> {
        let data = metrics.iter().map(|m| {
            MetricDatum::builder()
                .metric_name(m.name)
                .value(m.value)
                .unit(m.unit.clone())
                .dimensions(
                    Dimension::builder()
                        .name("Function")
                        .value(function)
                        .build(),
                )
                .build()
        });
        self.client
            .put_metric_data()
            .namespace(NAMESPACE)
            .set_metric_data(Some(data.collect()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DisplayErrorContext(e).to_string())
    }
}
