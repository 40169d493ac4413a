//! The idgate binary.
fn main() {}
