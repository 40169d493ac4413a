//! The admin CLI: a thin client of the HTTP admin API (§3 of the contract).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Args, Subcommand};
use idgate_api::{
    Agent, Build, ErrorBody, LatestBuild, Template, TemplateVersion, Workspace, paths,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Where the server is and how to authenticate to it.
#[derive(Debug, Args)]
pub struct Connection {
    /// The server's URL.
    #[arg(
        long,
        env = "IDGATE_URL",
        default_value = "http://127.0.0.1:7080",
        global = true
    )]
    url: String,

    /// File holding the admin token (the server writes it on first start).
    #[arg(
        long,
        env = "IDGATE_ADMIN_TOKEN_FILE",
        default_value = "./idgate-data/admin-token",
        global = true
    )]
    admin_token_file: PathBuf,

    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

/// `idgate workspace ...`
#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace.
    Create {
        /// Workspace name: letters, digits and single hyphens.
        #[arg(long)]
        name: String,
        /// Owner (a user name).
        #[arg(long)]
        owner: String,
        /// Template the workspace is created from.
        #[arg(long)]
        template: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// List workspaces with their latest build.
    List {
        #[command(flatten)]
        conn: Connection,
    },
    /// Show one workspace (by ID or name) with the agents of its latest build.
    Show {
        /// Workspace ID or name.
        workspace: String,
        #[command(flatten)]
        conn: Connection,
    },
}

/// `idgate build ...`
#[derive(Debug, Subcommand)]
pub enum BuildCommand {
    /// Create a build from a JSON file of resources, e.g.
    /// [{"name": "dev", "type": "aws_instance", "instance_id": "i-0abc",
    ///   "agents": [{"name": "main", "auth": "aws-instance-identity"}]}]
    /// or from a Terraform state (--from-tfstate).
    Create {
        /// Workspace ID or name.
        workspace: String,
        /// start, stop or delete.
        #[arg(long, default_value = "start")]
        transition: String,
        /// JSON file: an array of resources, or an object with a "resources" array.
        /// Optional for stop and delete builds.
        #[arg(long, conflicts_with = "from_tfstate")]
        resources: Option<PathBuf>,
        /// Import the resources from a Terraform state: the output of `terraform show -json`
        /// after `terraform apply`. Each coder_agent becomes an agent on the compute resource
        /// that depends on it, as in Coder.
        #[arg(long, value_name = "FILE")]
        from_tfstate: Option<PathBuf>,
        #[command(flatten)]
        conn: Connection,
    },
}

/// `idgate template ...`
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Create a template.
    Create {
        /// Unique template name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Import a template version from a JSON file of resources, or from a Terraform plan
    /// (--from-tfplan). Its agents never authenticate.
    Version {
        /// Template ID.
        template: String,
        /// JSON file: an array of resources, or an object with a "resources" array.
        #[arg(
            long,
            required_unless_present = "from_tfplan",
            conflicts_with = "from_tfplan"
        )]
        resources: Option<PathBuf>,
        /// Import the resources from a Terraform plan: the output of
        /// `terraform show -json PLANFILE`. Instance IDs that the plan does not know yet are
        /// left out.
        #[arg(long, value_name = "FILE")]
        from_tfplan: Option<PathBuf>,
        #[command(flatten)]
        conn: Connection,
    },
}

/// `idgate agent ...`
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Show one agent by ID.
    Show {
        /// Agent ID.
        agent: String,
        #[command(flatten)]
        conn: Connection,
    },
}

/// A client of the admin API.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    json: bool,
}

impl Client {
    fn new(conn: &Connection) -> Result<Client> {
        let token = read_token(&conn.admin_token_file)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client {
            http,
            base: conn.url.trim_end_matches('/').to_owned(),
            token,
            json: conn.json,
        })
    }

    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T> {
        send_admin(request, &self.token, &self.base).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// Accepts a workspace ID, or a name that is unique among the workspaces.
    async fn workspace_id(&self, id_or_name: &str) -> Result<String> {
        if uuid::Uuid::parse_str(id_or_name).is_ok() {
            return Ok(id_or_name.to_owned());
        }
        let all: Vec<Workspace> = self.get(paths::WORKSPACES).await?;
        let matching: Vec<&Workspace> = all
            .iter()
            .filter(|w| w.name == id_or_name && !w.deleted)
            .collect();
        match matching.as_slice() {
            [one] => Ok(one.id.to_string()),
            [] => bail!("no workspace is named {id_or_name:?}; `idgate workspace list` shows them"),
            _ => bail!(
                "several owners have a workspace named {id_or_name:?}; pass its ID instead \
                 (`idgate workspace list` shows them)"
            ),
        }
    }

    fn print<T: Serialize>(&self, value: &T, table: impl FnOnce(&T)) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            table(value);
        }
        Ok(())
    }
}

/// Sends an admin API request with the admin token and decodes the JSON answer; an error answer
/// becomes an error that shows the server's message, code, detail and validations.
pub(crate) async fn send_admin<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    token: &str,
    base: &str,
) -> Result<T> {
    let response = request
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| anyhow!("cannot reach the server at {base}: {e}"))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("cannot read the server's answer ({status})"))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .with_context(|| format!("the server's answer ({status}) is not what was expected"));
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => Err(anyhow!(describe_error(status.as_u16(), &body))),
        Err(_) => bail!("the server answered {status}"),
    }
}

fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the admin token file {}; point --admin-token-file \
             (IDGATE_ADMIN_TOKEN_FILE) at the file the server wrote in its data directory",
            path.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        bail!("the admin token file {} is empty", path.display());
    }
    Ok(token.to_owned())
}

fn describe_error(status: u16, body: &ErrorBody) -> String {
    let mut text = format!("{} (HTTP {status}", body.message);
    if let Some(code) = body.code {
        text.push_str(&format!(", {}", code.as_str()));
    }
    text.push(')');
    if let Some(detail) = &body.detail {
        text.push_str(&format!("\n  {detail}"));
    }
    for v in &body.validations {
        text.push_str(&format!("\n  {}: {}", v.field, v.detail));
    }
    text
}

/// Reads a resources file: an array, or an object with a `resources` array.
fn read_resources(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    match value {
        Value::Array(_) => Ok(value),
        Value::Object(mut map) => match map.remove("resources") {
            Some(resources @ Value::Array(_)) => Ok(resources),
            _ => bail!(
                "{} must hold an array of resources or an object with a \"resources\" array",
                path.display()
            ),
        },
        _ => bail!("{} must hold an array of resources", path.display()),
    }
}

/// Reads a `terraform show -json` file and keeps only what the import reads, so that real
/// states and plans fit in the server's request size limit. The server reports anything wrong
/// with the document.
fn read_terraform(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not valid JSON: write it with `terraform show -json > FILE` (for a plan, \
             `terraform show -json PLANFILE > FILE`)",
            path.display()
        )
    })?;
    Ok(idgate_terraform::slim(&value))
}

/// The body of `idgate build create`.
fn build_body(
    transition: &str,
    resources: Option<&Path>,
    from_tfstate: Option<&Path>,
) -> Result<Value> {
    if let Some(path) = from_tfstate {
        return Ok(json!({"transition": transition, "terraform_state": read_terraform(path)?}));
    }
    let resources = match resources {
        Some(path) => read_resources(path)?,
        None => Value::Array(Vec::new()),
    };
    Ok(json!({"transition": transition, "resources": resources}))
}

/// The body of `idgate template version`.
fn template_version_body(resources: Option<&Path>, from_tfplan: Option<&Path>) -> Result<Value> {
    match (resources, from_tfplan) {
        (_, Some(path)) => Ok(json!({"terraform_plan": read_terraform(path)?})),
        (Some(path), None) => Ok(json!({"resources": read_resources(path)?})),
        (None, None) => bail!("give --resources FILE or --from-tfplan FILE"),
    }
}

/// Runs `idgate workspace ...`.
pub async fn workspace(cmd: WorkspaceCommand) -> Result<()> {
    match cmd {
        WorkspaceCommand::Create {
            name,
            owner,
            template,
            conn,
        } => {
            let client = Client::new(&conn)?;
            let body = json!({"name": name, "owner": owner, "template_id": template});
            let created: Workspace = client.post(paths::WORKSPACES, &body).await?;
            client.print(&created, |w| {
                println!("created workspace {} ({}/{})", w.id, w.owner, w.name);
            })
        }
        WorkspaceCommand::List { conn } => {
            let client = Client::new(&conn)?;
            let all: Vec<Workspace> = client.get(paths::WORKSPACES).await?;
            client.print(&all, |all| print_workspace_table(all))
        }
        WorkspaceCommand::Show { workspace, conn } => {
            let client = Client::new(&conn)?;
            let id = client.workspace_id(&workspace).await?;
            let ws: Workspace = client.get(&format!("{}/{id}", paths::WORKSPACES)).await?;
            client.print(&ws, print_workspace)
        }
    }
}

/// Runs `idgate build ...`.
pub async fn build(cmd: BuildCommand) -> Result<()> {
    match cmd {
        BuildCommand::Create {
            workspace,
            transition,
            resources,
            from_tfstate,
            conn,
        } => {
            let client = Client::new(&conn)?;
            let body = build_body(&transition, resources.as_deref(), from_tfstate.as_deref())?;
            let id = client.workspace_id(&workspace).await?;
            let build: Build = client
                .post(&format!("{}/{id}/builds", paths::WORKSPACES), &body)
                .await?;
            client.print(&build, |b| {
                println!(
                    "created build #{} ({}) of workspace {}",
                    b.build_number,
                    b.transition.as_str(),
                    b.workspace_id
                );
                print_agents(&b.resources);
                for agent in b.resources.iter().flat_map(|r| &r.agents) {
                    if let Some(token) = &agent.token {
                        println!(
                            "token of agent {} (shown only now; give it to the agent as \
                             CODER_AGENT_TOKEN): {token}",
                            agent.name
                        );
                    }
                }
            })
        }
    }
}

/// Runs `idgate template ...`.
pub async fn template(cmd: TemplateCommand) -> Result<()> {
    match cmd {
        TemplateCommand::Create { name, conn } => {
            let client = Client::new(&conn)?;
            let created: Template = client
                .post(paths::TEMPLATES, &json!({"name": name}))
                .await?;
            client.print(&created, |t| {
                println!("created template {} ({})", t.id, t.name)
            })
        }
        TemplateCommand::Version {
            template,
            resources,
            from_tfplan,
            conn,
        } => {
            let client = Client::new(&conn)?;
            let body = template_version_body(resources.as_deref(), from_tfplan.as_deref())?;
            let version: TemplateVersion = client
                .post(&format!("{}/{template}/versions", paths::TEMPLATES), &body)
                .await?;
            client.print(&version, |v| {
                println!("imported template version {}", v.id);
                print_agents(&v.resources);
            })
        }
    }
}

/// Runs `idgate agent ...`.
pub async fn agent(cmd: AgentCommand) -> Result<()> {
    match cmd {
        AgentCommand::Show { agent, conn } => {
            let client = Client::new(&conn)?;
            let found: Agent = client
                .get(&format!("/api/v2/workspaceagents/{agent}"))
                .await?;
            client.print(&found, |a| {
                println!("agent {} ({})", a.name, a.id);
                println!("  auth:              {}", a.auth.as_str());
                println!(
                    "  instance id:       {}",
                    a.auth_instance_id.as_deref().unwrap_or("-")
                );
                println!("  lifecycle:         {}", a.lifecycle_state.as_str());
                println!("  last seen:         {}", time_or_never(a.last_seen_at));
                println!(
                    "  last authenticated: {}",
                    time_or_never(a.last_authenticated_at)
                );
            })
        }
    }
}

fn time_or_never(t: Option<time::OffsetDateTime>) -> String {
    match t.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    }) {
        Some(s) => s,
        None => "never".into(),
    }
}

fn print_workspace_table(all: &[Workspace]) {
    if all.is_empty() {
        println!(
            "no workspaces yet: create one with `idgate workspace create --name NAME --owner OWNER`"
        );
        return;
    }
    println!(
        "{:<36}  {:<20}  {:<16}  {:>5}  {:<10}  {:<7}  AGENTS",
        "ID", "NAME", "OWNER", "BUILD", "TRANSITION", "DELETED"
    );
    for w in all {
        let (number, transition, agents) = match w.latest_build.build() {
            Some(b) => (
                b.build_number.to_string(),
                b.transition.as_str(),
                b.resources.iter().map(|r| r.agents.len()).sum::<usize>(),
            ),
            None => ("-".into(), "-", 0),
        };
        println!(
            "{:<36}  {:<20}  {:<16}  {:>5}  {:<10}  {:<7}  {}",
            w.id, w.name, w.owner, number, transition, w.deleted, agents
        );
    }
}

fn print_workspace(w: &Workspace) {
    println!("workspace {}/{} ({})", w.owner, w.name, w.id);
    if w.deleted {
        println!("  deleted");
    }
    match &w.latest_build {
        LatestBuild::Some(b) => {
            println!(
                "  latest build #{} ({}), {}",
                b.build_number,
                b.transition.as_str(),
                time_or_never(Some(b.created_at))
            );
            print_agents(&b.resources);
        }
        _ => println!(
            "  no build yet: `idgate build create {} --resources FILE`",
            w.name
        ),
    }
}

fn print_agents(resources: &[idgate_api::Resource]) {
    let agents: Vec<(&idgate_api::Resource, &Agent)> = resources
        .iter()
        .flat_map(|r| r.agents.iter().map(move |a| (r, a)))
        .collect();
    if agents.is_empty() {
        println!("  no agents");
        return;
    }
    println!(
        "  {:<20}  {:<24}  {:<26}  {:<14}  {:<14}  LAST SEEN",
        "AGENT", "AUTH", "INSTANCE ID", "RESOURCE", "LIFECYCLE"
    );
    for (resource, a) in agents {
        let name = if a.parent_id.is_some() {
            format!("{} (sub)", a.name)
        } else {
            a.name.clone()
        };
        println!(
            "  {:<20}  {:<24}  {:<26}  {:<14}  {:<14}  {}",
            name,
            a.auth.as_str(),
            a.auth_instance_id.as_deref().unwrap_or("-"),
            resource.name,
            a.lifecycle_state.as_str(),
            time_or_never(a.last_seen_at)
        );
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        #[command(subcommand)]
        Build(BuildCommand),
        #[command(subcommand)]
        Template(TemplateCommand),
    }

    fn parses(args: &[&str]) -> bool {
        Cli::try_parse_from(std::iter::once("idgate").chain(args.iter().copied())).is_ok()
    }

    fn example_state() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/templates/aws-multi-agent/terraform.tfstate.json")
    }

    #[test]
    fn resources_and_terraform_documents_exclude_each_other() {
        assert!(parses(&[
            "build",
            "create",
            "dev",
            "--from-tfstate",
            "s.json"
        ]));
        assert!(parses(&["build", "create", "dev", "--resources", "r.json"]));
        assert!(parses(&["build", "create", "dev", "--transition", "stop"]));
        assert!(!parses(&[
            "build",
            "create",
            "dev",
            "--resources",
            "r.json",
            "--from-tfstate",
            "s.json"
        ]));
        assert!(parses(&[
            "template",
            "version",
            "t",
            "--from-tfplan",
            "p.json"
        ]));
        assert!(parses(&[
            "template",
            "version",
            "t",
            "--resources",
            "r.json"
        ]));
        assert!(!parses(&["template", "version", "t"]));
        assert!(!parses(&[
            "template",
            "version",
            "t",
            "--resources",
            "r.json",
            "--from-tfplan",
            "p.json"
        ]));
    }

    #[test]
    fn a_state_is_sent_slimmed() {
        let path = example_state();
        let full: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let body = build_body("start", None, Some(&path)).unwrap();
        assert_eq!(body["transition"], "start");
        assert!(body.get("resources").is_none());
        let sent = &body["terraform_state"];
        assert_eq!(sent, &idgate_terraform::slim(&full));
        assert!(sent.to_string().len() * 4 < full.to_string().len());
    }

    #[test]
    fn a_file_that_is_not_json_says_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.out");
        std::fs::write(&path, b"\x00binary plan").unwrap();
        let error = template_version_body(None, Some(&path)).unwrap_err();
        assert!(
            format!("{error:#}").contains("terraform show -json PLANFILE > FILE"),
            "{error:#}"
        );
    }
}
