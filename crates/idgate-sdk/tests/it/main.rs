//! Integration tests of the SDK: a real idgate server and a fake AWS metadata service, both on
//! port 0 in the test process (`harness`), and the real cloud samples in `tests/data`.

mod client;
mod decode;
mod exchange;
mod harness;
mod other_clouds;
mod retrying;

use std::time::Duration;

use idgate_sdk::{Auth, AwsConfig, MetadataTimeouts, TokenProvider};

use crate::harness::{FakeImds, TestServer};

/// An AWS provider for `server`, reading the identity from `imds`.
pub fn aws_provider(server: &TestServer, imds: &FakeImds, name: Option<&str>) -> TokenProvider {
    let config = AwsConfig::default().with_endpoint(&imds.url);
    TokenProvider::new(&server.url, Auth::Aws(config))
        .expect("provider")
        .with_agent_name(name)
}

/// Metadata timeouts short enough for a test that waits for one to expire.
pub fn short_timeouts() -> MetadataTimeouts {
    MetadataTimeouts {
        connect: Duration::from_millis(500),
        total: Duration::from_millis(300),
    }
}
