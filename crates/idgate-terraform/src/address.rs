//! Terraform addresses and references, reduced to what the import needs.
//!
//! A resource *instance* address (`module.ws["a"].aws_instance.dev[0]`) names one object in a
//! state; its *label* (`module.ws.aws_instance.dev`) names the resource block in the
//! configuration, which is what `depends_on` lists and what the dependency graph is made of.
//! Coder calls the same thing a label (`convertAddressToLabel`); unlike Coder's, which cuts at
//! the first `[`, this one removes every instance key, so resources inside a module with `count`
//! or `for_each` keep their own name.

/// The address without any instance key: `module.ws["a"].aws_instance.dev[0]` becomes
/// `module.ws.aws_instance.dev`. Keys are skipped with their quoting, so a `for_each` key that
/// contains `]` or `.` does not confuse it.
pub fn label(address: &str) -> String {
    let mut out = String::with_capacity(address.len());
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for c in address.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            '"' if depth > 0 => in_string = true,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

/// What a reference in a configuration expression points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A resource or data source, by label relative to the module (`aws_instance.dev`,
    /// `data.coder_workspace.me`).
    Resource(String),
    /// An input variable of the module (`var.token`).
    Variable(String),
    /// An output of a child module (`module.ws.agent_id`).
    ModuleOutput {
        /// The module call's name.
        module: String,
        /// The output's name.
        output: String,
    },
    /// A whole child module (`module.ws`), as `depends_on` may name it.
    Module(String),
    /// Anything else: locals, `count.index`, `each.key`, `path.module`, `self`, `terraform`.
    Other,
}

/// Parses one entry of a `references` or `depends_on` list. Instance keys are ignored, so
/// `coder_agent.main[0].token` is the resource `coder_agent.main`.
pub fn reference(text: &str) -> Reference {
    let bare = label(text);
    let parts: Vec<&str> = bare.split('.').collect();
    match parts.as_slice() {
        ["data", kind, name, ..] => Reference::Resource(format!("data.{kind}.{name}")),
        ["var", name, ..] => Reference::Variable((*name).to_owned()),
        ["module", module, output, ..] => Reference::ModuleOutput {
            module: (*module).to_owned(),
            output: (*output).to_owned(),
        },
        ["module", module] => Reference::Module((*module).to_owned()),
        [
            "local" | "count" | "each" | "path" | "self" | "terraform" | "ephemeral" | "data"
            | "var" | "module",
            ..,
        ] => Reference::Other,
        [kind, name, ..] if !kind.is_empty() && !name.is_empty() => {
            Reference::Resource(format!("{kind}.{name}"))
        }
        _ => Reference::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_drop_every_instance_key() {
        for (address, expected) in [
            ("aws_instance.dev", "aws_instance.dev"),
            ("aws_instance.dev[0]", "aws_instance.dev"),
            (r#"aws_instance.dev["a"]"#, "aws_instance.dev"),
            (r#"aws_instance.dev["a.b[c]\"d"]"#, "aws_instance.dev"),
            (
                r#"module.ws["x"].module.inner[2].aws_instance.dev[1]"#,
                "module.ws.module.inner.aws_instance.dev",
            ),
            ("data.coder_workspace.me", "data.coder_workspace.me"),
        ] {
            assert_eq!(label(address), expected, "{address}");
        }
    }

    #[test]
    fn references_name_what_they_point_at() {
        let resource = |s: &str| Reference::Resource(s.to_owned());
        for (text, expected) in [
            ("coder_agent.main.init_script", resource("coder_agent.main")),
            ("coder_agent.main[0].token", resource("coder_agent.main")),
            ("coder_agent.main", resource("coder_agent.main")),
            (
                "data.coder_workspace.me.start_count",
                resource("data.coder_workspace.me"),
            ),
            ("var.token", Reference::Variable("token".into())),
            (
                r#"module.ws["a"].agent_id"#,
                Reference::ModuleOutput {
                    module: "ws".into(),
                    output: "agent_id".into(),
                },
            ),
            ("module.ws", Reference::Module("ws".into())),
            ("local.user_data", Reference::Other),
            ("count.index", Reference::Other),
            ("each.key", Reference::Other),
            ("path.module", Reference::Other),
            ("data.x", Reference::Other),
            ("nonsense", Reference::Other),
        ] {
            assert_eq!(reference(text), expected, "{text}");
        }
    }
}
