//! Reading variables: a missing or malformed one is an error that names it.

use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing configuration: set {0}")]
    Missing(&'static str),
    #[error("invalid configuration: {name}={value:?} is not {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("conflicting configuration: {0}")]
    Conflict(&'static str),
}

/// Named lookups with typed, self-explaining errors.
pub(crate) struct Env<'a>(pub(crate) &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The variable's value; empty counts as unset (as SAM renders an empty parameter).
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    pub(crate) fn parsed<T: FromStr>(
        &self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        self.text(name)
            .map(|value| {
                value.trim().parse().map_err(|_| ConfigError::Invalid {
                    name,
                    value,
                    expected,
                })
            })
            .transpose()
    }

    /// A whole number of at least 1, `default` when unset.
    pub(crate) fn positive(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self
            .parsed::<u64>(name, "a whole number")?
            .unwrap_or(default)
        {
            0 => Err(ConfigError::Invalid {
                name,
                value: "0".to_owned(),
                expected: "at least 1",
            }),
            n => Ok(n),
        }
    }

    pub(crate) fn millis(&self, name: &'static str) -> Result<Option<Duration>, ConfigError> {
        Ok(self
            .parsed::<u64>(name, "a number of milliseconds")?
            .map(Duration::from_millis))
    }
}
