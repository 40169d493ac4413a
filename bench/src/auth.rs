//! `auth`: the AWS instance-identity exchange (api.md §1) against the real server process.
//!
//! The figure that matters is a ratio: exchanges per second over `GET /healthz` requests per
//! second, both driven by the same client, with the same concurrency and request count, against
//! the same server, in the same run. `/healthz` does no work, so it measures what the machine,
//! the HTTP stack and the load generator allow; the ratio says how much of that the exchange
//! (JSON, an RSA signature check, the candidate lookup, a session insert) keeps. The baseline is
//! measured before and after the exchanges, so that a machine that gets busier or quieter during
//! the run shows up as a gap between the two.
//!
//! Phases: sign every instance's document (before the server starts, so that its memory is the
//! server's own), start the server, register the agents through the admin API, warm up and run
//! the baseline, warm up and run the exchanges, run the baseline again, stop the server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use idgate_api::{
    AgentSpec, AuthKind, Build, CreateBuildRequest, ResourceSpec, SessionTokenResponse, Transition,
    paths,
};
use idgate_imds::aws::{AwsInstance, AwsSigner};
use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use uuid::Uuid;

use crate::server::{self, MemorySampler, Server};
use crate::stats::{Latencies, human, mib, ratio, verdict};

/// Target: exchanges per second at least this fraction of `/healthz` requests per second.
const THROUGHPUT_TARGET: f64 = 0.5;

/// Target: the server's peak resident set size (VmHWM) below this many MiB.
const MEMORY_TARGET_MIB: u64 = 150;

/// Regions the instances are spread over (the test signer is trusted for every region).
const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"];

/// Memory-sampler phases.
const PHASE_REGISTRATION: usize = 0;
const PHASE_LOAD: usize = 1;

/// Flags of `auth`.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Agents to register. A fifth of them share an instance with one other agent (`main` and
    /// `dev`, and exchanges for them name the agent); the rest are alone on their instance (and
    /// their exchanges name none). One workspace per instance.
    #[arg(long, default_value_t = 10_000)]
    pub agents: usize,

    /// Requests in each measured run: the exchanges, and each of the two `/healthz` runs.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,

    /// Concurrent client workers (each with its own keep-alive connection) in each run.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,

    /// Concurrent admin requests while registering the agents.
    #[arg(long, default_value_t = 16)]
    pub register_concurrency: usize,

    /// The idgate binary to run. Default: the one `cargo build --release -p idgate` produces
    /// (the benchmark runs that build first).
    #[arg(long, value_name = "PATH")]
    pub server_bin: Option<PathBuf>,
}

/// What `auth` found, for the exit status: the targets are informational, failed requests
/// are not.
#[derive(Debug)]
pub struct AuthOutcome {
    /// Requests (exchanges or `/healthz`, warm-ups included) that did not get the expected 200.
    pub failed_requests: usize,
}

/// One instance: its identity and the names of its agents.
struct InstancePlan {
    instance: AwsInstance,
    agent_names: &'static [&'static str],
}

/// One agent's exchange: the exact request body, and the agent it must resolve to.
struct Exchange {
    body: Vec<u8>,
    agent_id: Uuid,
}

/// What one measured run drives.
enum Workload {
    Healthz,
    Exchange {
        exchanges: Vec<Exchange>,
        /// Request `i` sends `exchanges[order[i % order.len()]]`.
        order: Vec<usize>,
    },
}

/// The result of one request that did not succeed.
enum Failure {
    Status(u16, String),
    Transport(String),
    WrongAgent,
    BadBody(String),
}

/// Counts of what went wrong in a run.
#[derive(Clone, Default)]
struct Failures {
    by_status: BTreeMap<u16, usize>,
    transport: usize,
    wrong_agent: usize,
    bad_body: usize,
    first: Option<String>,
}

impl Failures {
    fn record(&mut self, failure: Failure) {
        let text = match failure {
            Failure::Status(status, body) => {
                *self.by_status.entry(status).or_default() += 1;
                format!("HTTP {status}: {body}")
            }
            Failure::Transport(error) => {
                self.transport += 1;
                format!("transport error: {error}")
            }
            Failure::WrongAgent => {
                self.wrong_agent += 1;
                "200 for another agent than the one registered".to_owned()
            }
            Failure::BadBody(error) => {
                self.bad_body += 1;
                format!("200 with a body that is not a session token: {error}")
            }
        };
        self.first.get_or_insert(text);
    }

    fn merge(&mut self, other: Failures) {
        for (status, n) in other.by_status {
            *self.by_status.entry(status).or_default() += n;
        }
        self.transport += other.transport;
        self.wrong_agent += other.wrong_agent;
        self.bad_body += other.bad_body;
        if self.first.is_none() {
            self.first = other.first;
        }
    }

    fn total(&self) -> usize {
        self.by_status.values().sum::<usize>() + self.transport + self.wrong_agent + self.bad_body
    }

    fn describe(&self) -> String {
        if self.total() == 0 {
            return "none".to_owned();
        }
        let mut parts: Vec<String> = self
            .by_status
            .iter()
            .map(|(status, n)| format!("{n} × HTTP {status}"))
            .collect();
        if self.transport > 0 {
            parts.push(format!("{} × transport error", self.transport));
        }
        if self.wrong_agent > 0 {
            parts.push(format!("{} × wrong agent", self.wrong_agent));
        }
        if self.bad_body > 0 {
            parts.push(format!("{} × unreadable 200 body", self.bad_body));
        }
        let first = self.first.as_deref().unwrap_or_default();
        format!("{} (first: {first})", parts.join(", "))
    }
}

/// One measured (or warm-up) run.
struct Run {
    wall: Duration,
    samples: Vec<Duration>,
    failures: Failures,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.samples.len() as f64 / self.wall.as_secs_f64()
    }
}

/// The `{"id"}` of a created workspace.
#[derive(Deserialize)]
struct Created {
    id: Uuid,
}

/// Runs the `auth` benchmark and prints its figures.
pub async fn run(args: &AuthArgs) -> Result<AuthOutcome> {
    if args.agents == 0 || args.requests == 0 || args.concurrency == 0 {
        bail!("--agents, --requests and --concurrency must be positive");
    }
    let register_concurrency = args.register_concurrency.max(1);
    let binary = server::server_binary(args.server_bin.as_deref()).await?;

    println!(
        "== auth: AWS instance-identity exchange against GET /healthz (real server, SQLite) =="
    );
    let plans = Arc::new(plan_instances(args.agents));
    let pairs = plans.iter().filter(|p| p.agent_names.len() == 2).count();
    println!(
        "setup: {} agents on {} instances ({pairs} with agents main+dev), one workspace each",
        args.agents,
        plans.len()
    );

    let started = Instant::now();
    let signer = Arc::new(AwsSigner::generate(1024).context("cannot generate the signer key")?);
    let signed = sign_documents(&signer, &plans).await?;
    println!(
        "  signer key and {} signed documents: {}",
        signed.len(),
        human(started.elapsed())
    );

    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.concurrency.max(register_concurrency))
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")?;

    let started = Instant::now();
    let server = Server::start(&binary, signer.certificate_pem(), &client).await?;
    let ready_in = started.elapsed();
    let idle_kib = server::proc_status_kib(server.pid(), "VmRSS").unwrap_or_default();
    println!(
        "  server {} (pid {}) ready in {}",
        binary.display(),
        server.pid(),
        human(ready_in)
    );

    let sampler = MemorySampler::start(server.pid(), 2);
    let measured = measure(
        args,
        register_concurrency,
        &client,
        &server,
        &plans,
        &signed,
        &sampler,
    )
    .await;
    let peaks = sampler.finish();
    let hwm_kib = server::proc_status_kib(server.pid(), "VmHWM");
    let measured = match measured {
        Ok(measured) => measured,
        Err(error) => {
            let tail = server.log_tail();
            let _ = server.stop().await;
            return Err(error.context(format!("the end of the server's log:\n{tail}")));
        }
    };
    let stopped = server.stop().await?;

    let failed_requests = report(args, &measured);
    let registration = peaks.get(PHASE_REGISTRATION).copied().unwrap_or_default();
    let load = peaks.get(PHASE_LOAD).copied().unwrap_or_default();
    println!(
        "memory (server VmRSS, sampled every {} ms):",
        server::SAMPLE_PERIOD.as_millis()
    );
    println!(
        "  idle after start {}; peak while registering {} ({} samples); peak under load {} ({} samples)",
        mib(idle_kib),
        mib(registration.peak_kib),
        registration.samples,
        mib(load.peak_kib),
        load.samples
    );
    match hwm_kib {
        Some(hwm) => {
            let peak_over_idle = hwm as f64 / idle_kib.max(1) as f64;
            println!(
                "  VmHWM {}   target < {MEMORY_TARGET_MIB} MiB   {}   (VmHWM / idle: {peak_over_idle:.1}x)",
                mib(hwm),
                verdict(hwm < MEMORY_TARGET_MIB * 1024)
            );
        }
        None => println!("  VmHWM: unreadable (/proc/<pid>/status)"),
    }
    println!(
        "server stopped by SIGTERM in {} ({})",
        human(stopped.took),
        stopped.status
    );
    println!();
    Ok(AuthOutcome { failed_requests })
}

/// Everything measured while the server runs.
struct Measured {
    registered_in: Duration,
    healthz_before: Run,
    exchange: Run,
    healthz_after: Run,
    /// What went wrong in the warm-ups.
    warm_up_failures: Failures,
}

async fn measure(
    args: &AuthArgs,
    register_concurrency: usize,
    client: &reqwest::Client,
    server: &Server,
    plans: &Arc<Vec<InstancePlan>>,
    signed: &[(String, String)],
    sampler: &MemorySampler,
) -> Result<Measured> {
    sampler.set_phase(PHASE_REGISTRATION);
    let started = Instant::now();
    let agent_ids = register(&Admin::new(client, server), plans, register_concurrency).await?;
    let registered_in = started.elapsed();
    println!(
        "  registered in {} ({} admin requests, {register_concurrency} concurrent)",
        human(registered_in),
        2 * plans.len()
    );

    let exchanges = build_exchanges(plans, signed, &agent_ids)?;
    let mut order: Vec<usize> = (0..exchanges.len()).collect();
    // A fixed seed: every run sends the same sequence.
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(0x1d6a7e));
    let exchange = Arc::new(Workload::Exchange { exchanges, order });
    let healthz = Arc::new(Workload::Healthz);

    sampler.set_phase(PHASE_LOAD);
    let warm_up = args.concurrency * 4;
    let run = |workload: &Arc<Workload>, count: usize| {
        drive(
            client,
            server,
            Arc::clone(workload),
            args.concurrency,
            count,
        )
    };
    let mut warm_up_failures = run(&healthz, warm_up).await.failures;
    let healthz_before = run(&healthz, args.requests).await;
    warm_up_failures.merge(run(&exchange, warm_up).await.failures);
    let exchange_run = run(&exchange, args.requests).await;
    let healthz_after = run(&healthz, args.requests).await;
    Ok(Measured {
        registered_in,
        healthz_before,
        exchange: exchange_run,
        healthz_after,
        warm_up_failures,
    })
}

/// Prints the load figures and returns how many measured requests failed.
fn report(args: &AuthArgs, measured: &Measured) -> usize {
    println!(
        "load: {} requests per run, {} concurrent workers, keep-alive over loopback",
        args.requests, args.concurrency
    );
    let line = |label: &str, run: &Run| {
        let latencies = Latencies::of(&mut run.samples.clone());
        println!(
            "  {label:<16} {:>8.0} req/s   p50 {:>9}   p99 {:>9}   (wall {})",
            run.per_second(),
            human(latencies.p50),
            human(latencies.p99),
            human(run.wall)
        );
        latencies
    };
    line("healthz (before)", &measured.healthz_before);
    let exchange = line("auth", &measured.exchange);
    line("healthz (after)", &measured.healthz_after);

    let mut baseline_samples = measured.healthz_before.samples.clone();
    baseline_samples.extend_from_slice(&measured.healthz_after.samples);
    let baseline = Latencies::of(&mut baseline_samples);
    let baseline_wall = measured.healthz_before.wall + measured.healthz_after.wall;
    let baseline_per_second = baseline.count as f64 / baseline_wall.as_secs_f64();

    let mut healthz_failures = measured.healthz_before.failures.clone();
    healthz_failures.merge(measured.healthz_after.failures.clone());
    println!(
        "  auth not 200:    {}",
        measured.exchange.failures.describe()
    );
    println!("  healthz not 200: {}", healthz_failures.describe());
    if measured.warm_up_failures.total() > 0 {
        println!(
            "  warm-up not 200: {}",
            measured.warm_up_failures.describe()
        );
    }

    let throughput = measured.exchange.per_second() / baseline_per_second;
    let before = measured.exchange.per_second() / measured.healthz_before.per_second();
    let after = measured.exchange.per_second() / measured.healthz_after.per_second();
    println!("ratios (auth / healthz; healthz = both runs together):");
    println!(
        "  throughput    {throughput:.3}   target ≥ {THROUGHPUT_TARGET:.2}   {}   (against before only {before:.3}, after only {after:.3})",
        verdict(throughput >= THROUGHPUT_TARGET)
    );
    println!(
        "  latency       p50 {:.1}x   p99 {:.1}x   (context, no target)",
        ratio(exchange.p50, baseline.p50),
        ratio(exchange.p99, baseline.p99)
    );
    println!(
        "  registration  {:.1}x the wall time of one healthz run   (context, no target)",
        ratio(measured.registered_in, measured.healthz_before.wall)
    );
    measured.exchange.failures.total()
        + healthz_failures.total()
        + measured.warm_up_failures.total()
}

/// Lays out `agents` agents: a fifth of them in pairs (`main`, `dev`) on one instance, the rest
/// alone on theirs.
fn plan_instances(agents: usize) -> Vec<InstancePlan> {
    const PAIR: &[&str] = &["main", "dev"];
    const SINGLE: &[&str] = &["main"];
    let pairs = agents / 5;
    let singles = agents - 2 * pairs;
    (0..pairs + singles)
        .map(|k| InstancePlan {
            instance: AwsInstance {
                instance_id: format!("i-{:017x}", 0x0b0e_0000_0000_0000_u64 + k as u64),
                region: REGIONS[k % REGIONS.len()].to_owned(),
                account_id: "123456789012".to_owned(),
            },
            agent_names: if k < pairs { PAIR } else { SINGLE },
        })
        .collect()
}

/// Every instance's document and signature, signed on all cores.
async fn sign_documents(
    signer: &Arc<AwsSigner>,
    plans: &[InstancePlan],
) -> Result<Vec<(String, String)>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = plans.len().div_ceil(threads).max(1);
    let mut tasks = Vec::new();
    for part in plans.chunks(chunk) {
        let instances: Vec<AwsInstance> = part.iter().map(|p| p.instance.clone()).collect();
        let signer = Arc::clone(signer);
        tasks.push(tokio::task::spawn_blocking(move || {
            instances
                .iter()
                .map(|instance| {
                    let document = signer.document(instance);
                    let signature = signer.sign(document.as_bytes());
                    (document, signature)
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut signed = Vec::with_capacity(plans.len());
    for task in tasks {
        signed.extend(task.await.context("a signing task panicked")?);
    }
    Ok(signed)
}

/// Registers one workspace per instance, with one `start` build that declares its agents, and
/// returns the agents' ids in the order of `agent_names`.
async fn register(
    admin: &Admin,
    plans: &Arc<Vec<InstancePlan>>,
    concurrency: usize,
) -> Result<Vec<Vec<Uuid>>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let admin = admin.clone();
        let plans = Arc::clone(plans);
        let next = Arc::clone(&next);
        workers.spawn(async move {
            let mut done: Vec<(usize, Vec<Uuid>)> = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(plan) = plans.get(k) else {
                    return Ok::<_, anyhow::Error>(done);
                };
                let ids = register_one(&admin, k, plan)
                    .await
                    .with_context(|| format!("registering {}", plan.instance.instance_id))?;
                done.push((k, ids));
            }
        });
    }
    let mut agent_ids = vec![Vec::new(); plans.len()];
    while let Some(joined) = workers.join_next().await {
        for (k, ids) in joined.context("a registration worker panicked")?? {
            agent_ids[k] = ids;
        }
    }
    Ok(agent_ids)
}

/// The admin API of the running server.
#[derive(Clone)]
struct Admin {
    client: reqwest::Client,
    base_url: Arc<str>,
    authorization: Arc<str>,
}

impl Admin {
    fn new(client: &reqwest::Client, server: &Server) -> Admin {
        Admin {
            client: client.clone(),
            base_url: server.url("").into(),
            authorization: format!("Bearer {}", server.admin_token()).into(),
        }
    }

    /// POSTs `body` to `path` and decodes the 201 answer.
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T> {
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .header(AUTHORIZATION, &*self.authorization)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("POST {path}"))?;
        if status != StatusCode::CREATED {
            bail!("POST {path}: HTTP {status}: {}", snippet(&bytes));
        }
        serde_json::from_slice(&bytes).with_context(|| format!("POST {path}: unexpected body"))
    }
}

async fn register_one(admin: &Admin, k: usize, plan: &InstancePlan) -> Result<Vec<Uuid>> {
    let workspace: Created = admin
        .post(
            paths::WORKSPACES,
            &serde_json::json!({"name": format!("bench-{k}"), "owner": "bench"}),
        )
        .await?;
    let request = CreateBuildRequest {
        transition: Transition::Start,
        resources: vec![ResourceSpec {
            name: "vm".to_owned(),
            kind: "aws_instance".to_owned(),
            instance_id: Some(plan.instance.instance_id.clone()),
            agents: plan
                .agent_names
                .iter()
                .map(|name| AgentSpec {
                    name: (*name).to_owned(),
                    auth: AuthKind::AwsInstanceIdentity,
                    instance_id: None,
                    parent: None,
                })
                .collect(),
        }],
    };
    let path = format!("{}/{}/builds", paths::WORKSPACES, workspace.id);
    let build: Build = admin.post(&path, &request).await?;
    let agents: Vec<_> = build.resources.iter().flat_map(|r| &r.agents).collect();
    let mut ids = Vec::with_capacity(plan.agent_names.len());
    for name in plan.agent_names {
        match agents.iter().find(|a| a.name == *name) {
            Some(agent) => ids.push(agent.id),
            None => bail!("the build response has no agent named {name}"),
        }
    }
    Ok(ids)
}

/// One exchange per agent: the body an agent would send, and the agent it must get.
fn build_exchanges(
    plans: &[InstancePlan],
    signed: &[(String, String)],
    agent_ids: &[Vec<Uuid>],
) -> Result<Vec<Exchange>> {
    let mut exchanges = Vec::new();
    for ((plan, (document, signature)), ids) in plans.iter().zip(signed).zip(agent_ids) {
        for (name, agent_id) in plan.agent_names.iter().zip(ids) {
            // Alone on its instance, an agent needs no name; beside another it must give one.
            let body = if plan.agent_names.len() == 1 {
                serde_json::json!({"document": document, "signature": signature})
            } else {
                serde_json::json!({"document": document, "signature": signature, "agent_name": name})
            };
            exchanges.push(Exchange {
                body: serde_json::to_vec(&body)?,
                agent_id: *agent_id,
            });
        }
    }
    Ok(exchanges)
}

/// Sends `count` requests of `workload` from `concurrency` workers, recording each latency.
async fn drive(
    client: &reqwest::Client,
    server: &Server,
    workload: Arc<Workload>,
    concurrency: usize,
    count: usize,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let healthz_url = Arc::new(server.url(paths::HEALTHZ));
    let exchange_url = Arc::new(server.url(paths::AWS_INSTANCE_IDENTITY));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let workload = Arc::clone(&workload);
        let next = Arc::clone(&next);
        let healthz_url = Arc::clone(&healthz_url);
        let exchange_url = Arc::clone(&exchange_url);
        workers.spawn(async move {
            let mut samples = Vec::with_capacity(count / concurrency + 1);
            let mut failures = Failures::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let sent = Instant::now();
                let result = match &*workload {
                    Workload::Healthz => healthz_once(&client, &healthz_url).await,
                    Workload::Exchange { exchanges, order } => {
                        let exchange = &exchanges[order[i % order.len()]];
                        exchange_once(&client, &exchange_url, exchange).await
                    }
                };
                samples.push(sent.elapsed());
                if let Err(failure) = result {
                    failures.record(failure);
                }
            }
            (samples, failures)
        });
    }
    let mut samples = Vec::with_capacity(count);
    let mut failures = Failures::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok((worker_samples, worker_failures)) => {
                samples.extend(worker_samples);
                failures.merge(worker_failures);
            }
            Err(error) => failures.record(Failure::Transport(format!("worker panicked: {error}"))),
        }
    }
    Run {
        wall: started.elapsed(),
        samples,
        failures,
    }
}

async fn healthz_once(client: &reqwest::Client, url: &str) -> Result<(), Failure> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| Failure::Transport(e.to_string()))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Failure::Transport(e.to_string()))?;
    if status != StatusCode::OK {
        return Err(Failure::Status(status.as_u16(), snippet(&bytes)));
    }
    Ok(())
}

async fn exchange_once(
    client: &reqwest::Client,
    url: &str,
    exchange: &Exchange,
) -> Result<(), Failure> {
    let response = client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .body(exchange.body.clone())
        .send()
        .await
        .map_err(|e| Failure::Transport(e.to_string()))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Failure::Transport(e.to_string()))?;
    if status != StatusCode::OK {
        return Err(Failure::Status(status.as_u16(), snippet(&bytes)));
    }
    match serde_json::from_slice::<SessionTokenResponse>(&bytes) {
        Ok(session) if session.agent_id == exchange.agent_id => Ok(()),
        Ok(_) => Err(Failure::WrongAgent),
        Err(error) => Err(Failure::BadBody(error.to_string())),
    }
}

/// The start of a response body, for error messages.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.chars().take(300).collect()
}
