//! The `type` column of `profiles`: the role a user has in the served app.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserType {
    Vendor,
    Client,
    Driver,
    Admin,
    Helpdesk,
    SuperAdmin,
}

impl UserType {
    pub const ALL: [UserType; 6] = [
        UserType::Vendor,
        UserType::Client,
        UserType::Driver,
        UserType::Admin,
        UserType::Helpdesk,
        UserType::SuperAdmin,
    ];

    /// The spelling stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Vendor => "VENDOR",
            UserType::Client => "CLIENT",
            UserType::Driver => "DRIVER",
            UserType::Admin => "ADMIN",
            UserType::Helpdesk => "HELPDESK",
            UserType::SuperAdmin => "SUPER_ADMIN",
        }
    }
}

impl fmt::Display for UserType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The same roles, as the policy names them.
impl From<UserType> for erasure_policy::Role {
    fn from(t: UserType) -> Self {
        use erasure_policy::Role;
        match t {
            UserType::Vendor => Role::Vendor,
            UserType::Client => Role::Client,
            UserType::Driver => Role::Driver,
            UserType::Admin => Role::Admin,
            UserType::Helpdesk => Role::Helpdesk,
            UserType::SuperAdmin => Role::SuperAdmin,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown user type {0:?}")]
pub struct UnknownUserType(pub String);

impl FromStr for UserType {
    type Err = UnknownUserType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UserType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownUserType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_database_spelling() {
        for t in UserType::ALL {
            assert_eq!(t.as_str().parse::<UserType>(), Ok(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }

    #[test]
    fn unknown_and_lowercase_spellings_are_rejected() {
        assert_eq!(
            "admin".parse::<UserType>(),
            Err(UnknownUserType("admin".into()))
        );
        assert!("".parse::<UserType>().is_err());
    }
}
