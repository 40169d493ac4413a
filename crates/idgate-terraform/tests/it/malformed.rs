//! Documents that are not what `terraform show -json` prints, the wrong kind of document, and
//! the small cases that need no fixture file.

use serde_json::{Value, json};

use crate::{As, check};

/// A state with `resources` as its root module's resources.
fn state(resources: Value) -> Value {
    json!({"format_version": "1.0", "terraform_version": "1.11.4",
           "values": {"root_module": {"resources": resources}}})
}

fn agent(name: &str, auth: &str, id: &str) -> Value {
    json!({"address": format!("coder_agent.{name}"), "mode": "managed", "type": "coder_agent",
           "name": name, "provider_name": "registry.terraform.io/coder/coder", "schema_version": 1,
           "values": {"auth": auth, "id": id, "token": "t"}, "sensitive_values": {"token": true}})
}

#[test]
fn the_shape_is_checked_and_the_problem_located() {
    let resource = |fields: Value| state(json!([fields]));
    for (document, expected) in [
        (
            json!([1]),
            "error : must be a JSON object: the output of `terraform show -json`",
        ),
        (
            json!({}),
            "error format_version: required: the output of `terraform show -json` always has it",
        ),
        (
            json!({"format_version": 1}),
            "error format_version: must be a string",
        ),
        (
            json!({"format_version": "2.0"}),
            "error format_version: \"2.0\" is not supported: idgate reads format 1.x",
        ),
        (
            json!({"format_version": "1.0", "values": []}),
            "error values: must be an object",
        ),
        (
            json!({"format_version": "1.0", "values": {"root_module": {"resources": {}}}}),
            "error values.root_module.resources: must be an array",
        ),
        (
            json!({"format_version": "1.0", "values": {"root_module": {"child_modules": [7]}}}),
            "error values.root_module.child_modules[0]: must be an object",
        ),
        (
            resource(json!({"mode": "managed", "type": "aws_instance", "name": "dev"})),
            "error values.root_module.resources[0].address: required",
        ),
        (
            resource(
                json!({"address": "", "mode": "managed", "type": "aws_instance", "name": "dev"}),
            ),
            "error values.root_module.resources[0].address: must not be empty",
        ),
        (
            resource(json!({"address": "a.b", "mode": "ephemeral", "type": "a", "name": "b"})),
            "error values.root_module.resources[0].mode: must be \"managed\" or \"data\"",
        ),
        (
            resource(json!({"address": "a.b", "mode": "managed", "type": 3, "name": "b"})),
            "error values.root_module.resources[0].type: must be a string",
        ),
        (
            resource(
                json!({"address": "a.b", "mode": "managed", "type": "a", "name": "b", "values": "x"}),
            ),
            "error values.root_module.resources[0].values: must be an object",
        ),
        (
            resource(
                json!({"address": "a.b", "mode": "managed", "type": "a", "name": "b", "depends_on": [1]}),
            ),
            "error values.root_module.resources[0].depends_on[0]: must be a string",
        ),
    ] {
        check(&document, As::Start, expected);
    }
}

#[test]
fn a_plan_is_not_a_state_and_a_state_is_not_a_plan() {
    let plan = json!({"format_version": "1.2", "planned_values": {"root_module": {}}});
    check(
        &plan,
        As::Start,
        "error : this is a plan (it has planned_values and no values): a build imports the state \
         after apply, the output of `terraform show -json` without a plan file",
    );
    check(
        &state(json!([])),
        As::Plan,
        "error : this is a state (it has values and no planned_values): a template version \
         imports a plan, the output of `terraform show -json PLANFILE`",
    );
    check(
        &json!({"format_version": "1.2"}),
        As::Plan,
        "error planned_values: required: a plan's `terraform show -json` always has it",
    );
    check(
        &json!({"format_version": "1.2", "planned_values": {}, "configuration": {"root_module": {"resources": [{}]}}}),
        As::Plan,
        "error configuration.root_module.resources[0].address: must be a string",
    );
}

#[test]
fn auth_defaults_to_token_and_token_agents_need_no_instance_id() {
    let document = state(json!([
        {"address": "coder_agent.main", "mode": "managed", "type": "coder_agent", "name": "main",
         "values": {"id": "a1"}},
        {"address": "docker_container.dev", "mode": "managed", "type": "docker_container",
         "name": "dev", "values": {"id": "f00"}, "depends_on": ["coder_agent.main"]}]));
    check(
        &document,
        As::Start,
        "
        resource docker_container dev
          agent main token
        ",
    );
}

#[test]
fn data_sources_never_carry_agents() {
    let document = state(json!([
        agent("main", "token", "a1"),
        {"address": "data.external.probe", "mode": "data", "type": "external", "name": "probe",
         "values": {}, "depends_on": ["coder_agent.main"]},
        {"address": "null_resource.after", "mode": "managed", "type": "null_resource", "name": "after",
         "values": {"id": "1"}, "depends_on": ["coder_agent.main", "data.external.probe"]}]));
    // The data source is nearer; the agent goes through it to the managed resource.
    check(
        &document,
        As::Start,
        "
        resource null_resource after
          agent main token
        token main t
        ",
    );
}

#[test]
fn ties_go_to_the_smaller_address() {
    let instance = |name: &str, id: &str| {
        json!({"address": format!("aws_instance.{name}"), "mode": "managed", "type": "aws_instance",
               "name": name, "values": {"id": id}, "depends_on": ["coder_agent.main"]})
    };
    let document = state(json!([
        agent("main", "aws-instance-identity", "a1"),
        instance("zeta", "i-z"),
        instance("alpha", "i-a")
    ]));
    check(
        &document,
        As::Start,
        "
        resource aws_instance alpha instance i-a
          agent main aws-instance-identity
        ",
    );
}

#[test]
fn conflicting_coder_agent_instances_are_refused() {
    let link = |name: &str, instance_id: &str| {
        json!({"address": format!("coder_agent_instance.{name}"), "mode": "managed",
               "type": "coder_agent_instance", "name": name,
               "values": {"agent_id": "a1", "instance_id": instance_id},
               "depends_on": ["coder_agent.main"]})
    };
    let document = state(json!([
        agent("main", "aws-instance-identity", "a1"),
        {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev",
         "values": {"id": "i-1"}, "depends_on": ["coder_agent.main"]},
        link("one", "i-2"),
        link("two", "i-3")]));
    check(
        &document,
        As::Start,
        r#"error values.root_module.resources[0]: agent "main" (coder_agent.main) is given different instance IDs by coder_agent_instance.one and coder_agent_instance.two: keep one coder_agent_instance per agent"#,
    );
}

#[test]
fn coder_agent_instance_does_not_touch_token_agents() {
    let document = state(json!([
        agent("main", "token", "a1"),
        {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev",
         "values": {"id": "i-1"}, "depends_on": ["coder_agent.main"]},
        {"address": "coder_agent_instance.main", "mode": "managed", "type": "coder_agent_instance",
         "name": "main", "values": {"agent_id": "a1", "instance_id": "i-9"},
         "depends_on": ["coder_agent.main", "aws_instance.dev"]}]));
    check(
        &document,
        As::Start,
        "
        resource aws_instance dev instance i-1
          agent main token
        token main t
        ",
    );
}

#[test]
fn a_plan_cannot_see_through_locals() {
    let plan = json!({
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": [
            agent("main", "aws-instance-identity", "a1"),
            {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev",
             "values": {}}]}},
        "configuration": {"root_module": {"resources": [
            {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev",
             "expressions": {"user_data": {"references": ["local.user_data"]}}}]}}});
    check(
        &plan,
        As::Plan,
        r#"error planned_values.root_module.resources[0]: agent "main" (coder_agent.main) is not attached to any resource: no managed resource in the plan depends on it. Make the compute resource reference the agent (its id, token or init_script, e.g. in user_data) or list it in depends_on; a reference through a local value is not visible in a plan's configuration"#,
    );
}

#[test]
fn a_plan_uses_the_prior_state_depends_on() {
    // The same plan after a first apply: the prior state knows the dependency (Terraform
    // records it through the local), so the agent is attached.
    let plan = json!({
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": [
            agent("main", "aws-instance-identity", "a1"),
            {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev",
             "values": {"id": "i-1"}}]}},
        "prior_state": {"format_version": "1.0", "values": {"root_module": {"resources": [
            {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev",
             "values": {"id": "i-1"}, "depends_on": ["coder_agent.main"]}]}}},
        "configuration": {"root_module": {"resources": [
            {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev",
             "expressions": {"user_data": {"references": ["local.user_data"]}}}]}}});
    check(
        &plan,
        As::Plan,
        "
        resource aws_instance dev instance i-1
          agent main aws-instance-identity
        ",
    );
}
