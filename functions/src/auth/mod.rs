//! Who is asking: bearer-token verification. (The actor's role is loaded from
//! the database by the request's transaction, never taken from the token.)

pub mod jwt;
pub mod keys;
