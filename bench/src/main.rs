//! idgate benchmarks.
fn main() {}
