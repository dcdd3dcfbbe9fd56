//! The two users of every request, typed apart so that they cannot be
//! swapped: the actor (the verified token's subject) and the target (the
//! user id in the path).

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

/// Who asks: the subject of a verified token. Their role is read from the
/// database, never from the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ActorId(pub Uuid);

/// Whom a request acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TargetId(pub Uuid);

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
