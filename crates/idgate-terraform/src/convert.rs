//! From resource instances and their dependency graph to idgate resources and agents: Coder's
//! `ConvertState` (provisioner/terraform/resources.go), restricted to what idgate stores.
//!
//! 1. Every managed `coder_agent` instance is an agent named after its resource; `auth` picks
//!    token or one cloud's instance identity.
//! 2. Each agent attaches to the nearest managed, non-`coder_` resource that depends on it
//!    (graph distance; ties go to the smaller label), counting only resources with an instance
//!    in the document. Coder skips an agent with no such resource; here that is an error for a
//!    `start` build and a template version, and the agent is dropped for `stop` and `delete`.
//! 3. The instance ID comes from the resource's type ([`crate::AUTOMATIC_INSTANCE_IDS`]); a
//!    `coder_agent_instance` whose `agent_id` is the agent's `id` overrides it for
//!    instance-identity agents (never for token agents, as in Coder).

use std::collections::BTreeMap;

use idgate_api::{AgentSpec, AuthKind, ResourceSpec, valid_name};

use crate::document::{Instance, Mode};
use crate::error::Error;
use crate::graph::Graph;
use crate::{AUTOMATIC_INSTANCE_IDS, AgentToken, DroppedAgent, Import};

/// What the import is for, as far as the rules differ.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Drop agents that cannot be attached (stop and delete builds) instead of refusing them.
    pub drop_unattached: bool,
    /// Refuse instance-identity agents without an instance ID (builds: their agents
    /// authenticate with it).
    pub require_instance_ids: bool,
    /// Carry each token agent's `token` from the document to the import.
    pub carry_tokens: bool,
    /// The document is a plan (only changes the wording of errors).
    pub in_plan: bool,
}

/// An agent found in the document.
struct FoundAgent<'d, 'a> {
    instance: &'d Instance<'a>,
    auth: AuthKind,
}

/// An agent attached to a resource instance.
struct Attached<'d, 'a> {
    agent: FoundAgent<'d, 'a>,
    resource: &'d Instance<'a>,
}

/// Runs the rules over `instances` (the document's resource instances) and `graph` (the
/// dependencies between their labels, not yet reduced).
pub fn convert(
    instances: &[Instance<'_>],
    graph: &Graph,
    rules: Rules,
) -> Result<Import, Vec<Error>> {
    let mut errors = Vec::new();
    let agents = find_agents(instances, &mut errors);
    check_unique_names(&agents, &mut errors);
    let mut dropped = Vec::new();
    let attached = attach(instances, graph, agents, rules, &mut dropped, &mut errors);
    let overrides = agent_instance_overrides(instances, &attached, &mut errors);
    let resources = resources(&attached, &overrides, rules, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let tokens = if rules.carry_tokens {
        tokens(&attached)
    } else {
        BTreeMap::new()
    };
    Ok(Import {
        resources,
        tokens,
        dropped,
    })
}

/// Step 1: the managed `coder_agent` instances with a valid name and a known `auth`.
fn find_agents<'d, 'a>(
    instances: &'d [Instance<'a>],
    errors: &mut Vec<Error>,
) -> Vec<FoundAgent<'d, 'a>> {
    let mut agents = Vec::new();
    for instance in instances.iter().filter(|i| i.is_managed("coder_agent")) {
        let name_ok = valid_name(instance.name);
        if !name_ok {
            errors.push(Error::InvalidAgentName {
                path: instance.path.clone(),
                address: instance.address.to_owned(),
                name: instance.name.to_owned(),
            });
        }
        if let Some(auth) = auth(instance, errors)
            && name_ok
        {
            agents.push(FoundAgent { instance, auth });
        }
    }
    agents
}

/// The agent's `auth`; absent or `null` is the provider's default, `token`.
fn auth(instance: &Instance<'_>, errors: &mut Vec<Error>) -> Option<AuthKind> {
    let value = instance.values.and_then(|v| v.get("auth"));
    let text = match value {
        None | Some(serde_json::Value::Null) => return Some(AuthKind::Token),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let parsed = AuthKind::parse(&text);
    if parsed.is_none() {
        errors.push(Error::UnknownAuth {
            path: instance.path.clone(),
            address: instance.address.to_owned(),
            name: instance.name.to_owned(),
            auth: text,
        });
    }
    parsed
}

/// Agent names are unique in a build, ignoring case (Coder checks the same).
fn check_unique_names(agents: &[FoundAgent<'_, '_>], errors: &mut Vec<Error>) {
    let mut by_name: BTreeMap<String, Vec<&Instance<'_>>> = BTreeMap::new();
    for agent in agents {
        by_name
            .entry(agent.instance.name.to_ascii_lowercase())
            .or_default()
            .push(agent.instance);
    }
    for same in by_name.values().filter(|same| same.len() > 1) {
        errors.push(Error::DuplicateAgentName {
            path: same[1].path.clone(),
            name: same[1].name.to_owned(),
            addresses: same.iter().map(|i| i.address.to_owned()).collect(),
        });
    }
}

/// Step 2: each agent's nearest dependent resource instance.
fn attach<'d, 'a>(
    instances: &'d [Instance<'a>],
    graph: &Graph,
    agents: Vec<FoundAgent<'d, 'a>>,
    rules: Rules,
    dropped: &mut Vec<DroppedAgent>,
    errors: &mut Vec<Error>,
) -> Vec<Attached<'d, 'a>> {
    let mut candidates: BTreeMap<&str, Vec<&'d Instance<'a>>> = BTreeMap::new();
    for instance in instances {
        if instance.mode == Mode::Managed && !instance.kind.starts_with("coder_") {
            candidates
                .entry(instance.label.as_str())
                .or_default()
                .push(instance);
        }
    }
    let reduced = graph.reduced();
    let mut attached = Vec::new();
    for agent in agents {
        let nearest = reduced
            .dependents(&agent.instance.label)
            .into_iter()
            .filter(|(label, _)| candidates.contains_key(label.as_str()))
            .min_by(|(a, da), (b, db)| da.cmp(db).then_with(|| a.cmp(b)));
        let Some((label, _)) = nearest else {
            if rules.drop_unattached {
                dropped.push(DroppedAgent {
                    name: agent.instance.name.to_owned(),
                    address: agent.instance.address.to_owned(),
                });
            } else {
                errors.push(Error::AgentNotAttached {
                    path: agent.instance.path.clone(),
                    address: agent.instance.address.to_owned(),
                    name: agent.instance.name.to_owned(),
                    in_plan: rules.in_plan,
                });
            }
            continue;
        };
        match candidates[label.as_str()].as_slice() {
            [resource] => attached.push(Attached { agent, resource }),
            several => errors.push(Error::AgentOnSeveralInstances {
                path: agent.instance.path.clone(),
                address: agent.instance.address.to_owned(),
                name: agent.instance.name.to_owned(),
                resource: label,
                instances: several.iter().map(|i| i.address.to_owned()).collect(),
            }),
        }
    }
    attached
}

/// Step 3a: the instance IDs that `coder_agent_instance` resources give, by agent address.
fn agent_instance_overrides(
    instances: &[Instance<'_>],
    attached: &[Attached<'_, '_>],
    errors: &mut Vec<Error>,
) -> BTreeMap<String, String> {
    let mut given: BTreeMap<&str, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for instance in instances
        .iter()
        .filter(|i| i.is_managed("coder_agent_instance"))
    {
        if let (Some(agent_id), Some(instance_id)) =
            (instance.string("agent_id"), instance.string("instance_id"))
        {
            given
                .entry(agent_id)
                .or_default()
                .entry(instance_id)
                .or_default()
                .push(instance.address);
        }
    }
    let mut overrides = BTreeMap::new();
    for a in attached
        .iter()
        .filter(|a| a.agent.auth.is_instance_identity())
    {
        let Some(ids) = a.agent.instance.string("id").and_then(|id| given.get(id)) else {
            continue;
        };
        if ids.len() > 1 {
            errors.push(Error::ConflictingAgentInstances {
                path: a.agent.instance.path.clone(),
                address: a.agent.instance.address.to_owned(),
                name: a.agent.instance.name.to_owned(),
                sources: ids.values().flatten().map(|s| (*s).to_owned()).collect(),
            });
        } else if let Some(id) = ids.keys().next() {
            overrides.insert(a.agent.instance.address.to_owned(), (*id).to_owned());
        }
    }
    overrides
}

/// Step 3b: the resources that carry agents, with their instance IDs, sorted by address;
/// agents sorted by address within each.
fn resources(
    attached: &[Attached<'_, '_>],
    overrides: &BTreeMap<String, String>,
    rules: Rules,
    errors: &mut Vec<Error>,
) -> Vec<ResourceSpec> {
    let mut by_resource: BTreeMap<&str, Vec<&Attached<'_, '_>>> = BTreeMap::new();
    for a in attached {
        by_resource.entry(a.resource.address).or_default().push(a);
    }
    let mut out = Vec::new();
    for mut agents in by_resource.into_values() {
        agents.sort_by_key(|a| a.agent.instance.address);
        let resource = agents[0].resource;
        if !valid_name(resource.name) {
            errors.push(Error::InvalidResourceName {
                path: resource.path.clone(),
                address: resource.address.to_owned(),
                name: resource.name.to_owned(),
            });
        }
        let instance_id = automatic_instance_id(resource);
        let mut specs = Vec::new();
        for a in agents {
            let own = overrides.get(a.agent.instance.address).cloned();
            if rules.require_instance_ids
                && a.agent.auth.is_instance_identity()
                && own.is_none()
                && instance_id.is_none()
            {
                errors.push(missing_instance_id(a));
            }
            specs.push(AgentSpec {
                name: a.agent.instance.name.to_owned(),
                auth: a.agent.auth,
                instance_id: own,
                parent: None,
            });
        }
        out.push(ResourceSpec {
            name: resource.name.to_owned(),
            kind: resource.kind.to_owned(),
            instance_id,
            agents: specs,
        });
    }
    out
}

/// The instance ID that the resource's type provides, if the type has one and it is known.
fn automatic_instance_id(resource: &Instance<'_>) -> Option<String> {
    let (_, attribute) = AUTOMATIC_INSTANCE_IDS
        .iter()
        .find(|(kind, _)| *kind == resource.kind)?;
    resource.string(attribute).map(str::to_owned)
}

fn missing_instance_id(a: &Attached<'_, '_>) -> Error {
    let agent = a.agent.instance;
    let attribute = AUTOMATIC_INSTANCE_IDS
        .iter()
        .find(|(kind, _)| *kind == a.resource.kind)
        .map(|(_, attribute)| *attribute);
    match attribute {
        Some(attribute) => Error::InstanceIdMissing {
            path: agent.path.clone(),
            address: agent.address.to_owned(),
            name: agent.name.to_owned(),
            auth: a.agent.auth,
            resource: a.resource.address.to_owned(),
            attribute: attribute.to_owned(),
        },
        None => Error::NoAutomaticInstanceId {
            path: agent.path.clone(),
            address: agent.address.to_owned(),
            name: agent.name.to_owned(),
            auth: a.agent.auth,
            resource: a.resource.address.to_owned(),
            kind: a.resource.kind.to_owned(),
        },
    }
}

/// The `token` of every attached token agent that has one, by agent name.
fn tokens(attached: &[Attached<'_, '_>]) -> BTreeMap<String, AgentToken> {
    attached
        .iter()
        .filter(|a| a.agent.auth == AuthKind::Token)
        .filter_map(|a| {
            let token = a.agent.instance.string("token")?;
            Some((
                a.agent.instance.name.to_owned(),
                AgentToken(token.to_owned()),
            ))
        })
        .collect()
}
