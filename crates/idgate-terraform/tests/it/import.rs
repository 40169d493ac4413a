//! Whole states and plans: what they import to, and every way an import is refused.

use crate::{As, check, example_state, fixture};

#[test]
fn single_aws_agent_attaches_to_the_instance_not_to_what_depends_on_it() {
    // aws_eip.dev and aws_volume_attachment.home depend on the agent too (through the
    // instance), and "aws_eip.dev" sorts before "aws_instance.dev": only the graph distance
    // keeps the agent on the instance.
    check(
        &fixture("aws-single.tfstate.json"),
        As::Start,
        "
        resource aws_instance dev instance i-0123456789abcdef0
          agent main aws-instance-identity
        ",
    );
}

#[test]
fn two_agents_on_one_aws_instance() {
    check(
        &example_state("aws-multi-agent"),
        As::Start,
        "
        resource aws_instance dev instance i-0f4c2d1e9a8b7c6d5
          agent dev aws-instance-identity
          agent main aws-instance-identity
        ",
    );
}

#[test]
fn two_agents_on_one_gcp_instance() {
    check(
        &example_state("gcp-multi-agent"),
        As::Start,
        "
        resource google_compute_instance dev instance 4817153462198373402
          agent dev google-instance-identity
          agent main google-instance-identity
        ",
    );
}

#[test]
fn two_agents_on_one_azure_linux_vm() {
    // The NIC, subnet, network and resource group do not depend on the agents.
    check(
        &example_state("azure-multi-agent"),
        As::Start,
        "
        resource azurerm_linux_virtual_machine dev instance 3f2b8c1d-6a4e-4f7b-9d2c-8e1a5b7c9d03
          agent dev azure-instance-identity
          agent main azure-instance-identity
        ",
    );
}

#[test]
fn coder_agent_instance_gives_the_instance_id() {
    // google_compute_instance_from_template has no automatic instance ID; the
    // coder_agent_instance, which depends on the agent as closely as the instance does, is a
    // coder_ resource and never a place for an agent.
    check(
        &fixture("gcp-agent-instance.tfstate.json"),
        As::Start,
        "
        resource google_compute_instance tools instance 1122334455667788990
          agent tools google-instance-identity
        resource google_compute_instance_from_template dev
          agent main google-instance-identity instance 7093812240152391234
        ",
    );
}

#[test]
fn spot_request_with_a_token_agent_beside_it() {
    check(
        &fixture("aws-spot.tfstate.json"),
        As::Start,
        "
        resource aws_spot_instance_request dev instance i-0a1b2c3d4e5f67890
          agent main aws-instance-identity
          agent sidecar token
        token sidecar 0c9e8d7c-6b5a-4f4e-8d3c-2b1a0f9e8d7c
        ",
    );
}

#[test]
fn agents_in_child_modules_with_count_and_for_each() {
    check(
        &fixture("child-module.tfstate.json"),
        As::Start,
        "
        resource aws_instance worker instance i-0bbbbbbbbbbbbbbbb
          agent worker token
        resource aws_instance dev instance i-0ccccccccccccccc1
          agent main aws-instance-identity
        token worker abababab-cdcd-4efe-8f0f-121212121212
        ",
    );
}

#[test]
fn a_stopped_workspace_drops_its_agents_as_coder_does() {
    let stopped = fixture("aws-multi-agent-stopped.tfstate.json");
    check(
        &stopped,
        As::Stop,
        "
        dropped dev (coder_agent.dev)
        dropped main (coder_agent.main)
        ",
    );
    check(
        &stopped,
        As::Delete,
        "
        dropped dev (coder_agent.dev)
        dropped main (coder_agent.main)
        ",
    );
    // A start build with no instance for its agents is a mistake, and says so.
    check(
        &stopped,
        As::Start,
        r#"
        error values.root_module.resources[0]: agent "dev" (coder_agent.dev) is not attached to any resource: no managed resource with an instance in the state depends on it. Make the compute resource reference the agent (its id, token or init_script, e.g. in user_data) or list it in depends_on
        error values.root_module.resources[1]: agent "main" (coder_agent.main) is not attached to any resource: no managed resource with an instance in the state depends on it. Make the compute resource reference the agent (its id, token or init_script, e.g. in user_data) or list it in depends_on
        "#,
    );
}

#[test]
fn a_destroyed_workspace_has_nothing() {
    let empty = serde_json::json!({"format_version": "1.0"});
    check(&empty, As::Delete, "(nothing)");
    check(&empty, As::Start, "(nothing)");
}

#[test]
fn a_stopped_workspace_keeps_agents_whose_instance_still_exists() {
    // Coder's AWS templates stop the instance with aws_ec2_instance_state instead of
    // destroying it: the agents stay attached, with the instance ID.
    check(
        &example_state("aws-multi-agent"),
        As::Stop,
        "
        resource aws_instance dev instance i-0f4c2d1e9a8b7c6d5
          agent dev aws-instance-identity
          agent main aws-instance-identity
        ",
    );
}

#[test]
fn a_plan_has_agents_without_instance_ids() {
    check(
        &fixture("aws-multi-agent.tfplan.json"),
        As::Plan,
        "
        resource aws_instance dev
          agent dev aws-instance-identity
          agent main aws-instance-identity
        ",
    );
}

#[test]
fn instance_identity_agents_need_an_instance_id() {
    check(
        &fixture("no-instance-id.tfstate.json"),
        As::Start,
        r#"
        error values.root_module.resources[2]: agent "spot" (coder_agent.spot) uses aws-instance-identity, but aws_spot_instance_request.spot has no "spot_instance_id" value in the state, so its instance ID is not known (was the resource created?)
        error values.root_module.resources[1]: agent "pod" (coder_agent.pod) uses aws-instance-identity, but it is attached to kubernetes_pod.pod, and kubernetes_pod is not a type with an automatic instance ID (aws_instance, aws_spot_instance_request, google_compute_instance, azurerm_linux_virtual_machine, azurerm_windows_virtual_machine): add a coder_agent_instance with the agent's id and the instance ID
        "#,
    );
}

#[test]
fn agent_names_are_unique_ignoring_case() {
    check(
        &fixture("duplicate-names.tfstate.json"),
        As::Start,
        r#"
        error values.root_module.resources[2]: agent name "main" is used by coder_agent.Main and coder_agent.main: agent names are unique in a build, ignoring case, and every instance of a coder_agent (count, for_each, or an instance of its module) takes the resource's name
        "#,
    );
}

#[test]
fn instances_of_one_coder_agent_collide() {
    check(
        &fixture("count-agents.tfstate.json"),
        As::Start,
        r#"
        error values.root_module.resources[3]: agent name "main" is used by coder_agent.main[0] and coder_agent.main[1]: agent names are unique in a build, ignoring case, and every instance of a coder_agent (count, for_each, or an instance of its module) takes the resource's name
        error values.root_module.resources[2]: agent "main" (coder_agent.main[0]) attaches to aws_instance.dev, which has 2 instances (aws_instance.dev[0], aws_instance.dev[1]): an agent runs on one instance; declare one coder_agent per instance
        error values.root_module.resources[3]: agent "main" (coder_agent.main[1]) attaches to aws_instance.dev, which has 2 instances (aws_instance.dev[0], aws_instance.dev[1]): an agent runs on one instance; declare one coder_agent per instance
        "#,
    );
}

#[test]
fn names_must_fit_idgate_and_auth_must_be_known() {
    check(
        &fixture("bad-names.tfstate.json"),
        As::Start,
        r#"
        error values.root_module.resources[1]: agent "dev_box" (coder_agent.dev_box): agent names are letters, digits and single hyphens, at most 64 characters; underscores are not allowed: rename the Terraform resource with hyphens
        error values.root_module.resources[3]: agent "pigeon" (coder_agent.pigeon): auth "carrier-pigeon" is not one of aws-instance-identity, azure-instance-identity, google-instance-identity, token
        error values.root_module.resources[0]: resource aws_instance.dev_box carries agents, but its name "dev_box" is not a valid idgate resource name (letters, digits and single hyphens, at most 64 characters); underscores are not allowed: rename the Terraform resource with hyphens
        "#,
    );
}
