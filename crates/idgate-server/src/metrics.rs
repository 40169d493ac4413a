//! Prometheus metrics, served at `/metrics`.

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, &'static str)>;

fn new_latency_histogram() -> Histogram {
    // 100 µs .. ~3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The server's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    exchanges: Family<Labels, Counter>,
    exchange_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    agent_requests: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("idgate");
        let exchanges = Family::<Labels, Counter>::default();
        registry.register(
            "instance_identity_exchanges",
            "Instance-identity exchanges by cloud and outcome (ok, or the error code)",
            exchanges.clone(),
        );
        let exchange_seconds = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            new_latency_histogram,
        );
        registry.register(
            "instance_identity_exchange_seconds",
            "Time to verify a proof, resolve the agent and issue its token",
            exchange_seconds.clone(),
        );
        let agent_requests = Family::<Labels, Counter>::default();
        registry.register(
            "agent_requests",
            "Agent API requests by endpoint and outcome",
            agent_requests.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            exchanges,
            exchange_seconds,
            agent_requests,
        }
    }

    /// Counts one exchange.
    pub fn exchange(&self, cloud: &'static str, outcome: &'static str, seconds: f64) {
        self.exchanges
            .get_or_create(&vec![("cloud", cloud), ("outcome", outcome)])
            .inc();
        self.exchange_seconds
            .get_or_create(&vec![("cloud", cloud)])
            .observe(seconds);
    }

    /// Counts one agent API request.
    pub fn agent_request(&self, endpoint: &'static str, outcome: &'static str) {
        self.agent_requests
            .get_or_create(&vec![("endpoint", endpoint), ("outcome", outcome)])
            .inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
