//! `idgate-bench`: benchmarks of idgate that print every figure beside a baseline measured in
//! the same run, and judge the ratio, never the absolute number: the machines they run on are
//! small, shared and noisy, so only a comparison made under the same conditions means anything.
//!
//! - `auth`: the AWS instance-identity exchange against the real server process, as a fraction
//!   of what `GET /healthz` achieves on the same server; and the server's memory.
//! - `resolve`: the store's candidate lookup at 10^3 and at 10^6 agent rows.
//! - `all`: both.
//!
//! Targets are informational: a MISS is printed, not turned into a failure. The exit status is
//! non-zero only when something broke (a request that should have succeeded did not, the server
//! did not start, the store failed). See `bench/README.md`.

mod auth;
mod resolve;
mod server;
mod stats;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Benchmarks of idgate; every figure is a ratio against a baseline from the same run.
#[derive(Debug, Parser)]
#[command(name = "idgate-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exchanges per second against the real server, over GET /healthz per second; memory.
    Auth(auth::AuthArgs),
    /// Store::find_candidates latency at 10^6 agent rows over its latency at 10^3.
    Resolve(resolve::ResolveArgs),
    /// `auth`, then `resolve`.
    All(AllArgs),
}

/// Flags of `all`: those of both benchmarks.
#[derive(Debug, Args)]
struct AllArgs {
    #[command(flatten)]
    auth: auth::AuthArgs,
    #[command(flatten)]
    resolve: resolve::ResolveArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = std::time::Instant::now();
    let ok = match &cli.command {
        Command::Auth(args) => run_auth(args).await,
        Command::Resolve(args) => run_resolve(args).await,
        Command::All(args) => {
            // Both run, even when the first fails.
            let auth = run_auth(&args.auth).await;
            let resolve = run_resolve(&args.resolve).await;
            auth && resolve
        }
    };
    println!("total time: {}", stats::human(started.elapsed()));
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run_auth(args: &auth::AuthArgs) -> bool {
    match auth::run(args).await {
        Ok(outcome) if outcome.failed_requests == 0 => true,
        Ok(outcome) => {
            eprintln!(
                "error: {} requests did not get the expected 200 (see above)",
                outcome.failed_requests
            );
            false
        }
        Err(error) => {
            eprintln!("error: auth: {error:#}");
            false
        }
    }
}

async fn run_resolve(args: &resolve::ResolveArgs) -> bool {
    match resolve::run(args).await {
        Ok(()) => true,
        Err(error) => {
            eprintln!("error: resolve: {error:#}");
            false
        }
    }
}
