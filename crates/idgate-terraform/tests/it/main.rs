//! The import over whole documents: hand-written `terraform show -json` fixtures (in
//! `tests/fixtures/`, and the state of each example template in `examples/templates/`), each
//! rendered to a short text and compared through one `check()` helper.

mod import;
mod malformed;
mod slim;
mod templates;

use std::path::{Path, PathBuf};

use idgate_api::Transition;
use idgate_terraform::{Import, import_plan, import_state, slim};
use serde_json::Value;

/// What a document is imported as.
#[derive(Debug, Clone, Copy)]
pub enum As {
    /// A `start` build.
    Start,
    /// A `stop` build.
    Stop,
    /// A `delete` build.
    Delete,
    /// A template version (the document is a plan).
    Plan,
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fixture of `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    read_json(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

/// The state fixture of an example template.
pub fn example_state(template: &str) -> Value {
    read_json(
        &repo_root()
            .join("examples/templates")
            .join(template)
            .join("terraform.tfstate.json"),
    )
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Imports `document` as `kind` and compares the rendering with `expected` (indentation of
/// `expected` is removed). The slimmed document must import to exactly the same result.
#[track_caller]
pub fn check(document: &Value, kind: As, expected: &str) {
    let result = import(document, kind);
    let slimmed = import(&slim(document), kind);
    assert_eq!(result, slimmed, "the slimmed document imports differently");
    let actual = render(&result);
    let expected = dedent(expected);
    assert!(
        actual == expected,
        "\n--- expected\n{expected}\n--- actual\n{actual}\n"
    );
}

fn import(document: &Value, kind: As) -> Result<Import, Vec<idgate_terraform::Error>> {
    match kind {
        As::Start => import_state(document, Transition::Start),
        As::Stop => import_state(document, Transition::Stop),
        As::Delete => import_state(document, Transition::Delete),
        As::Plan => import_plan(document),
    }
}

/// One line per resource, agent, carried token and dropped agent; or one line per error.
fn render(result: &Result<Import, Vec<idgate_terraform::Error>>) -> String {
    let mut lines = Vec::new();
    match result {
        Ok(import) => {
            for resource in &import.resources {
                lines.push(format!(
                    "resource {} {}{}",
                    resource.kind,
                    resource.name,
                    instance(&resource.instance_id)
                ));
                for agent in &resource.agents {
                    lines.push(format!(
                        "  agent {} {}{}",
                        agent.name,
                        agent.auth.as_str(),
                        instance(&agent.instance_id)
                    ));
                }
            }
            for (name, token) in &import.tokens {
                lines.push(format!("token {name} {}", token.expose()));
            }
            for dropped in &import.dropped {
                lines.push(format!("dropped {} ({})", dropped.name, dropped.address));
            }
            if lines.is_empty() {
                lines.push("(nothing)".to_owned());
            }
        }
        Err(errors) => {
            for error in errors {
                lines.push(format!("error {}: {error}", error.path()));
            }
        }
    }
    lines.join("\n")
}

fn instance(id: &Option<String>) -> String {
    match id {
        Some(id) => format!(" instance {id}"),
        None => String::new(),
    }
}

/// Removes the blank first and last lines and the indentation common to the others.
fn dedent(text: &str) -> String {
    let lines: Vec<&str> = text
        .trim_end()
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}
