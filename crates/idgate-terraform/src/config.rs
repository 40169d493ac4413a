//! The dependency edges that a plan's `configuration` shows.
//!
//! A plan has no `depends_on` per instance; what it has is the configuration, where every
//! resource lists the `references` of each of its expressions (`user_data` referring to
//! `coder_agent.main.init_script`), of `count` and `for_each`, and its explicit `depends_on`.
//! References are relative to their module; `var.x` inside a module is followed to the
//! expression that the module call passes in, and `module.m.out` to the output's expression,
//! so an agent declared in one module and used in another is still seen. Local values are not
//! in the JSON at all, so a reference through `local.x` cannot be followed (the state's
//! `depends_on` has no such gap).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::address::{Reference, reference};
use crate::document::{array, join, object, present};
use crate::error::Error;
use crate::graph::Graph;

/// How far `var.x` and `module.m.out` are followed before giving up (a guard against cycles).
const MAX_HOPS: usize = 32;

/// One module of the configuration.
struct Module<'a> {
    /// `""` for the root, `module.ws.` for the call `ws` in the root, and so on.
    prefix: String,
    /// The module that calls this one, with the call's arguments.
    caller: Option<(usize, &'a Map<String, Value>)>,
    /// The module's JSON.
    json: &'a Map<String, Value>,
    /// Child modules by call name.
    children: BTreeMap<&'a str, usize>,
}

/// Adds the edges of `configuration.root_module` to `graph`.
pub fn add_edges(root: &Value, graph: &mut Graph) -> Result<(), Error> {
    let mut modules = Vec::new();
    collect(
        root,
        String::new(),
        None,
        "configuration.root_module",
        &mut modules,
    )?;
    let scope = Scope { modules: &modules };
    for (index, module) in modules.iter().enumerate() {
        scope.add_module_edges(index, module, graph);
    }
    Ok(())
}

fn collect<'a>(
    json: &'a Value,
    prefix: String,
    caller: Option<(usize, &'a Map<String, Value>)>,
    path: &str,
    modules: &mut Vec<Module<'a>>,
) -> Result<usize, Error> {
    let json = object(json, path)?;
    let index = modules.len();
    modules.push(Module {
        prefix: prefix.clone(),
        caller,
        json,
        children: BTreeMap::new(),
    });
    if let Some(calls) = present(json, "module_calls") {
        let calls_path = join(path, "module_calls");
        for (name, call) in object(calls, &calls_path)? {
            let call_path = join(&calls_path, name);
            let call = object(call, &call_path)?;
            let Some(child) = present(call, "module") else {
                continue;
            };
            let child_prefix = format!("{prefix}module.{name}.");
            let child_path = join(&call_path, "module");
            let child = collect(
                child,
                child_prefix,
                Some((index, call)),
                &child_path,
                modules,
            )?;
            modules[index].children.insert(name, child);
        }
    }
    for (i, resource) in array(json, "resources", path)?.iter().enumerate() {
        let resource_path = format!("{path}.resources[{i}]");
        let fields = object(resource, &resource_path)?;
        if !matches!(present(fields, "address"), Some(Value::String(_))) {
            return Err(Error::malformed(
                &join(&resource_path, "address"),
                "must be a string",
            ));
        }
    }
    Ok(index)
}

struct Scope<'m, 'a> {
    modules: &'m [Module<'a>],
}

impl Scope<'_, '_> {
    fn add_module_edges(&self, index: usize, module: &Module<'_>, graph: &mut Graph) {
        let inherited = self.call_dependencies(index);
        for resource in module
            .json
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(fields) = resource.as_object() else {
                continue;
            };
            let Some(address) = fields.get("address").and_then(Value::as_str) else {
                continue;
            };
            let from = format!("{}{address}", module.prefix);
            let mut texts = Vec::new();
            for key in ["expressions", "count_expression", "for_each_expression"] {
                if let Some(expression) = fields.get(key) {
                    references_in(expression, &mut texts);
                }
            }
            let mut targets = Vec::new();
            for text in texts {
                self.resolve(index, &reference(text), false, 0, &mut targets);
            }
            for text in string_list(fields.get("depends_on")) {
                self.resolve(index, &reference(text), true, 0, &mut targets);
            }
            targets.extend(inherited.iter().cloned());
            for to in targets {
                graph.add(&from, &to);
            }
        }
    }

    /// What the `depends_on` of the calls that lead to this module name, resolved in the
    /// callers' scopes: every resource of the module depends on it.
    fn call_dependencies(&self, index: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut current = index;
        while let Some((caller, call)) = self.modules[current].caller {
            for text in string_list(call.get("depends_on")) {
                self.resolve(caller, &reference(text), true, 0, &mut out);
            }
            current = caller;
        }
        out
    }

    /// The resource labels that `target`, seen from module `index`, stands for.
    fn resolve(
        &self,
        index: usize,
        target: &Reference,
        in_depends_on: bool,
        hops: usize,
        out: &mut Vec<String>,
    ) {
        if hops > MAX_HOPS {
            return;
        }
        let module = &self.modules[index];
        match target {
            Reference::Resource(label) => out.push(format!("{}{label}", module.prefix)),
            Reference::Variable(name) => {
                let Some((caller, call)) = module.caller else {
                    return;
                };
                let mut texts = Vec::new();
                if let Some(argument) = call.get("expressions").and_then(|e| e.get(name.as_str())) {
                    references_in(argument, &mut texts);
                }
                for text in texts {
                    self.resolve(caller, &reference(text), false, hops + 1, out);
                }
            }
            Reference::ModuleOutput {
                module: call,
                output,
            } => {
                let Some(&child) = module.children.get(call.as_str()) else {
                    return;
                };
                let expression = self.modules[child]
                    .json
                    .get("outputs")
                    .and_then(|o| o.get(output.as_str()))
                    .and_then(|o| o.get("expression"));
                let mut texts = Vec::new();
                if let Some(expression) = expression {
                    references_in(expression, &mut texts);
                }
                for text in texts {
                    self.resolve(child, &reference(text), false, hops + 1, out);
                }
            }
            // Expressions list `module.m` next to `module.m.out`; only `depends_on` means the
            // whole module by it.
            Reference::Module(call) if in_depends_on => {
                if let Some(&child) = module.children.get(call.as_str()) {
                    self.every_resource(child, out);
                }
            }
            Reference::Module(_) | Reference::Other => {}
        }
    }

    /// Every resource label of a module and its children.
    fn every_resource(&self, index: usize, out: &mut Vec<String>) {
        let module = &self.modules[index];
        for resource in module
            .json
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(address) = resource.get("address").and_then(Value::as_str) {
                out.push(format!("{}{address}", module.prefix));
            }
        }
        for &child in module.children.values() {
            self.every_resource(child, out);
        }
    }
}

/// Every string of every `references` list in an expression tree. Nested blocks are arrays of
/// objects of expressions; `constant_value` is data, not expressions, and is not searched.
fn references_in<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(fields) => {
            for (key, inner) in fields {
                match key.as_str() {
                    "references" => out.extend(string_list(Some(inner))),
                    "constant_value" => {}
                    _ => references_in(inner, out),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                references_in(item, out);
            }
        }
        _ => {}
    }
}

fn string_list(value: Option<&Value>) -> impl Iterator<Item = &str> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn edges(configuration: Value) -> Vec<(String, String)> {
        let mut graph = Graph::default();
        add_edges(&configuration, &mut graph).expect("valid configuration");
        let mut out = Vec::new();
        for label in [
            "aws_instance.dev",
            "module.ws.aws_instance.dev",
            "module.ws.module.inner.aws_instance.dev",
            "aws_eip.dev",
        ] {
            for (to, depth) in graph.dependents(label) {
                if depth == 0 {
                    out.push((to, label.to_owned()));
                }
            }
        }
        for label in ["coder_agent.main", "module.ws.coder_agent.main"] {
            for (from, depth) in graph.dependents(label) {
                if depth == 0 {
                    out.push((from, label.to_owned()));
                }
            }
        }
        out.sort();
        out
    }

    fn pair(from: &str, to: &str) -> (String, String) {
        (from.to_owned(), to.to_owned())
    }

    #[test]
    fn references_in_nested_blocks_count_and_depends_on_are_edges() {
        let configuration = json!({"resources": [
            {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev",
             "expressions": {
                "ami": {"constant_value": {"references": ["coder_agent.decoy"]}},
                "root_block_device": [{"tags": {"references": ["coder_agent.main.id", "coder_agent.main"]}}]},
             "count_expression": {"references": ["data.coder_workspace.me.start_count", "data.coder_workspace.me"]}},
            {"address": "aws_eip.dev", "mode": "managed", "type": "aws_eip", "name": "dev",
             "depends_on": ["aws_instance.dev"]}]});
        assert_eq!(
            edges(configuration),
            vec![
                pair("aws_eip.dev", "aws_instance.dev"),
                pair("aws_instance.dev", "coder_agent.main"),
            ]
        );
    }

    #[test]
    fn variables_and_outputs_are_followed_across_modules() {
        let configuration = json!({
            "resources": [
                {"address": "coder_agent.main", "mode": "managed", "type": "coder_agent", "name": "main"},
                {"address": "aws_eip.dev", "mode": "managed", "type": "aws_eip", "name": "dev",
                 "expressions": {"instance": {"references": ["module.ws.instance_id", "module.ws"]}}}],
            "module_calls": {"ws": {
                "source": "./ws",
                "expressions": {"init_script": {"references": ["coder_agent.main.init_script", "coder_agent.main"]}},
                "module": {
                    "outputs": {"instance_id": {"expression": {"references": ["aws_instance.dev.id", "aws_instance.dev"]}}},
                    "resources": [
                        {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev",
                         "expressions": {"user_data": {"references": ["var.init_script"]}}}],
                    "variables": {"init_script": {}}}}}});
        assert_eq!(
            edges(configuration),
            vec![
                pair("aws_eip.dev", "module.ws.aws_instance.dev"),
                pair("module.ws.aws_instance.dev", "coder_agent.main"),
            ]
        );
    }

    #[test]
    fn a_module_call_depends_on_reaches_every_resource_inside() {
        let configuration = json!({
            "resources": [{"address": "coder_agent.main", "mode": "managed", "type": "coder_agent", "name": "main"}],
            "module_calls": {"ws": {
                "depends_on": ["coder_agent.main"],
                "module": {
                    "module_calls": {"inner": {"module": {"resources": [
                        {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev"}]}}},
                    "resources": [{"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev"}]}}}});
        assert_eq!(
            edges(configuration),
            vec![
                pair("module.ws.aws_instance.dev", "coder_agent.main"),
                pair(
                    "module.ws.module.inner.aws_instance.dev",
                    "coder_agent.main"
                ),
            ]
        );
    }

    #[test]
    fn locals_are_invisible() {
        let configuration = json!({"resources": [
            {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev",
             "expressions": {"user_data": {"references": ["local.user_data"]}}}]});
        assert_eq!(edges(configuration), Vec::new());
    }

    #[test]
    fn a_resource_without_an_address_is_malformed() {
        let mut graph = Graph::default();
        let error = add_edges(&json!({"resources": [{"type": "x"}]}), &mut graph).unwrap_err();
        assert_eq!(
            error.path(),
            "configuration.root_module.resources[0].address"
        );
    }
}
