//! [`slim`]: the part of a `terraform show -json` document that the import reads.
//!
//! A real state or plan easily passes the server's 64 KiB body limit (every attribute of every
//! resource, `resource_changes` with before and after, the whole configuration). The slim
//! document is still a valid `terraform show -json` document, only with fewer fields, and
//! imports to exactly the same result; the CLI sends it instead of the file.

use serde_json::{Map, Value};

use crate::AUTOMATIC_INSTANCE_IDS;

/// The attributes the import reads, by resource type.
fn kept_attributes(kind: &str) -> &'static [&'static str] {
    match kind {
        "coder_agent" => &["id", "auth", "token"],
        "coder_agent_instance" => &["agent_id", "instance_id"],
        _ => AUTOMATIC_INSTANCE_IDS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, attribute)| std::slice::from_ref(attribute))
            .unwrap_or(&[]),
    }
}

/// Keeps only what the import reads: the resource instances with their address, mode, type,
/// name, index, `depends_on` and the few attributes that matter, and the configuration's
/// references. A document that is not shaped as expected is returned as it is, so that the
/// import reports what is wrong with it.
pub fn slim(document: &Value) -> Value {
    let Some(top) = document.as_object() else {
        return document.clone();
    };
    let mut out = Map::new();
    for (key, value) in top {
        let kept = match key.as_str() {
            "format_version" | "terraform_version" => value.clone(),
            "values" | "planned_values" => values(value),
            "prior_state" => prior_state(value),
            "configuration" => configuration(value),
            _ => continue,
        };
        out.insert(key.clone(), kept);
    }
    Value::Object(out)
}

/// Keeps the fields of `value` (if it is an object) named in `keys`, transformed by `f`.
fn pick(value: &Value, keys: &[&str], f: impl Fn(&str, &Value) -> Value) -> Value {
    let Some(fields) = value.as_object() else {
        return value.clone();
    };
    let mut out = Map::new();
    for (key, inner) in fields {
        if keys.contains(&key.as_str()) {
            out.insert(key.clone(), f(key, inner));
        }
    }
    Value::Object(out)
}

fn each(value: &Value, f: impl Fn(&Value) -> Value) -> Value {
    match value.as_array() {
        Some(items) => Value::Array(items.iter().map(f).collect()),
        None => value.clone(),
    }
}

fn prior_state(value: &Value) -> Value {
    pick(
        value,
        &["format_version", "terraform_version", "values"],
        |key, inner| {
            if key == "values" {
                values(inner)
            } else {
                inner.clone()
            }
        },
    )
}

fn values(value: &Value) -> Value {
    pick(value, &["root_module"], |_, root| module(root))
}

fn module(value: &Value) -> Value {
    pick(
        value,
        &["address", "resources", "child_modules"],
        |key, inner| match key {
            "resources" => each(inner, resource),
            "child_modules" => each(inner, module),
            _ => inner.clone(),
        },
    )
}

fn resource(value: &Value) -> Value {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let keys = [
        "address",
        "mode",
        "type",
        "name",
        "index",
        "provider_name",
        "values",
        "depends_on",
    ];
    pick(value, &keys, |key, inner| match key {
        "values" => pick(inner, kept_attributes(kind), |_, v| v.clone()),
        _ => inner.clone(),
    })
}

fn configuration(value: &Value) -> Value {
    pick(value, &["root_module"], |_, root| config_module(root))
}

fn config_module(value: &Value) -> Value {
    pick(
        value,
        &["outputs", "resources", "module_calls"],
        |key, inner| match key {
            "resources" => each(inner, config_resource),
            "module_calls" => map_values(inner, module_call),
            _ => map_values(inner, |output| {
                pick(output, &["expression"], |_, e| expression(e))
            }),
        },
    )
}

fn config_resource(value: &Value) -> Value {
    let keys = [
        "address",
        "mode",
        "type",
        "name",
        "expressions",
        "count_expression",
        "for_each_expression",
        "depends_on",
    ];
    pick(value, &keys, |key, inner| match key {
        "expressions" | "count_expression" | "for_each_expression" => expression(inner),
        _ => inner.clone(),
    })
}

fn module_call(value: &Value) -> Value {
    let keys = [
        "source",
        "expressions",
        "count_expression",
        "for_each_expression",
        "depends_on",
        "module",
    ];
    pick(value, &keys, |key, inner| match key {
        "expressions" | "count_expression" | "for_each_expression" => expression(inner),
        "module" => config_module(inner),
        _ => inner.clone(),
    })
}

fn map_values(value: &Value, f: impl Fn(&Value) -> Value) -> Value {
    match value.as_object() {
        Some(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), f(v))).collect()),
        None => value.clone(),
    }
}

/// An expression tree without its constants: only `references` lists and the structure that
/// leads to them remain.
fn expression(value: &Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, inner) in fields {
                match key.as_str() {
                    "constant_value" => {}
                    "references" => {
                        out.insert(key.clone(), inner.clone());
                    }
                    _ => {
                        let kept = expression(inner);
                        if !is_empty(&kept) {
                            out.insert(key.clone(), kept);
                        }
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(expression).collect()),
        _ => Value::Null,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(fields) => fields.is_empty(),
        Value::Array(items) => items.iter().all(is_empty),
        _ => false,
    }
}
