//! Field-by-field validation of JSON request bodies.
//!
//! Every problem becomes one [`Validation`] naming the field by its JSON path, so a client sees
//! all of its mistakes at once and each one says what to fix.

use std::collections::HashMap;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{AgentSpec, AuthKind, MAX_NAME_LEN, ResourceSpec, Validation, valid_name};

/// Longest instance ID accepted (real ones are under 64 characters).
pub const MAX_INSTANCE_ID_LEN: usize = 256;

/// Reads fields out of one JSON object and collects what is wrong with them.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
    problems: Vec<Validation>,
}

impl<'a> Fields<'a> {
    /// Starts reading a request body, which must be a JSON object.
    pub fn new(value: &'a Value) -> Result<Self, Vec<Validation>> {
        match value.as_object() {
            Some(object) => Ok(Fields {
                object,
                prefix: String::new(),
                problems: Vec::new(),
            }),
            None => Err(vec![Validation {
                field: "(body)".into(),
                detail: "the request body must be a JSON object".into(),
            }]),
        }
    }

    fn nested(object: &'a Map<String, Value>, prefix: String) -> Self {
        Fields {
            object,
            prefix,
            problems: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// Records a problem with a field of this object.
    pub fn push(&mut self, name: &str, detail: impl Into<String>) {
        let field = self.path(name);
        self.problems.push(Validation {
            field,
            detail: detail.into(),
        });
    }

    /// Whether no problem has been recorded yet.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Ends reading: the problems, if there are any.
    pub fn finish(self) -> Result<(), Vec<Validation>> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems)
        }
    }

    /// A field that is present and not `null`.
    fn present(&self, name: &str) -> Option<&'a Value> {
        match self.object.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// A string that may be absent or `null`; any string, even empty, is returned as is.
    pub fn optional_string(&mut self, name: &str) -> Option<String> {
        match self.present(name)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.push(name, "must be a string");
                None
            }
        }
    }

    /// A string that may be absent; an empty string counts as absent.
    pub fn optional_nonempty_string(&mut self, name: &str) -> Option<String> {
        self.optional_string(name).filter(|s| !s.trim().is_empty())
    }

    /// A string that must be present and not empty (nor only whitespace).
    pub fn required_string(&mut self, name: &str) -> Option<String> {
        match self.present(name) {
            None => {
                self.push(name, "required");
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.push(name, "must not be empty");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.push(name, "must be a string");
                None
            }
        }
    }

    /// A required name: letters, digits and single hyphens, at most 64 characters.
    pub fn required_name(&mut self, name: &str) -> Option<String> {
        let value = self.required_string(name)?;
        if valid_name(&value) {
            Some(value)
        } else {
            self.push(
                name,
                format!(
                    "must be 1 to {MAX_NAME_LEN} letters, digits or single hyphens, \
                     starting and ending with a letter or digit"
                ),
            );
            None
        }
    }

    /// An optional UUID string.
    pub fn optional_uuid(&mut self, name: &str) -> Option<Uuid> {
        let value = self.optional_nonempty_string(name)?;
        match Uuid::parse_str(&value) {
            Ok(id) => Some(id),
            Err(_) => {
                self.push(name, "must be a UUID");
                None
            }
        }
    }

    /// An optional instance ID: a non-empty string of printable characters.
    fn optional_instance_id(&mut self, name: &str) -> Option<String> {
        let value = self.optional_string(name)?;
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.push(name, "must not be empty when given");
            None
        } else if trimmed.len() > MAX_INSTANCE_ID_LEN || trimmed.chars().any(char::is_control) {
            self.push(
                name,
                format!("must be at most {MAX_INSTANCE_ID_LEN} printable characters"),
            );
            None
        } else {
            Some(trimmed.to_owned())
        }
    }

    /// The `resources` array of a build or template version, with every rule of the contract:
    /// valid names, known auth kinds, names unique (ignoring case) among the agents of the
    /// build, parents that are root agents of the same resource, and an instance ID for every
    /// instance-identity agent.
    pub fn resources(&mut self, name: &str) -> Option<Vec<ResourceSpec>> {
        let items = match self.present(name) {
            None => return Some(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.push(name, "must be an array of resources");
                return None;
            }
        };
        let mut resources = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = self.path(&format!("{name}[{i}]"));
            if let Some(resource) = self.resource(item, path) {
                resources.push((i, resource));
            }
        }
        self.check_agent_names_unique(name, &resources);
        if resources.len() == items.len() {
            Some(resources.into_iter().map(|(_, r)| r).collect())
        } else {
            None
        }
    }

    /// Starts reading an element of an array, which must be an object.
    fn element(&mut self, item: &'a Value, path: String) -> Option<Fields<'a>> {
        match item.as_object() {
            Some(object) => Some(Fields::nested(object, path)),
            None => {
                self.problems.push(Validation {
                    field: path,
                    detail: "must be an object".into(),
                });
                None
            }
        }
    }

    /// Takes over the problems of a nested object; whether it had none.
    fn absorb(&mut self, mut nested: Fields<'a>) -> bool {
        let clean = nested.is_clean();
        self.problems.append(&mut nested.problems);
        clean
    }

    fn resource(&mut self, item: &'a Value, path: String) -> Option<ResourceSpec> {
        let mut f = self.element(item, path)?;
        let name = f.required_name("name");
        let kind = f.required_string("type");
        let instance_id = f.optional_instance_id("instance_id");
        let agents = f.agents(instance_id.is_some());
        if !self.absorb(f) {
            return None;
        }
        Some(ResourceSpec {
            name: name?,
            kind: kind?,
            instance_id,
            agents: agents?,
        })
    }

    fn agents(&mut self, resource_has_instance_id: bool) -> Option<Vec<AgentSpec>> {
        let items = match self.present("agents") {
            None => return Some(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.push("agents", "must be an array of agents");
                return None;
            }
        };
        let mut agents = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = self.path(&format!("agents[{i}]"));
            if let Some(agent) = self.agent(item, path, resource_has_instance_id) {
                agents.push((i, agent));
            }
        }
        self.check_parents(&agents);
        if agents.len() == items.len() {
            Some(agents.into_iter().map(|(_, a)| a).collect())
        } else {
            None
        }
    }

    fn agent(
        &mut self,
        item: &'a Value,
        path: String,
        resource_has_instance_id: bool,
    ) -> Option<AgentSpec> {
        let mut f = self.element(item, path)?;
        let name = f.required_name("name");
        let auth = f.auth("auth");
        let instance_id = f.optional_instance_id("instance_id");
        let parent = f.optional_nonempty_string("parent");
        if let Some(kind) = auth
            && kind.is_instance_identity()
            && instance_id.is_none()
            && !resource_has_instance_id
        {
            f.push(
                "instance_id",
                format!(
                    "a {} agent needs an instance ID: set instance_id on the agent or on \
                         its resource",
                    kind.as_str()
                ),
            );
        }
        if !self.absorb(f) {
            return None;
        }
        Some(AgentSpec {
            name: name?,
            auth: auth?,
            instance_id,
            parent,
        })
    }

    fn auth(&mut self, name: &str) -> Option<AuthKind> {
        let value = self.required_string(name)?;
        let kind = AuthKind::parse(&value);
        if kind.is_none() {
            self.push(
                name,
                "must be one of aws-instance-identity, azure-instance-identity, \
                 google-instance-identity, token",
            );
        }
        kind
    }

    /// A `parent` must name a root agent declared on the same resource. Agents come with their
    /// index in the request, so that the problem names the right element.
    fn check_parents(&mut self, agents: &[(usize, AgentSpec)]) {
        for (i, agent) in agents {
            let Some(parent) = &agent.parent else {
                continue;
            };
            let root_exists = agents
                .iter()
                .any(|(_, other)| other.parent.is_none() && other.name == *parent);
            if !root_exists {
                self.push(
                    &format!("agents[{i}].parent"),
                    format!(
                        "{} is not a root agent of this resource",
                        crate::go_quote(parent)
                    ),
                );
            }
        }
    }

    /// Agent names are unique, ignoring case, among all agents of one build.
    fn check_agent_names_unique(&mut self, name: &str, resources: &[(usize, ResourceSpec)]) {
        let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
        for (ri, resource) in resources {
            for (ai, agent) in resource.agents.iter().enumerate() {
                let key = agent.name.to_ascii_lowercase();
                if let Some((r0, a0)) = seen.get(&key) {
                    self.push(
                        &format!("{name}[{ri}].agents[{ai}].name"),
                        format!(
                            "agent name {} is already used by {name}[{r0}].agents[{a0}] \
                             (names are unique in a build, ignoring case)",
                            crate::go_quote(&agent.name)
                        ),
                    );
                } else {
                    seen.insert(key, (*ri, ai));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::CreateBuildRequest;

    fn problems(body: serde_json::Value) -> Vec<(String, String)> {
        match CreateBuildRequest::from_json(&body) {
            Ok(_) => Vec::new(),
            Err(v) => v.into_iter().map(|v| (v.field, v.detail)).collect(),
        }
    }

    #[test]
    fn a_valid_build_has_no_problems() {
        let body = json!({"transition": "start", "resources": [{
            "name": "dev", "type": "aws_instance", "instance_id": "i-1",
            "agents": [{"name": "main", "auth": "aws-instance-identity"},
                       {"name": "sub", "auth": "token", "parent": "main"}]}]});
        assert_eq!(problems(body), Vec::new());
    }

    #[test]
    fn every_bad_field_is_named() {
        let body = json!({"transition": "explode", "resources": [{
            "name": "-bad", "type": 3,
            "agents": [{"name": "Main", "auth": "aws-instance-identity"},
                       {"name": "main", "auth": "carrier-pigeon"},
                       {"name": "x", "auth": "token", "parent": "nobody"}]}]});
        let fields: Vec<String> = problems(body).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            vec![
                "resources[0].name",
                "resources[0].type",
                "resources[0].agents[0].instance_id",
                "resources[0].agents[1].auth",
                "resources[0].agents[2].parent",
                "transition",
            ]
        );
    }

    #[test]
    fn duplicate_names_across_resources_ignore_case() {
        let body = json!({"transition": "start", "resources": [
            {"name": "a", "type": "t", "agents": [{"name": "Main", "auth": "token"}]},
            {"name": "b", "type": "t", "agents": [{"name": "main", "auth": "token"}]}]});
        let p = problems(body);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "resources[1].agents[0].name");
    }

    #[test]
    fn a_sub_agent_cannot_be_the_parent() {
        let body = json!({"transition": "start", "resources": [{"name": "a", "type": "t",
            "agents": [{"name": "root", "auth": "token"},
                       {"name": "sub", "auth": "token", "parent": "root"},
                       {"name": "subsub", "auth": "token", "parent": "sub"}]}]});
        let p = problems(body);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "resources[0].agents[2].parent");
    }

    #[test]
    fn non_object_body_is_one_problem() {
        assert_eq!(problems(json!([1, 2])).len(), 1);
    }
}
