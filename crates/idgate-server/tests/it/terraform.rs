//! Builds and template versions imported from Terraform (`terraform_state`,
//! `terraform_plan`), over HTTP: the imported agents authenticate exactly like declared ones.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Answer, TestApp};

/// The instance ID in `examples/templates/aws-multi-agent/terraform.tfstate.json`.
const AWS_MULTI_INSTANCE: &str = "i-0f4c2d1e9a8b7c6d5";
/// The instance ID in `examples/templates/gcp-multi-agent/terraform.tfstate.json`.
const GCP_MULTI_INSTANCE: &str = "4817153462198373402";
/// The VM ID in `examples/templates/azure-multi-agent/terraform.tfstate.json`.
const AZURE_MULTI_VM: &str = "3f2b8c1d-6a4e-4f7b-9d2c-8e1a5b7c9d03";

fn read_json(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The state fixture of an example template.
fn example_state(template: &str) -> Value {
    read_json(&format!(
        "examples/templates/{template}/terraform.tfstate.json"
    ))
}

/// A fixture of the import crate.
fn fixture(name: &str) -> Value {
    read_json(&format!("crates/idgate-terraform/tests/fixtures/{name}"))
}

async fn import_build(app: &TestApp, workspace: &str, transition: &str, state: Value) -> Answer {
    app.admin_post(
        &format!("/api/v2/workspaces/{workspace}/builds"),
        &json!({"transition": transition, "terraform_state": state}),
    )
    .await
}

/// The `validations` of a 400 as `field: detail` lines.
fn validations(answer: &Answer) -> Vec<String> {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    assert_eq!(answer.code(), "validation_failed");
    answer.body["validations"]
        .as_array()
        .expect("validations")
        .iter()
        .map(|v| {
            format!(
                "{}: {}",
                v["field"].as_str().unwrap(),
                v["detail"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn the_aws_multi_agent_state_puts_two_agents_on_one_instance() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    let build = import_build(&app, &ws, "start", example_state("aws-multi-agent")).await;
    assert_eq!(build.status, StatusCode::CREATED, "{build:?}");
    insta::assert_json_snapshot!(build.body["resources"], {
        "[].id" => "[id]", "[].agents[].id" => "[id]"
    }, @r#"
    [
      {
        "agents": [
          {
            "auth": "aws-instance-identity",
            "auth_instance_id": "i-0f4c2d1e9a8b7c6d5",
            "id": "[id]",
            "last_authenticated_at": null,
            "last_seen_at": null,
            "lifecycle_state": "created",
            "name": "dev",
            "parent_id": null
          },
          {
            "auth": "aws-instance-identity",
            "auth_instance_id": "i-0f4c2d1e9a8b7c6d5",
            "id": "[id]",
            "last_authenticated_at": null,
            "last_seen_at": null,
            "lifecycle_state": "created",
            "name": "main",
            "parent_id": null
          }
        ],
        "id": "[id]",
        "instance_id": "i-0f4c2d1e9a8b7c6d5",
        "name": "dev",
        "type": "aws_instance"
      }
    ]
    "#);

    // Without a name the instance is ambiguous, and the answer lists both names.
    let ambiguous = app.aws_exchange(AWS_MULTI_INSTANCE, None).await;
    assert_eq!(ambiguous.status, StatusCode::CONFLICT, "{ambiguous:?}");
    assert_eq!(ambiguous.code(), "ambiguous_agent");
    assert_eq!(
        ambiguous.message(),
        "Multiple agents found with instance ID \"i-0f4c2d1e9a8b7c6d5\". Set CODER_AGENT_NAME to \
         one of: dev, main"
    );

    // With its name, each agent gets its own token.
    for name in ["main", "dev"] {
        let token = app.token_for(AWS_MULTI_INSTANCE, Some(name)).await;
        let manifest = app.manifest(&token).await;
        assert_eq!(manifest.status, StatusCode::OK, "{manifest:?}");
        assert_eq!(manifest.body["agent_name"], name);
        assert_eq!(manifest.body["resource_name"], "dev");
        assert_eq!(manifest.body["instance_id"], AWS_MULTI_INSTANCE);
    }
}

#[tokio::test]
async fn the_gcp_and_azure_states_work_the_same_way() {
    let app = TestApp::spawn().await;
    let gcp = app.workspace("gcp").await;
    let built = import_build(&app, &gcp, "start", example_state("gcp-multi-agent")).await;
    assert_eq!(built.status, StatusCode::CREATED, "{built:?}");
    assert_eq!(
        app.gcp_exchange(GCP_MULTI_INSTANCE, None).await.status,
        StatusCode::CONFLICT
    );
    let main = app.gcp_exchange(GCP_MULTI_INSTANCE, Some("main")).await;
    assert_eq!(main.status, StatusCode::OK, "{main:?}");

    let azure = app.workspace("azure").await;
    let built = import_build(&app, &azure, "start", example_state("azure-multi-agent")).await;
    assert_eq!(built.status, StatusCode::CREATED, "{built:?}");
    assert_eq!(
        app.azure_exchange(AZURE_MULTI_VM, None).await.status,
        StatusCode::CONFLICT
    );
    let dev = app.azure_exchange(AZURE_MULTI_VM, Some("dev")).await;
    assert_eq!(dev.status, StatusCode::OK, "{dev:?}");
}

#[tokio::test]
async fn a_stopped_workspace_state_makes_a_build_without_agents() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    let started = import_build(&app, &ws, "start", example_state("aws-multi-agent")).await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    let stopped = fixture("aws-multi-agent-stopped.tfstate.json");

    // The instance is gone (count = 0): Coder drops the agents, and so does a stop build.
    let stop = import_build(&app, &ws, "stop", stopped.clone()).await;
    assert_eq!(stop.status, StatusCode::CREATED, "{stop:?}");
    assert_eq!(stop.body["resources"], json!([]));
    let gone = app.aws_exchange(AWS_MULTI_INSTANCE, Some("main")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{gone:?}");
    assert_eq!(gone.code(), "instance_not_found");

    // The same state for a start build is a mistake, and the answer names the agents.
    let start = import_build(&app, &ws, "start", stopped).await;
    insta::assert_json_snapshot!(validations(&start), @r#"
    [
      "terraform_state.values.root_module.resources[0]: agent \"dev\" (coder_agent.dev) is not attached to any resource: no managed resource with an instance in the state depends on it. Make the compute resource reference the agent (its id, token or init_script, e.g. in user_data) or list it in depends_on",
      "terraform_state.values.root_module.resources[1]: agent \"main\" (coder_agent.main) is not attached to any resource: no managed resource with an instance in the state depends on it. Make the compute resource reference the agent (its id, token or init_script, e.g. in user_data) or list it in depends_on"
    ]
    "#);
}

#[tokio::test]
async fn a_token_agent_keeps_the_token_of_the_state() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("spot").await;
    let state = fixture("aws-spot.tfstate.json");
    let build = import_build(&app, &ws, "start", state.clone()).await;
    assert_eq!(build.status, StatusCode::CREATED, "{build:?}");
    let agents = build.body["resources"][0]["agents"].as_array().unwrap();
    let sidecar = agents.iter().find(|a| a["name"] == "sidecar").unwrap();
    assert_eq!(sidecar["auth"], "token");
    // The machine already has this token (from the state); the server does not show it again.
    assert_eq!(sidecar.get("token"), None, "{sidecar}");

    let state_token = "0c9e8d7c-6b5a-4f4e-8d3c-2b1a0f9e8d7c";
    let manifest = app.manifest(state_token).await;
    assert_eq!(manifest.status, StatusCode::OK, "{manifest:?}");
    assert_eq!(manifest.body["agent_name"], "sidecar");
    assert_eq!(manifest.body["resource_name"], "dev");

    // The instance-identity agent on the spot instance needs no name: it is the only one.
    let main = app.aws_exchange("i-0a1b2c3d4e5f67890", None).await;
    assert_eq!(main.status, StatusCode::OK, "{main:?}");

    // A rebuild from the same state keeps the agent's token: it now names the new agent.
    let again = import_build(&app, &ws, "start", state.clone()).await;
    assert_eq!(again.status, StatusCode::CREATED, "{again:?}");
    let manifest = app.manifest(state_token).await;
    assert_eq!(manifest.status, StatusCode::OK, "{manifest:?}");
    assert_eq!(manifest.body["build_number"], 2);

    // Agent tokens are unique among live agents: another workspace cannot reuse this state.
    let other = app.workspace("copy").await;
    let copied = import_build(&app, &other, "start", state).await;
    assert_eq!(copied.status, StatusCode::CONFLICT, "{copied:?}");
    assert!(
        copied
            .message()
            .contains("terraform apply -replace=coder_agent.NAME"),
        "{copied:?}"
    );
}

#[tokio::test]
async fn a_build_takes_resources_or_a_state_not_both() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    let path = format!("/api/v2/workspaces/{ws}/builds");
    let both = app
        .admin_post(
            &path,
            &json!({"transition": "start", "resources": [],
                    "terraform_state": example_state("aws-multi-agent")}),
        )
        .await;
    let plan = app
        .admin_post(
            &path,
            &json!({"transition": "start",
                    "terraform_plan": fixture("aws-multi-agent.tfplan.json")}),
        )
        .await;
    let bad_transition = app
        .admin_post(
            &path,
            &json!({"transition": "reboot", "terraform_state": {"format_version": "1.0"}}),
        )
        .await;
    insta::assert_json_snapshot!(
        [validations(&both), validations(&plan), validations(&bad_transition)],
        @r#"
    [
      [
        "terraform_state: give either resources or terraform_state, not both"
      ],
      [
        "terraform_plan: a build imports the state after apply: send `terraform show -json` as terraform_state (terraform_plan is for template versions)"
      ],
      [
        "transition: must be one of start, stop, delete"
      ]
    ]
    "#
    );
    // Nothing was built.
    let workspace = app.admin_get(&format!("/api/v2/workspaces/{ws}")).await;
    assert_eq!(workspace.body["latest_build"], Value::Null);
}

#[tokio::test]
async fn import_errors_say_where_and_why() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    let mut answers = Vec::new();
    for state in [
        json!("not a state"),
        json!({"format_version": "1.0", "values": {"root_module": {"resources": [
            {"mode": "managed", "type": "aws_instance", "name": "dev"}]}}}),
        fixture("aws-multi-agent.tfplan.json"),
        fixture("duplicate-names.tfstate.json"),
        fixture("no-instance-id.tfstate.json"),
        // Imported resources pass the same validation as declared ones.
        json!({"format_version": "1.0", "values": {"root_module": {"resources": [
            {"address": "coder_agent.main", "mode": "managed", "type": "coder_agent",
             "name": "main", "values": {"auth": "aws-instance-identity"}},
            {"address": "aws_instance.dev", "mode": "managed", "type": "aws_instance",
             "name": "dev", "values": {"id": "i-".repeat(150)},
             "depends_on": ["coder_agent.main"]}]}}}),
    ] {
        answers.push(validations(&import_build(&app, &ws, "start", state).await));
    }
    insta::assert_json_snapshot!(answers, @r#"
    [
      [
        "terraform_state: must be a JSON object: the output of `terraform show -json`"
      ],
      [
        "terraform_state.values.root_module.resources[0].address: required"
      ],
      [
        "terraform_state: this is a plan (it has planned_values and no values): a build imports the state after apply, the output of `terraform show -json` without a plan file"
      ],
      [
        "terraform_state.values.root_module.resources[2]: agent name \"main\" is used by coder_agent.Main and coder_agent.main: agent names are unique in a build, ignoring case, and every instance of a coder_agent (count, for_each, or an instance of its module) takes the resource's name"
      ],
      [
        "terraform_state.values.root_module.resources[2]: agent \"spot\" (coder_agent.spot) uses aws-instance-identity, but aws_spot_instance_request.spot has no \"spot_instance_id\" value in the state, so its instance ID is not known (was the resource created?)",
        "terraform_state.values.root_module.resources[1]: agent \"pod\" (coder_agent.pod) uses aws-instance-identity, but it is attached to kubernetes_pod.pod, and kubernetes_pod is not a type with an automatic instance ID (aws_instance, aws_spot_instance_request, google_compute_instance, azurerm_linux_virtual_machine, azurerm_windows_virtual_machine): add a coder_agent_instance with the agent's id and the instance ID"
      ],
      [
        "terraform_state: imported resources[0].instance_id: must be at most 256 printable characters",
        "terraform_state: imported resources[0].agents[0].instance_id: a aws-instance-identity agent needs an instance ID: set instance_id on the agent or on its resource"
      ]
    ]
    "#);
}

#[tokio::test]
async fn a_template_version_imports_a_plan_without_instance_ids() {
    let app = TestApp::spawn().await;
    let template = app
        .admin_post("/api/v2/templates", &json!({"name": "aws-multi-agent"}))
        .await;
    assert_eq!(template.status, StatusCode::CREATED, "{template:?}");
    let versions = format!(
        "/api/v2/templates/{}/versions",
        template.body["id"].as_str().unwrap()
    );
    let version = app
        .admin_post(
            &versions,
            &json!({"terraform_plan": fixture("aws-multi-agent.tfplan.json")}),
        )
        .await;
    assert_eq!(version.status, StatusCode::CREATED, "{version:?}");
    insta::assert_json_snapshot!(version.body["resources"], {
        "[].id" => "[id]", "[].agents[].id" => "[id]"
    }, @r#"
    [
      {
        "agents": [
          {
            "auth": "aws-instance-identity",
            "auth_instance_id": null,
            "id": "[id]",
            "last_authenticated_at": null,
            "last_seen_at": null,
            "lifecycle_state": "created",
            "name": "dev",
            "parent_id": null
          },
          {
            "auth": "aws-instance-identity",
            "auth_instance_id": null,
            "id": "[id]",
            "last_authenticated_at": null,
            "last_seen_at": null,
            "lifecycle_state": "created",
            "name": "main",
            "parent_id": null
          }
        ],
        "id": "[id]",
        "instance_id": null,
        "name": "dev",
        "type": "aws_instance"
      }
    ]
    "#);

    let state = app
        .admin_post(
            &versions,
            &json!({"terraform_state": example_state("aws-multi-agent")}),
        )
        .await;
    let both = app
        .admin_post(
            &versions,
            &json!({"resources": [], "terraform_plan": fixture("aws-multi-agent.tfplan.json")}),
        )
        .await;
    let a_state_as_plan = app
        .admin_post(
            &versions,
            &json!({"terraform_plan": example_state("aws-multi-agent")}),
        )
        .await;
    insta::assert_json_snapshot!(
        [validations(&state), validations(&both), validations(&a_state_as_plan)],
        @r#"
    [
      [
        "terraform_state: a template version imports a plan: send `terraform show -json PLANFILE` as terraform_plan (terraform_state is for builds)"
      ],
      [
        "terraform_plan: give either resources or terraform_plan, not both"
      ],
      [
        "terraform_plan: this is a state (it has values and no planned_values): a template version imports a plan, the output of `terraform show -json PLANFILE`"
      ]
    ]
    "#
    );
}
