//! `resolve`: the candidate lookup of the exchange ([`Store::find_candidates`]) in process, at
//! 10^3 agent rows and again after the same database has grown to 10^6.
//!
//! The rows grow the way a real fleet grows them: every workspace is rebuilt again and again on
//! the same instances, so each live agent row ends up with a history of dead rows that carry the
//! same instance ID (the case that a plain index on the instance ID handles badly), and new
//! workspaces keep arriving. Rebuilds go in rounds over all workspaces, so the rows of one
//! instance are spread over the whole table.
//!
//! Two ratios of the same lookups (same instance IDs, same order) are printed:
//!
//! - **one at a time, before/after**: the latency of sequential lookups in the grown database,
//!   against the same lookups in the same database at 10^3 rows, measured before it grew. This
//!   is the direct comparison, but the two measurements are a minute or more apart, and on a
//!   shared virtual machine a lone lookup's latency is mostly the time it takes to wake the
//!   database driver's thread and to be woken by it, which flips between modes several-fold
//!   apart (around 30 µs and around 130 µs on a 2-core VM) for seconds at a time.
//! - **four at a time, interleaved**: the time per lookup with as many concurrent callers as
//!   the SQLite store has reader connections, so that threads rarely sleep between lookups and the
//!   figure is mostly the work itself; against a second, fresh database seeded exactly as the first one
//!   was at 10^3 rows, in alternating rounds, so that both see the same machine. The figure is
//!   the median over the rounds of the per-round ratio. It is the steadier of the two, though
//!   a database whose driver threads happen to land badly can still be slow for a whole run.
//!
//! Seeding runs on the main multi-threaded runtime (its spinning workers pick up each reply of
//! the database driver thread quickly, which halves the seeding time). Lookups are timed on a
//! thread of their own with a single-threaded runtime, which takes the async runtime's own
//! worker hand-offs out of the figures.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use idgate_api::{AuthKind, Transition};
use idgate_store::{CANDIDATE_INDEX, NewAgent, NewResource, Store};
use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;
use sqlx::Connection as _;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::stats::{Latencies, human, ratio, verdict};

/// Target: the lookup latency at the full size at most this multiple of the baseline's.
const GROWTH_TARGET: f64 = 1.5;

/// Unmeasured lookups before each measurement (statement caches, page cache).
const WARM_UP_LOOKUPS: usize = 500;

/// Passes over the lookups in a before/after measurement; the pass with the lowest median
/// counts, because on a shared machine noise only ever adds latency.
const PASSES: usize = 3;

/// Alternating rounds of the interleaved measurement.
const ROUNDS: usize = 10;

/// Free space that `/dev/shm` needs to hold the databases (about 0.5 GiB per 10^6 rows).
const SHM_BYTES_PER_ROW: u64 = 1_000;

/// Flags of `resolve`.
#[derive(Debug, Clone, Args)]
pub struct ResolveArgs {
    /// Agent rows at the full size (rounded up to whole workspaces).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,

    /// Agent rows of the baseline (rounded up to whole builds).
    #[arg(long, default_value_t = 1_000)]
    pub base_rows: u64,

    /// Builds of each workspace at the full size (the last one live, the others history).
    #[arg(long, default_value_t = 20)]
    pub builds: u64,

    /// Instances (resources) per build.
    #[arg(long, default_value_t = 10)]
    pub instances_per_build: u64,

    /// Agents per instance (`vmN-main`, `vmN-dev`, `vmN-a2`, ...); each lookup finds them all.
    #[arg(long, default_value_t = 5)]
    pub agents_per_instance: u64,

    /// Measured lookups in each measurement.
    #[arg(long, default_value_t = 5_000)]
    pub lookups: usize,

    /// Concurrent callers in the interleaved measurement (the SQLite store has four reader
    /// connections).
    #[arg(long, default_value_t = 4)]
    pub lookup_concurrency: usize,

    /// Concurrent `create_build` callers while seeding (SQLite queues them on its one writer,
    /// which still goes faster than one caller at a time).
    #[arg(long, default_value_t = 4)]
    pub seed_concurrency: usize,

    /// Directory for the SQLite files. Default: /dev/shm when it exists and has room (the
    /// lookups read cached pages either way; seeding skips the disk), else the temp directory.
    #[arg(long, value_name = "DIR")]
    pub db_dir: Option<PathBuf>,

    /// Also run on PostgreSQL. The benchmark creates two fresh databases through this URL
    /// (which needs the CREATEDB privilege) and drops them at the end.
    #[arg(long, value_name = "URL")]
    pub postgres_url: Option<String>,
}

/// The dataset: how many workspaces, builds, instances and agents.
#[derive(Debug, Clone, Copy)]
struct Shape {
    instances_per_build: u64,
    agents_per_instance: u64,
    builds: u64,
    base_workspaces: u64,
    workspaces: u64,
}

impl Shape {
    fn new(args: &ResolveArgs) -> Result<Shape> {
        if args.builds == 0
            || args.instances_per_build == 0
            || args.agents_per_instance == 0
            || args.lookups == 0
        {
            bail!(
                "--builds, --instances-per-build, --agents-per-instance and --lookups must be \
                 positive"
            );
        }
        let per_build = args.instances_per_build * args.agents_per_instance;
        let base_workspaces = args.base_rows.div_ceil(per_build).max(1);
        let workspaces = args.rows.div_ceil(per_build * args.builds);
        if workspaces < base_workspaces {
            bail!(
                "--rows {} is not more than the baseline's {} rows",
                args.rows,
                base_workspaces * per_build
            );
        }
        Ok(Shape {
            instances_per_build: args.instances_per_build,
            agents_per_instance: args.agents_per_instance,
            builds: args.builds,
            base_workspaces,
            workspaces,
        })
    }

    fn agents_per_build(&self) -> u64 {
        self.instances_per_build * self.agents_per_instance
    }

    fn base_rows(&self) -> u64 {
        self.base_workspaces * self.agents_per_build()
    }

    fn rows(&self) -> u64 {
        self.workspaces * self.builds * self.agents_per_build()
    }

    fn instance_id(&self, workspace: u64, k: u64) -> String {
        format!(
            "i-{:017x}",
            0x0a11_0000_0000_0000_u64 + workspace * self.instances_per_build + k
        )
    }

    /// The instance IDs of workspaces `0..workspaces`.
    fn instance_ids(&self, workspaces: u64) -> Vec<String> {
        (0..workspaces)
            .flat_map(|w| (0..self.instances_per_build).map(move |k| (w, k)))
            .map(|(w, k)| self.instance_id(w, k))
            .collect()
    }

    /// The resources of every build of `workspace`: the same instances each time.
    fn resources(&self, workspace: u64) -> Vec<NewResource> {
        (0..self.instances_per_build)
            .map(|k| {
                let instance_id = self.instance_id(workspace, k);
                NewResource {
                    name: format!("vm{k}"),
                    kind: "aws_instance".to_owned(),
                    instance_id: Some(instance_id.clone()),
                    agents: (0..self.agents_per_instance)
                        .map(|j| NewAgent {
                            name: agent_name(k, j),
                            auth: AuthKind::AwsInstanceIdentity,
                            auth_instance_id: Some(instance_id.clone()),
                            parent: None,
                            token_hash: None,
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

/// The name of agent `j` of instance `k`; names are unique within a build.
fn agent_name(k: u64, j: u64) -> String {
    match j {
        0 => format!("vm{k}-main"),
        1 => format!("vm{k}-dev"),
        _ => format!("vm{k}-a{j}"),
    }
}

/// The two stores of one backend: the one that grows, and the 10^3-row control.
struct Stores {
    label: &'static str,
    grown: Store,
    control: Store,
    /// PostgreSQL only: connections for `ANALYZE`, to the grown and the control database.
    analyze: Option<(sqlx::PgConnection, sqlx::PgConnection)>,
}

impl Stores {
    /// Refreshes PostgreSQL's planner statistics (in production autovacuum keeps them fresh;
    /// right after seeding they would be whatever it happened to have gathered).
    async fn analyze(&mut self) -> Result<()> {
        if let Some((grown, control)) = &mut self.analyze {
            sqlx::query("ANALYZE").execute(&mut *grown).await?;
            sqlx::query("ANALYZE").execute(&mut *control).await?;
        }
        Ok(())
    }

    async fn close(self) {
        self.grown.close().await;
        self.control.close().await;
        if let Some((grown, control)) = self.analyze {
            let _ = grown.close().await;
            let _ = control.close().await;
        }
    }
}

/// Runs the `resolve` benchmark on SQLite, then on PostgreSQL if a URL is given.
pub async fn run(args: &ResolveArgs) -> Result<()> {
    let shape = Shape::new(args)?;
    let sqlite = run_sqlite(args, shape).await;
    println!();
    sqlite?;
    if let Some(url) = &args.postgres_url {
        let postgres = run_postgres(args, shape, url).await;
        println!();
        postgres?;
    }
    Ok(())
}

async fn run_sqlite(args: &ResolveArgs, shape: Shape) -> Result<()> {
    let parent = match &args.db_dir {
        Some(dir) => dir.clone(),
        None => default_db_dir(shape),
    };
    let dir = tempfile::Builder::new()
        .prefix("idgate-bench-resolve-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
    let grown_path = dir.path().join("grown.db");
    let control_path = dir.path().join("control.db");
    let grown = Store::open_sqlite(&grown_path)
        .await
        .with_context(|| format!("cannot open {}", grown_path.display()))?;
    let control = Store::open_sqlite(&control_path)
        .await
        .with_context(|| format!("cannot open {}", control_path.display()))?;
    let mut stores = Stores {
        label: "SQLite",
        grown,
        control,
        analyze: None,
    };
    println!(
        "== resolve: Store::find_candidates at {} and at {} agent rows (SQLite in {}, in process) ==",
        shape.base_rows(),
        shape.rows(),
        parent.display()
    );
    let result = run_on(&mut stores, args, shape).await;
    stores.close().await;
    if result.is_ok() {
        println!(
            "  database file at {} rows: {}",
            shape.rows(),
            file_sizes(&grown_path)
        );
    }
    dir.close()
        .context("cannot remove the temporary directory")?;
    result
}

/// `/dev/shm` when it is a directory with room for the databases, else the temp directory.
fn default_db_dir(shape: Shape) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let needed = shape.rows().saturating_mul(SHM_BYTES_PER_ROW);
    match available_bytes(shm) {
        Some(free) if shm.is_dir() && free >= needed => shm.to_path_buf(),
        _ => std::env::temp_dir(),
    }
}

/// Free bytes on the file system of `dir`, from `df` (std has no statvfs, and this crate
/// forbids the unsafe code that calling it would take).
fn available_bytes(dir: &Path) -> Option<u64> {
    let output = std::process::Command::new("df")
        .args(["-Pk"])
        .arg(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    // The second line: filesystem, 1024-blocks, used, available, capacity, mount point.
    let kib: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

async fn run_postgres(args: &ResolveArgs, shape: Shape, url: &str) -> Result<()> {
    let suffix = Uuid::new_v4().simple().to_string();
    let names = [
        format!("idgate_bench_{}_grown", &suffix[..12]),
        format!("idgate_bench_{}_control", &suffix[..12]),
    ];
    let mut admin = sqlx::PgConnection::connect(url)
        .await
        .context("cannot connect to PostgreSQL (--postgres-url)")?;
    for name in &names {
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .with_context(|| format!("cannot create database {name} (needs CREATEDB)"))?;
    }
    let result = run_postgres_in(args, shape, url, &names).await;
    for name in &names {
        let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await;
        if let Err(error) = dropped {
            eprintln!("warning: cannot drop database {name}: {error}");
        }
    }
    let _ = admin.close().await;
    result
}

async fn run_postgres_in(
    args: &ResolveArgs,
    shape: Shape,
    url: &str,
    names: &[String; 2],
) -> Result<()> {
    let grown_url = with_database(url, &names[0])?;
    let control_url = with_database(url, &names[1])?;
    let grown = Store::connect_postgres(&grown_url)
        .await
        .context("cannot open the grown database")?;
    let control = Store::connect_postgres(&control_url)
        .await
        .context("cannot open the control database")?;
    let analyze = (
        sqlx::PgConnection::connect(&grown_url).await?,
        sqlx::PgConnection::connect(&control_url).await?,
    );
    let mut stores = Stores {
        label: "PostgreSQL",
        grown,
        control,
        analyze: Some(analyze),
    };
    println!(
        "== resolve: Store::find_candidates at {} and at {} agent rows (PostgreSQL, in process) ==",
        shape.base_rows(),
        shape.rows()
    );
    println!("  (ANALYZE runs before each measurement, as autovacuum would have by then)");
    let result = run_on(&mut stores, args, shape).await;
    stores.close().await;
    result
}

/// `url` with its database (the path) replaced by `database`; the query string is kept.
fn with_database(url: &str, database: &str) -> Result<String> {
    let Some(scheme_end) = url.find("://") else {
        bail!("a PostgreSQL URL looks like postgres://user@host:port/database");
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let query = match rest.find('?') {
        Some(q) => &rest[q..],
        None => "",
    };
    Ok(format!(
        "{}{authority}/{database}{query}",
        &url[..authority_start]
    ))
}

async fn run_on(stores: &mut Stores, args: &ResolveArgs, shape: Shape) -> Result<()> {
    let label = stores.label;
    let concurrency = args.seed_concurrency.max(1);
    println!(
        "shape: {} agent rows per build ({} instances × {} agents); {} builds per workspace at \
         the full size; {} lookups of random instances of the first {} workspaces",
        shape.agents_per_build(),
        shape.instances_per_build,
        shape.agents_per_instance,
        shape.builds,
        args.lookups,
        shape.base_workspaces
    );

    // Baseline: the first workspaces, one build each.
    let started = Instant::now();
    let mut workspaces = seed_base(&stores.grown, shape, concurrency).await?;
    println!(
        "  seeded {} rows ({} workspaces × 1 build) in {}",
        shape.base_rows(),
        shape.base_workspaces,
        human(started.elapsed())
    );

    // The same lookups at both sizes, in both databases.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5e1ec7);
    let lookups = Arc::new(pick(
        &shape.instance_ids(shape.base_workspaces),
        args.lookups,
        &mut rng,
    ));
    let expected = shape.agents_per_instance as usize;
    stores.analyze().await?;
    let before = measure_quietly(&stores.grown, &lookups, expected).await?;
    print_latencies(
        &format!("{} rows, one at a time", shape.base_rows()),
        &before,
    );

    // Growth: the new workspaces get their first build; then every workspace is rebuilt, round
    // after round, on the same instances.
    let started = Instant::now();
    let new = create_workspaces(&stores.grown, shape.base_workspaces..shape.workspaces).await?;
    build_round(
        &stores.grown,
        &new,
        shape.base_workspaces,
        shape,
        concurrency,
    )
    .await?;
    workspaces.extend(new);
    for round in 1..shape.builds {
        build_round(&stores.grown, &workspaces, 0, shape, concurrency).await?;
        if round % 5 == 4 {
            eprintln!(
                "  (seeding: {}/{} build rounds after {})",
                round + 1,
                shape.builds,
                human(started.elapsed())
            );
        }
    }
    let seeded_in = started.elapsed();
    let count = stores.grown.count_agents().await?;
    check_count(count, shape.rows())?;
    println!(
        "  seeded {} more rows ({} workspaces × {} builds in all) in {}; count_agents() = {count}",
        shape.rows() - shape.base_rows(),
        shape.workspaces,
        shape.builds,
        human(seeded_in)
    );
    stores.analyze().await?;
    let after = measure_quietly(&stores.grown, &lookups, expected).await?;
    print_latencies(&format!("{count} rows, one at a time"), &after);

    // The control: a fresh database seeded as the grown one was at the baseline.
    seed_base(&stores.control, shape, concurrency).await?;
    stores.analyze().await?;
    let all_instances = shape.instance_ids(shape.workspaces);
    let spread = Arc::new(pick(&all_instances, args.lookups, &mut rng));
    let callers = args.lookup_concurrency.max(1);
    let shared = {
        let grown = stores.grown.clone();
        let control = stores.control.clone();
        let lookups = Arc::clone(&lookups);
        let spread = Arc::clone(&spread);
        on_quiet_thread(move || async move {
            interleave(&grown, &control, &lookups, &spread, callers, expected).await
        })
        .await?
    };
    println!(
        "  {callers} at a time, {ROUNDS} alternating rounds of {} lookups, time per lookup:",
        lookups.len().div_ceil(ROUNDS)
    );
    println!(
        "    {:<32} {}",
        format!("{count} rows"),
        human(shared.grown)
    );
    println!(
        "    {:<32} {}",
        format!("{} rows (control)", shape.base_rows()),
        human(shared.control)
    );
    println!(
        "    {:<32} {}",
        format!("{count} rows, all {} instances", all_instances.len()),
        human(shared.spread)
    );

    let plan = stores
        .grown
        .explain_find_candidates(AuthKind::AwsInstanceIdentity, &lookups[0])
        .await?;
    let uses_index = plan.iter().any(|line| line.contains(CANDIDATE_INDEX));
    println!(
        "  query plan at {count} rows ({} {CANDIDATE_INDEX}):",
        if uses_index { "uses" } else { "does NOT use" }
    );
    for line in &plan {
        println!("    {line}");
    }

    println!(
        "ratio ({} rows) / ({} rows), {label}, target ≤ {GROWTH_TARGET:.1}:",
        shape.rows(),
        shape.base_rows()
    );
    println!(
        "  time per lookup, {callers} at a time, interleaved   {:.2}   {}   (median of {ROUNDS} per-round ratios)",
        shared.median_ratio,
        verdict(shared.median_ratio <= GROWTH_TARGET)
    );
    let p50 = ratio(after.p50, before.p50);
    println!(
        "  latency p50, one at a time, before/after  {p50:.2}   {}   (mean {:.2}, p99 {:.2}; see bench/README.md on noise)",
        verdict(p50 <= GROWTH_TARGET),
        ratio(after.mean, before.mean),
        ratio(after.p99, before.p99)
    );
    println!(
        "  context: lookups spread over all {} instances, {callers} at a time, against the control: {:.2}",
        all_instances.len(),
        shared.median_spread_ratio
    );
    Ok(())
}

/// Creates the baseline's workspaces in `store` with one build each, checks the count, and
/// returns their ids.
async fn seed_base(store: &Store, shape: Shape, concurrency: usize) -> Result<Vec<Uuid>> {
    let workspaces = create_workspaces(store, 0..shape.base_workspaces).await?;
    build_round(store, &workspaces, 0, shape, concurrency).await?;
    check_count(store.count_agents().await?, shape.base_rows())?;
    Ok(workspaces)
}

fn check_count(count: i64, expected: u64) -> Result<()> {
    if u64::try_from(count).ok() != Some(expected) {
        bail!("count_agents() = {count}, expected {expected}");
    }
    Ok(())
}

/// `count` instance IDs drawn at random (with replacement) from `from`.
fn pick(from: &[String], count: usize, rng: &mut rand::rngs::StdRng) -> Vec<String> {
    (0..count)
        .filter_map(|_| from.choose(rng).cloned())
        .collect()
}

/// Creates the workspaces numbered `range` and returns their ids.
async fn create_workspaces(store: &Store, range: std::ops::Range<u64>) -> Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
    for w in range {
        let workspace = store
            .create_workspace(&format!("ws-{w}"), "bench", None, OffsetDateTime::now_utc())
            .await
            .with_context(|| format!("creating workspace {w}"))?;
        ids.push(workspace.id);
    }
    Ok(ids)
}

/// One `start` build of each workspace in `ids` (which are numbered from `first`), from
/// `concurrency` callers at once.
async fn build_round(
    store: &Store,
    ids: &[Uuid],
    first: u64,
    shape: Shape,
    concurrency: usize,
) -> Result<()> {
    let ids: Arc<Vec<Uuid>> = Arc::new(ids.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let store = store.clone();
        let ids = Arc::clone(&ids);
        let next = Arc::clone(&next);
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                let resources = shape.resources(first + i as u64);
                store
                    .create_build(
                        *id,
                        Transition::Start,
                        &resources,
                        OffsetDateTime::now_utc(),
                    )
                    .await
                    .with_context(|| format!("building workspace {id}"))?;
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.context("a seeding worker panicked")??;
    }
    Ok(())
}

/// [`measure`] on a quiet thread (see [`on_quiet_thread`]).
async fn measure_quietly(
    store: &Store,
    lookups: &Arc<Vec<String>>,
    expected: usize,
) -> Result<Latencies> {
    let store = store.clone();
    let lookups = Arc::clone(lookups);
    on_quiet_thread(move || async move { measure(&store, &lookups, expected).await }).await
}

/// Runs `work` to completion on a new thread with its own single-threaded runtime, and waits
/// for it.
async fn on_quiet_thread<F, Fut, T>(work: F) -> Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
    T: Send + 'static,
{
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bench-lookups".to_owned())
        .spawn(move || {
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(work()));
            let _ = done.send(outcome);
        })
        .context("cannot start the measuring thread")?;
    result.await.context("the measuring thread panicked")?
}

/// Looks up each instance ID in turn, [`PASSES`] times after a warm-up, checking that each
/// finds `expected` agents; returns the pass with the lowest median.
async fn measure(store: &Store, lookups: &[String], expected: usize) -> Result<Latencies> {
    for instance_id in lookups.iter().take(WARM_UP_LOOKUPS) {
        lookup(store, instance_id, expected).await?;
    }
    let mut best: Option<Latencies> = None;
    for _ in 0..PASSES {
        let mut samples = Vec::with_capacity(lookups.len());
        timed_lookups(store, lookups, expected, &mut samples).await?;
        let pass = Latencies::of(&mut samples);
        if best.is_none_or(|b| pass.p50 < b.p50) {
            best = Some(pass);
        }
    }
    best.context("no measurement pass ran")
}

/// The result of [`interleave`]: mean time per lookup over all rounds, and the medians of the
/// per-round ratios against the control.
struct Interleaved {
    grown: Duration,
    control: Duration,
    spread: Duration,
    median_ratio: f64,
    median_spread_ratio: f64,
}

/// Splits the lookups into [`ROUNDS`] rounds; in each, times the round's lookups with
/// `callers` concurrent callers in the grown database, in the control, and (spread over all
/// instances) in the grown database again, rotating which goes first.
async fn interleave(
    grown: &Store,
    control: &Store,
    lookups: &Arc<Vec<String>>,
    spread: &Arc<Vec<String>>,
    callers: usize,
    expected: usize,
) -> Result<Interleaved> {
    let warm_up = 0..WARM_UP_LOOKUPS.min(lookups.len());
    for (store, ids) in [(grown, lookups), (control, lookups), (grown, spread)] {
        time_concurrently(store, ids, warm_up.clone(), callers, expected).await?;
    }
    let per_round = lookups.len().div_ceil(ROUNDS).max(1);
    let mut totals = [Duration::ZERO; 3];
    let mut ratios = Vec::with_capacity(ROUNDS);
    let mut spread_ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let start = round * per_round;
        let end = (start + per_round).min(lookups.len());
        if start >= end {
            break;
        }
        let mut times = [Duration::ZERO; 3];
        for turn in 0..3 {
            let which = (round + turn) % 3;
            let (store, ids) = match which {
                0 => (grown, lookups),
                1 => (control, lookups),
                _ => (grown, spread),
            };
            times[which] = time_concurrently(store, ids, start..end, callers, expected).await?;
        }
        for (total, time) in totals.iter_mut().zip(times) {
            *total += time;
        }
        ratios.push(ratio(times[0], times[1]));
        spread_ratios.push(ratio(times[2], times[1]));
    }
    let count = u32::try_from(lookups.len()).unwrap_or(u32::MAX).max(1);
    Ok(Interleaved {
        grown: totals[0] / count,
        control: totals[1] / count,
        spread: totals[2] / count,
        median_ratio: median(ratios),
        median_spread_ratio: median(spread_ratios),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Looks up `ids[range]` with `callers` concurrent callers and returns the wall time.
async fn time_concurrently(
    store: &Store,
    ids: &Arc<Vec<String>>,
    range: std::ops::Range<usize>,
    callers: usize,
    expected: usize,
) -> Result<Duration> {
    let next = Arc::new(AtomicUsize::new(range.start));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let store = store.clone();
        let ids = Arc::clone(ids);
        let next = Arc::clone(&next);
        let end = range.end;
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return Ok::<(), anyhow::Error>(());
                }
                lookup(&store, &ids[i], expected).await?;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("a lookup task panicked")??;
    }
    Ok(started.elapsed())
}

async fn timed_lookups(
    store: &Store,
    lookups: &[String],
    expected: usize,
    samples: &mut Vec<Duration>,
) -> Result<()> {
    for instance_id in lookups {
        let started = Instant::now();
        lookup(store, instance_id, expected).await?;
        samples.push(started.elapsed());
    }
    Ok(())
}

async fn lookup(store: &Store, instance_id: &str, expected: usize) -> Result<()> {
    let candidates = store
        .find_candidates(AuthKind::AwsInstanceIdentity, instance_id)
        .await?;
    if candidates.len() != expected {
        bail!(
            "find_candidates({instance_id}) found {} candidates, expected {expected}",
            candidates.len()
        );
    }
    Ok(())
}

fn print_latencies(label: &str, latencies: &Latencies) {
    println!(
        "  {label:<34} p50 {:>9}   p99 {:>9}   mean {:>9}   max {:>9}",
        human(latencies.p50),
        human(latencies.p99),
        human(latencies.mean),
        human(latencies.max)
    );
}

/// The sizes of a SQLite file and its write-ahead log.
fn file_sizes(path: &Path) -> String {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = path.with_extension("db-wal");
    format!(
        "{} MiB (+ {} MiB write-ahead log)",
        size(path) / (1024 * 1024),
        size(&wal) / (1024 * 1024)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_replaced_in_urls() {
        let check = |url: &str| with_database(url, "bench").ok();
        assert_eq!(
            check("postgres://idgate@127.0.0.1:5432/postgres").as_deref(),
            Some("postgres://idgate@127.0.0.1:5432/bench")
        );
        assert_eq!(
            check("postgresql://u:p@db/x?sslmode=disable").as_deref(),
            Some("postgresql://u:p@db/bench?sslmode=disable")
        );
        assert_eq!(
            check("postgres://db:5432").as_deref(),
            Some("postgres://db:5432/bench")
        );
        assert_eq!(
            check("postgres://db?application_name=a/b").as_deref(),
            Some("postgres://db/bench?application_name=a/b")
        );
        assert!(check("db:5432").is_none());
    }

    #[test]
    fn agent_names_are_valid_and_distinct_within_a_build() {
        let names: Vec<String> = (0..3)
            .flat_map(|k| (0..4).map(move |j| agent_name(k, j)))
            .collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert!(names.iter().all(|n| idgate_api::valid_name(n)));
    }
}
