//! The idgate binary: `idgate server` runs the server, `idgate agent` runs an agent, `idgate
//! imds` emulates a cloud metadata service, `idgate demo` tells the whole story on a laptop; the
//! other subcommands are an admin CLI over the HTTP admin API.
//!
//! **Invariant:** only this crate reads the environment, installs the tracing subscriber or has
//! a `main`.

mod admin;
mod agent;
mod demo;
mod imds;
mod server;

use clap::{Parser, Subcommand};

/// Cloud instance identity in, the agent's own session token out.
///
/// An agent on a cloud VM sends the signed identity document of its instance (AWS) to
/// `idgate server`, which verifies the cloud's signature, finds the agent registered for that
/// instance and returns that agent's session token. Wire-compatible with Coder's agent auth.
#[derive(Debug, Parser)]
#[command(name = "idgate", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (embedded SQLite in ./idgate-data unless --postgres-url is given).
    Server(server::ServerArgs),
    /// Create, list and show workspaces and their agents.
    #[command(subcommand)]
    Workspace(admin::WorkspaceCommand),
    /// Create workspace builds (which register the agents and their instance IDs).
    #[command(subcommand)]
    Build(admin::BuildCommand),
    /// Create templates and template versions.
    #[command(subcommand)]
    Template(admin::TemplateCommand),
    /// Run as a workspace agent (Coder-compatible flags), authenticate once (`exchange`),
    /// diagnose a machine (`doctor`), or show one agent (`show`, admin).
    Agent(agent::AgentArgs),
    /// Run a cloud metadata-service emulator (AWS IMDSv2, Azure IMDS or GCE) whose documents
    /// are really signed, for tests, demos and local development; it prints the `idgate
    /// server` flags that trust it.
    Imds(imds::ImdsArgs),
    /// Show what idgate does in a few seconds, with no cloud account: a server, an emulated
    /// metadata service and two real agents on one instance (the 409 without a name, each
    /// agent authenticated with its own, a rebuild), narrated step by step.
    Demo(demo::DemoArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Server(args) => server::run(args).await,
            Command::Workspace(cmd) => admin::workspace(cmd).await,
            Command::Build(cmd) => admin::build(cmd).await,
            Command::Template(cmd) => admin::template(cmd).await,
            Command::Agent(args) => agent::run(args).await,
            Command::Imds(args) => imds::run(args).await,
            Command::Demo(args) => demo::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            if let Some(exit) = error.downcast_ref::<agent::Exit>() {
                if exit.has_message() {
                    eprintln!("error: {exit}");
                }
                return std::process::ExitCode::from(exit.code());
            }
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
