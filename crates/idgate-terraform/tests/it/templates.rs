//! The example templates in `examples/templates/`: formatted as `terraform fmt` wants, and
//! their state fixture is the state of that very template.

use std::process::Command;

use idgate_api::Transition;
use idgate_terraform::import_state;

use crate::{example_state, repo_root};

const TEMPLATES: [&str; 3] = ["aws-multi-agent", "gcp-multi-agent", "azure-multi-agent"];

#[test]
fn templates_are_terraform_fmt_clean() {
    let dir = repo_root().join("examples/templates");
    let output = Command::new("terraform")
        .args(["fmt", "-check", "-recursive", "-diff"])
        .arg(&dir)
        .output();
    match output {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "note: terraform is not on PATH; `terraform fmt -check` of {} skipped",
                dir.display()
            );
        }
        Err(e) => panic!("cannot run terraform: {e}"),
        Ok(output) => assert!(
            output.status.success(),
            "`terraform fmt -check -recursive examples/templates` wants changes:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

#[test]
fn each_template_declares_the_agents_of_its_state() {
    for template in TEMPLATES {
        let dir = repo_root().join("examples/templates").join(template);
        let main_tf = std::fs::read_to_string(dir.join("main.tf")).expect("main.tf");
        let mut declared: Vec<String> = main_tf
            .lines()
            .filter_map(|line| line.strip_prefix("resource \"coder_agent\" \""))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned)
            .collect();
        declared.sort();
        let import = import_state(&example_state(template), Transition::Start)
            .unwrap_or_else(|e| panic!("{template}: {e:?}"));
        assert_eq!(
            import.resources.len(),
            1,
            "{template}: one compute resource"
        );
        let resource = &import.resources[0];
        let mut imported: Vec<String> = resource.agents.iter().map(|a| a.name.clone()).collect();
        imported.sort();
        assert_eq!(
            declared, imported,
            "{template}: agents of main.tf and of the state"
        );
        let block = format!("resource \"{}\" \"{}\"", resource.kind, resource.name);
        assert!(
            main_tf.contains(&block),
            "{template}: main.tf declares {block}"
        );
        for agent in &resource.agents {
            let auth = format!("auth = \"{}\"", agent.auth.as_str());
            assert!(main_tf.contains(&auth), "{template}: main.tf has {auth}");
        }
        for file in ["README.md", "cloud-init.yaml.tftpl"] {
            assert!(dir.join(file).is_file(), "{template}: {file}");
        }
    }
}

#[test]
fn the_cloud_init_starts_one_named_unit_per_agent() {
    for template in TEMPLATES {
        let path = repo_root()
            .join("examples/templates")
            .join(template)
            .join("cloud-init.yaml.tftpl");
        let text = std::fs::read_to_string(&path).expect("cloud-init template");
        // The name is in the unit itself, so that `sudo` (which resets the environment) and
        // reboots cannot lose it.
        for needle in [
            "Environment=CODER_AGENT_NAME=%i",
            "CODER_AGENT_AUTH=${auth}",
            "CODER_AGENT_URL=${idgate_url}",
            "ExecStart=/usr/local/bin/idgate agent",
            "idgate-agent@${name}.service",
        ] {
            assert!(text.contains(needle), "{template}: {needle}");
        }
    }
}
