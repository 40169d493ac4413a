//! Request handlers. They are thin: parse, call the verifier or the store, map the answer.

pub mod admin;
pub mod agent;
pub mod auth;
pub mod ops;
