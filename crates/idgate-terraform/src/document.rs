//! Reading the resource instances out of `terraform show -json`, checking the shape on the way.
//!
//! Both documents share the "values representation" of a module: `resources[]` (each with
//! `address`, `mode`, `type`, `name`, `index`?, `values`, `depends_on`?) and `child_modules[]`
//! with the same shape, recursively. A state has it under `values.root_module`; a plan under
//! `planned_values.root_module` (and the previous state under `prior_state.values.root_module`).
//! Only the fields the import reads are checked; anything else may be anything.

use serde_json::{Map, Value};

use crate::address::label;
use crate::error::Error;

/// Whether a resource is managed or a data source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `resource "..." "..."`.
    Managed,
    /// `data "..." "..."`.
    Data,
}

/// One resource instance of the document.
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    /// Its address, instance keys included (`aws_instance.dev[0]`).
    pub address: &'a str,
    /// Its address without instance keys (`aws_instance.dev`).
    pub label: String,
    /// Managed or data.
    pub mode: Mode,
    /// Its type (`aws_instance`).
    pub kind: &'a str,
    /// Its name (`dev`).
    pub name: &'a str,
    /// Its attribute values, when the document has them.
    pub values: Option<&'a Map<String, Value>>,
    /// The labels it depends on (in a state: every dependency, direct or not).
    pub depends_on: Vec<String>,
    /// Where it is in the document, for error messages.
    pub path: String,
}

impl<'a> Instance<'a> {
    /// A non-empty string attribute; `None` when absent, `null`, unknown, empty or not a
    /// string.
    pub fn string(&self, key: &str) -> Option<&'a str> {
        let value = self.values?.get(key)?.as_str()?.trim();
        (!value.is_empty()).then_some(value)
    }

    /// Whether this is a managed resource of the given type.
    pub fn is_managed(&self, kind: &str) -> bool {
        self.mode == Mode::Managed && self.kind == kind
    }
}

/// The instances of a state document. An empty state (`{"format_version": "1.0"}`, what
/// Terraform prints after a destroy) has none.
pub fn state_instances(doc: &Value) -> Result<Vec<Instance<'_>>, Error> {
    let top = top_level(doc)?;
    let Some(values) = present(top, "values") else {
        if present(top, "planned_values").is_some() {
            return Err(Error::PlanInsteadOfState {
                path: String::new(),
            });
        }
        return Ok(Vec::new());
    };
    values_instances(values, "values")
}

/// The parts of a plan document that the import reads.
pub struct Plan<'a> {
    /// The planned instances.
    pub planned: Vec<Instance<'a>>,
    /// The instances of the state the plan started from (for their `depends_on`).
    pub prior: Vec<Instance<'a>>,
    /// `configuration.root_module`, when present.
    pub configuration: Option<&'a Value>,
}

/// The planned instances, prior state and configuration of a plan document.
pub fn plan(doc: &Value) -> Result<Plan<'_>, Error> {
    let top = top_level(doc)?;
    let Some(planned) = present(top, "planned_values") else {
        if present(top, "values").is_some() {
            return Err(Error::StateInsteadOfPlan {
                path: String::new(),
            });
        }
        return Err(Error::malformed(
            "planned_values",
            "required: a plan's `terraform show -json` always has it",
        ));
    };
    let planned = values_instances(planned, "planned_values")?;
    let prior = match present(top, "prior_state") {
        None => Vec::new(),
        Some(prior) => {
            let prior_top = object(prior, "prior_state")?;
            match present(prior_top, "values") {
                None => Vec::new(),
                Some(values) => values_instances(values, "prior_state.values")?,
            }
        }
    };
    let configuration = match present(top, "configuration") {
        None => None,
        Some(configuration) => present(object(configuration, "configuration")?, "root_module"),
    };
    Ok(Plan {
        planned,
        prior,
        configuration,
    })
}

/// The document's top level: an object with a 1.x `format_version`.
fn top_level(doc: &Value) -> Result<&Map<String, Value>, Error> {
    let Some(top) = doc.as_object() else {
        return Err(Error::malformed(
            "",
            "must be a JSON object: the output of `terraform show -json`",
        ));
    };
    match present(top, "format_version") {
        None => Err(Error::malformed(
            "format_version",
            "required: the output of `terraform show -json` always has it",
        )),
        Some(Value::String(version)) if version == "1" || version.starts_with("1.") => Ok(top),
        Some(Value::String(version)) => Err(Error::malformed(
            "format_version",
            format!(
                "{} is not supported: idgate reads format 1.x",
                idgate_api::go_quote(version)
            ),
        )),
        Some(_) => Err(Error::malformed("format_version", "must be a string")),
    }
}

/// The instances under `<values>.root_module`; no root module means no resources.
fn values_instances<'a>(values: &'a Value, path: &str) -> Result<Vec<Instance<'a>>, Error> {
    let values = object(values, path)?;
    let mut out = Vec::new();
    if let Some(root) = present(values, "root_module") {
        read_module(root, format!("{path}.root_module"), &mut out)?;
    }
    Ok(out)
}

fn read_module<'a>(
    module: &'a Value,
    path: String,
    out: &mut Vec<Instance<'a>>,
) -> Result<(), Error> {
    let module = object(module, &path)?;
    for (i, resource) in array(module, "resources", &path)?.iter().enumerate() {
        out.push(read_resource(resource, format!("{path}.resources[{i}]"))?);
    }
    for (i, child) in array(module, "child_modules", &path)?.iter().enumerate() {
        read_module(child, format!("{path}.child_modules[{i}]"), out)?;
    }
    Ok(())
}

fn read_resource(resource: &Value, path: String) -> Result<Instance<'_>, Error> {
    let fields = object(resource, &path)?;
    let address = string(fields, "address", &path)?;
    let mode = match string(fields, "mode", &path)? {
        "managed" => Mode::Managed,
        "data" => Mode::Data,
        _ => {
            return Err(Error::malformed(
                &format!("{path}.mode"),
                "must be \"managed\" or \"data\"",
            ));
        }
    };
    let kind = string(fields, "type", &path)?;
    let name = string(fields, "name", &path)?;
    let values = match present(fields, "values") {
        None => None,
        Some(values) => Some(object(values, &format!("{path}.values"))?),
    };
    let mut depends_on = Vec::new();
    for (i, dependency) in array(fields, "depends_on", &path)?.iter().enumerate() {
        match dependency.as_str() {
            Some(dependency) => depends_on.push(label(dependency)),
            None => {
                return Err(Error::malformed(
                    &format!("{path}.depends_on[{i}]"),
                    "must be a string",
                ));
            }
        }
    }
    Ok(Instance {
        address,
        label: label(address),
        mode,
        kind,
        name,
        values,
        depends_on,
        path,
    })
}

/// A field that is present and not `null`.
pub fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

/// `value` as an object, or a `Malformed` error at `path`.
pub fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Error> {
    value
        .as_object()
        .ok_or_else(|| Error::malformed(path, "must be an object"))
}

/// An optional array field; absent or `null` is empty.
pub fn array<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a [Value], Error> {
    match present(object, key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(Error::malformed(&join(path, key), "must be an array")),
    }
}

/// A required, non-empty string field.
fn string<'a>(object: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, Error> {
    match present(object, key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(Error::malformed(&join(path, key), "must not be empty")),
        Some(_) => Err(Error::malformed(&join(path, key), "must be a string")),
        None => Err(Error::malformed(&join(path, key), "required")),
    }
}

/// `path.key`, or `key` at the top.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}
