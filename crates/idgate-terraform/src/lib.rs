//! Import of Terraform documents into idgate: the JSON that `terraform show -json` prints for
//! a state (after apply) or a plan, turned into the [`ResourceSpec`]s and
//! [`AgentSpec`](idgate_api::AgentSpec)s of
//! the admin API, the way Coder's provisioner does it (`provisioner/terraform/resources.go`).
//!
//! PURE: a [`serde_json::Value`] in, an [`Import`] or a list of [`Error`]s out. No IO, no
//! clock, no Terraform binary. The server runs the result through the same validation and the
//! same transaction as a build or template version given as `resources`.
//!
//! # The rules
//!
//! - Every managed `coder_agent` instance is an agent named after its resource (the resource
//!   `name`, so every instance of a `count`/`for_each` agent or of its module has the same
//!   name, and two of them collide: an error that names them). `auth = "token"` (the provider's
//!   default) is a token agent; `aws-instance-identity`, `azure-instance-identity` and
//!   `google-instance-identity` are instance-identity agents of that cloud.
//! - An agent is attached to the managed, non-`coder_` resource nearest to it among those
//!   that depend on it, by distance in the dependency graph, ties broken by the smaller address
//!   label (Coder's rule). A state's graph comes from `depends_on` (which Terraform writes with
//!   every indirect dependency too, so the graph is transitively reduced first, as
//!   `terraform graph` is); a plan's from the configuration's `references` and `depends_on`,
//!   plus the prior state's `depends_on`. Only resources with an instance in the document count.
//! - The agent's resource must have exactly one instance. Its instance ID comes from its type
//!   ([`AUTOMATIC_INSTANCE_IDS`]); a `coder_agent_instance` whose `agent_id` is the agent's
//!   `id` gives an instance-identity agent its own instance ID instead.
//! - Only resources that carry agents are returned (Coder also lists the others, such as
//!   volumes, for display; idgate has no use for them and their names need not fit its rules).
//!
//! Where the purposes differ:
//!
//! | | [`import_state`], `start` | [`import_state`], `stop`/`delete` | [`import_plan`] |
//! |---|---|---|---|
//! | agent that cannot be attached | error | dropped (as Coder does), listed in [`Import::dropped`] | error |
//! | instance-identity agent without instance ID | error | error | allowed: a template version's agents never authenticate, and a plan does not know the IDs yet |
//! | `token` of token agents | carried in [`Import::tokens`] | carried | ignored |

mod address;
mod config;
mod convert;
mod document;
mod error;
mod graph;
mod slim;

use std::collections::BTreeMap;

use idgate_api::{ResourceSpec, Transition};
use serde_json::Value;

pub use error::Error;
pub use slim::slim;

use convert::Rules;
use graph::Graph;

/// The resource types whose instance ID idgate takes automatically, with the attribute that
/// holds it (Coder's `applyAutomaticInstanceID`).
pub const AUTOMATIC_INSTANCE_IDS: &[(&str, &str)] = &[
    ("aws_instance", "id"),
    ("aws_spot_instance_request", "spot_instance_id"),
    ("google_compute_instance", "instance_id"),
    ("azurerm_linux_virtual_machine", "virtual_machine_id"),
    ("azurerm_windows_virtual_machine", "virtual_machine_id"),
];

/// What a document imports to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The resources that carry agents, sorted by address; their agents sorted by address.
    pub resources: Vec<ResourceSpec>,
    /// The `token` attribute of each token agent that has one, by agent name. The server
    /// stores the hash of this token for the agent instead of generating one, because that is
    /// the token the machine was given (in its user data, say).
    pub tokens: BTreeMap<String, AgentToken>,
    /// Agents left out because no resource instance depends on them (a stopped workspace whose
    /// instance has `count = 0`).
    pub dropped: Vec<DroppedAgent>,
}

/// An agent token read from a state. `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentToken(String);

impl AgentToken {
    /// The token in clear, to be hashed.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AgentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentToken(<redacted>)")
    }
}

/// An agent that a `stop` or `delete` import left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedAgent {
    /// Its name.
    pub name: String,
    /// Its address in the state.
    pub address: String,
}

/// Imports a state: the JSON of `terraform show -json` after `terraform apply` (or of
/// `terraform show -json terraform.tfstate`), for a build with `transition`.
pub fn import_state(state: &Value, transition: Transition) -> Result<Import, Vec<Error>> {
    let instances = document::state_instances(state).map_err(|e| vec![e])?;
    let mut graph = Graph::default();
    add_depends_on(&instances, &mut graph);
    let rules = Rules {
        drop_unattached: transition != Transition::Start,
        require_instance_ids: true,
        carry_tokens: true,
        in_plan: false,
    };
    convert::convert(&instances, &graph, rules)
}

/// Imports a plan: the JSON of `terraform show -json PLANFILE`, for a template version.
/// Instance IDs that the plan does not know yet are left out.
pub fn import_plan(plan: &Value) -> Result<Import, Vec<Error>> {
    let plan = document::plan(plan).map_err(|e| vec![e])?;
    let mut graph = Graph::default();
    add_depends_on(&plan.planned, &mut graph);
    add_depends_on(&plan.prior, &mut graph);
    if let Some(configuration) = plan.configuration {
        config::add_edges(configuration, &mut graph).map_err(|e| vec![e])?;
    }
    let rules = Rules {
        drop_unattached: false,
        require_instance_ids: false,
        carry_tokens: false,
        in_plan: true,
    };
    convert::convert(&plan.planned, &graph, rules)
}

fn add_depends_on(instances: &[document::Instance<'_>], graph: &mut Graph) {
    for instance in instances {
        for dependency in &instance.depends_on {
            graph.add(&instance.label, dependency);
        }
    }
}
