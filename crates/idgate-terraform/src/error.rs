//! The one error type of the import.
//!
//! Every variant carries `path`, where in the document the problem is (a JSON path such as
//! `values.root_module.resources[2]`, empty for the whole document), and its `Display` is the
//! reason: a sentence that names the agent or resource and says what to change. The server
//! turns each error into one `validations` entry: `field` from the path, `detail` from the
//! text.

use idgate_api::{AuthKind, go_quote};

/// Why a Terraform document cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The JSON is not shaped like the output of `terraform show -json`.
    #[error("{detail}")]
    Malformed {
        /// Where.
        path: String,
        /// What is wrong, e.g. "must be a string".
        detail: String,
    },

    /// A plan was given where the state after apply is expected.
    #[error(
        "this is a plan (it has planned_values and no values): a build imports the state after \
         apply, the output of `terraform show -json` without a plan file"
    )]
    PlanInsteadOfState {
        /// Where (the whole document).
        path: String,
    },

    /// A state was given where a plan is expected.
    #[error(
        "this is a state (it has values and no planned_values): a template version imports a \
         plan, the output of `terraform show -json PLANFILE`"
    )]
    StateInsteadOfPlan {
        /// Where (the whole document).
        path: String,
    },

    /// A `coder_agent`'s resource name is not a valid agent name.
    #[error(
        "agent {} ({address}): agent names are letters, digits and single hyphens, at most 64 \
         characters{}",
        go_quote(name),
        underscore_hint(name)
    )]
    InvalidAgentName {
        /// Where.
        path: String,
        /// The agent's address.
        address: String,
        /// The resource name.
        name: String,
    },

    /// A `coder_agent`'s `auth` is not one that idgate knows.
    #[error(
        "agent {} ({address}): auth {} is not one of aws-instance-identity, \
         azure-instance-identity, google-instance-identity, token",
        go_quote(name),
        go_quote(auth)
    )]
    UnknownAuth {
        /// Where.
        path: String,
        /// The agent's address.
        address: String,
        /// The agent's name.
        name: String,
        /// The `auth` value, as JSON text when it is not a string.
        auth: String,
    },

    /// Several agents share a name, ignoring case.
    #[error(
        "agent name {} is used by {}: agent names are unique in a build, ignoring case, and every \
         instance of a coder_agent (count, for_each, or an instance of its module) takes the \
         resource's name",
        go_quote(name),
        addresses.join(" and ")
    )]
    DuplicateAgentName {
        /// Where (the second agent with the name).
        path: String,
        /// The name.
        name: String,
        /// The addresses of every agent with that name.
        addresses: Vec<String>,
    },

    /// No resource instance depends on the agent, so there is nothing to attach it to.
    #[error(
        "agent {} ({address}) is not attached to any resource: no managed resource {} depends on \
         it. Make the compute resource reference the agent (its id, token or init_script, e.g. in \
         user_data) or list it in depends_on{}",
        go_quote(name),
        if *in_plan { "in the plan" } else { "with an instance in the state" },
        if *in_plan {
            "; a reference through a local value is not visible in a plan's configuration"
        } else {
            ""
        }
    )]
    AgentNotAttached {
        /// Where.
        path: String,
        /// The agent's address.
        address: String,
        /// The agent's name.
        name: String,
        /// Whether the document is a plan (where references through locals are invisible).
        in_plan: bool,
    },

    /// The agent's nearest resource has several instances (`count`, `for_each`).
    #[error(
        "agent {} ({address}) attaches to {resource}, which has {} instances ({}): an agent runs \
         on one instance; declare one coder_agent per instance",
        go_quote(name),
        instances.len(),
        instances.join(", ")
    )]
    AgentOnSeveralInstances {
        /// Where.
        path: String,
        /// The agent's address.
        address: String,
        /// The agent's name.
        name: String,
        /// The resource's label.
        resource: String,
        /// The addresses of its instances.
        instances: Vec<String>,
    },

    /// An instance-identity agent is attached to a type without an automatic instance ID and
    /// no `coder_agent_instance` gives it one.
    #[error(
        "agent {} ({address}) uses {}, but it is attached to {resource}, and {kind} is not a \
         type with an automatic instance ID ({}): add a coder_agent_instance with the agent's id \
         and the instance ID",
        go_quote(name),
        auth.as_str(),
        automatic_types()
    )]
    NoAutomaticInstanceId {
        /// Where.
        path: String,
        /// The agent's address.
        address: String,
        /// The agent's name.
        name: String,
        /// The agent's auth.
        auth: AuthKind,
        /// The address of the resource it is attached to.
        resource: String,
        /// That resource's type.
        kind: String,
    },

    /// An instance-identity agent is attached to a compute resource whose instance ID is not
    /// in the document.
    #[error(
        "agent {} ({address}) uses {}, but {resource} has no {} value in the state, so its \
         instance ID is not known (was the resource created?)",
        go_quote(name),
        auth.as_str(),
        go_quote(attribute)
    )]
    InstanceIdMissing {
        /// Where.
        path: String,
        /// The agent's address.
        address: String,
        /// The agent's name.
        name: String,
        /// The agent's auth.
        auth: AuthKind,
        /// The address of the resource it is attached to.
        resource: String,
        /// The attribute that holds the instance ID for that type.
        attribute: String,
    },

    /// Several `coder_agent_instance` resources give one agent different instance IDs.
    #[error(
        "agent {} ({address}) is given different instance IDs by {}: keep one coder_agent_instance \
         per agent",
        go_quote(name),
        sources.join(" and ")
    )]
    ConflictingAgentInstances {
        /// Where.
        path: String,
        /// The agent's address.
        address: String,
        /// The agent's name.
        name: String,
        /// The addresses of the `coder_agent_instance` resources.
        sources: Vec<String>,
    },

    /// A resource that carries agents has a name that idgate does not accept.
    #[error(
        "resource {address} carries agents, but its name {} is not a valid idgate resource name \
         (letters, digits and single hyphens, at most 64 characters){}",
        go_quote(name),
        underscore_hint(name)
    )]
    InvalidResourceName {
        /// Where.
        path: String,
        /// The resource's address.
        address: String,
        /// Its name.
        name: String,
    },
}

impl Error {
    /// Where in the document the problem is: a JSON path such as
    /// `values.root_module.resources[2]`, or empty for the whole document.
    pub fn path(&self) -> &str {
        match self {
            Error::Malformed { path, .. }
            | Error::PlanInsteadOfState { path }
            | Error::StateInsteadOfPlan { path }
            | Error::InvalidAgentName { path, .. }
            | Error::UnknownAuth { path, .. }
            | Error::DuplicateAgentName { path, .. }
            | Error::AgentNotAttached { path, .. }
            | Error::AgentOnSeveralInstances { path, .. }
            | Error::NoAutomaticInstanceId { path, .. }
            | Error::InstanceIdMissing { path, .. }
            | Error::ConflictingAgentInstances { path, .. }
            | Error::InvalidResourceName { path, .. } => path,
        }
    }

    pub(crate) fn malformed(path: &str, detail: impl Into<String>) -> Error {
        Error::Malformed {
            path: path.to_owned(),
            detail: detail.into(),
        }
    }
}

fn underscore_hint(name: &str) -> &'static str {
    if name.contains('_') {
        "; underscores are not allowed: rename the Terraform resource with hyphens"
    } else {
        ""
    }
}

fn automatic_types() -> String {
    crate::AUTOMATIC_INSTANCE_IDS
        .iter()
        .map(|(kind, _)| *kind)
        .collect::<Vec<_>>()
        .join(", ")
}
