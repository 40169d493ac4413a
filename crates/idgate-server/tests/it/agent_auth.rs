//! Every row of the resolution table and every exclusion of the contract (§1), over HTTP.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, ec2};

const TWO_AGENTS_409: &str = r#"Multiple agents found with instance ID "i-multi". Set CODER_AGENT_NAME to one of: dev, main"#;

/// The product's central story, run on any store.
async fn two_agents_on_one_vm(app: &TestApp) {
    let ws = app.workspace("dev").await;
    app.build(&ws, "start", ec2("i-multi", &["main", "dev"]))
        .await;

    let unnamed = app.aws_exchange("i-multi", None).await;
    assert_eq!(unnamed.status, StatusCode::CONFLICT);
    assert_eq!(unnamed.code(), "ambiguous_agent");
    assert_eq!(unnamed.message(), TWO_AGENTS_409);

    let main = app.token_for("i-multi", Some("main")).await;
    let dev = app.token_for("i-multi", Some("dev")).await;
    assert_ne!(main, dev);

    let manifest = app.manifest(&main).await;
    assert_eq!(manifest.status, StatusCode::OK);
    assert_eq!(manifest.body["agent_name"], "main");
    assert_eq!(manifest.body["workspace_name"], "dev");
    assert_eq!(manifest.body["owner"], "alice");
    assert_eq!(manifest.body["build_number"], 1);
    assert_eq!(manifest.body["resource_name"], "dev");
    assert_eq!(manifest.body["instance_id"], "i-multi");
    assert_eq!(app.manifest(&dev).await.body["agent_name"], "dev");
}

#[tokio::test]
async fn two_agents_on_one_vm_sqlite() {
    let app = TestApp::spawn().await;
    two_agents_on_one_vm(&app).await;
}

#[tokio::test]
async fn two_agents_on_one_vm_postgres() {
    if let Some(app) = TestApp::spawn_postgres().await {
        two_agents_on_one_vm(&app).await;
    }
}

#[tokio::test]
async fn the_session_response_has_the_contract_fields() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("one").await;
    let build = app.build(&ws, "start", ec2("i-one", &["main"])).await;
    let answer = app.aws_exchange("i-one", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    let token = answer.body["session_token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "256 random bits, base64url");
    assert_eq!(
        answer.body["agent_id"],
        build["resources"][0]["agents"][0]["id"]
    );
    assert_eq!(answer.body["expires_at"], "2026-12-04T13:00:00Z");
}

#[tokio::test]
async fn agent_name_is_trimmed_and_blank_means_not_given() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    app.build(&ws, "start", ec2("i-multi", &["main", "dev"]))
        .await;
    let padded = app.aws_exchange("i-multi", Some("  main\t")).await;
    assert_eq!(padded.status, StatusCode::OK);
    for blank in ["", "   "] {
        let answer = app.aws_exchange("i-multi", Some(blank)).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{blank:?}");
        assert_eq!(answer.message(), TWO_AGENTS_409);
    }
}

#[tokio::test]
async fn names_are_case_sensitive_and_unknown_names_list_the_candidates() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    app.build(&ws, "start", ec2("i-multi", &["main", "dev"]))
        .await;
    let answer = app.aws_exchange("i-multi", Some("Main")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.code(), "agent_name_not_found");
    assert_eq!(
        answer.message(),
        r#"No agent found with instance ID "i-multi" and name "Main"."#
    );
    assert_eq!(answer.body["detail"], "Agents on this instance: dev, main.");
}

#[tokio::test]
async fn a_single_agent_needs_no_name_and_an_unknown_instance_is_404() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("one").await;
    app.build(&ws, "start", ec2("i-one", &["main"])).await;
    assert_eq!(app.aws_exchange("i-one", None).await.status, StatusCode::OK);
    assert_eq!(
        app.aws_exchange("i-one", Some("main")).await.status,
        StatusCode::OK
    );
    let unknown = app.aws_exchange("i-nobody", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "instance_not_found");
    assert_eq!(
        unknown.message(),
        r#"Instance with id "i-nobody" not found."#
    );
    let named = app.aws_exchange("i-nobody", Some("main")).await;
    assert_eq!(named.code(), "instance_not_found");
}

#[tokio::test]
async fn sub_agents_never_authenticate() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    app.build(
        &ws,
        "start",
        json!([{"name": "dev", "type": "aws_instance", "instance_id": "i-sub", "agents": [
            {"name": "main", "auth": "aws-instance-identity"},
            {"name": "child", "auth": "aws-instance-identity", "parent": "main"}]}]),
    )
    .await;
    let unnamed = app.aws_exchange("i-sub", None).await;
    assert_eq!(
        unnamed.status,
        StatusCode::OK,
        "the sub-agent is not a candidate"
    );
    let child = app.aws_exchange("i-sub", Some("child")).await;
    assert_eq!(child.code(), "agent_name_not_found");
    assert_eq!(child.body["detail"], "Agents on this instance: main.");
}

#[tokio::test]
async fn template_import_agents_never_authenticate() {
    let app = TestApp::spawn().await;
    let template = app
        .admin_post("/api/v2/templates", &json!({"name": "aws"}))
        .await;
    let template_id = template.body["id"].as_str().unwrap();
    let version = app
        .admin_post(
            &format!("/api/v2/templates/{template_id}/versions"),
            &json!({"resources": ec2("i-imported", &["main"])}),
        )
        .await;
    assert_eq!(version.status, StatusCode::CREATED, "{version:?}");
    let answer = app.aws_exchange("i-imported", None).await;
    assert_eq!(answer.code(), "instance_not_found");

    // A workspace build of the same instance is found, and the import does not make it ambiguous.
    let ws = app.workspace("dev").await;
    app.build(&ws, "start", ec2("i-imported", &["main"])).await;
    assert_eq!(
        app.aws_exchange("i-imported", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_rebuild_supersedes_the_old_agent_and_revokes_its_token() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    let first = app.build(&ws, "start", ec2("i-same", &["main"])).await;
    let old_token = app.token_for("i-same", None).await;
    let second = app.build(&ws, "start", ec2("i-same", &["main"])).await;
    assert_eq!(second["build_number"], 2);

    let answer = app.aws_exchange("i-same", None).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "only the new agent is a candidate"
    );
    assert_eq!(
        answer.body["agent_id"],
        second["resources"][0]["agents"][0]["id"]
    );
    assert_ne!(
        answer.body["agent_id"],
        first["resources"][0]["agents"][0]["id"]
    );

    let old = app.manifest(&old_token).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(old.code(), "unauthorized");
    let new_token = answer.body["session_token"].as_str().unwrap();
    assert_eq!(app.manifest(new_token).await.body["build_number"], 2);
}

#[tokio::test]
async fn a_stop_build_removes_the_agents() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    app.build(&ws, "start", ec2("i-stop", &["main"])).await;
    let token = app.token_for("i-stop", None).await;
    app.build(&ws, "stop", json!([])).await;
    assert_eq!(
        app.aws_exchange("i-stop", None).await.code(),
        "instance_not_found"
    );
    assert_eq!(app.manifest(&token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_delete_build_removes_the_agents_and_marks_the_workspace_deleted() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    app.build(&ws, "start", ec2("i-del", &["main"])).await;
    let token = app.token_for("i-del", None).await;
    app.build(&ws, "delete", json!([])).await;
    assert_eq!(
        app.aws_exchange("i-del", None).await.code(),
        "instance_not_found"
    );
    assert_eq!(app.manifest(&token).await.status, StatusCode::UNAUTHORIZED);
    let workspace = app.admin_get(&format!("/api/v2/workspaces/{ws}")).await;
    assert_eq!(workspace.body["deleted"], true);
    assert_eq!(workspace.body["latest_build"]["transition"], "delete");
}

#[tokio::test]
async fn a_recycled_instance_id_belongs_to_the_live_workspace() {
    let app = TestApp::spawn().await;
    let old = app.workspace("old").await;
    app.build(&old, "start", ec2("i-recycled", &["main"])).await;
    app.build(&old, "delete", json!([])).await;
    let new = app.workspace("new").await;
    let build = app.build(&new, "start", ec2("i-recycled", &["main"])).await;
    let answer = app.aws_exchange("i-recycled", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body["agent_id"],
        build["resources"][0]["agents"][0]["id"]
    );
}

#[tokio::test]
async fn an_agent_declared_for_another_cloud_is_not_matched() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    app.build(
        &ws,
        "start",
        json!([{"name": "vm", "type": "azurerm_linux_virtual_machine", "instance_id": "i-cloud",
                "agents": [{"name": "main", "auth": "azure-instance-identity"}]},
               {"name": "vm2", "type": "google_compute_instance", "instance_id": "i-cloud",
                "agents": [{"name": "other", "auth": "google-instance-identity"}]}]),
    )
    .await;
    assert_eq!(
        app.aws_exchange("i-cloud", None).await.code(),
        "instance_not_found"
    );
}

#[tokio::test]
async fn the_same_instance_in_two_workspaces() {
    let app = TestApp::spawn().await;
    let a = app.workspace("a").await;
    let b = app.workspace("b").await;
    app.build(&a, "start", ec2("i-shared", &["main"])).await;
    app.build(&b, "start", ec2("i-shared", &["main", "web"]))
        .await;

    let unnamed = app.aws_exchange("i-shared", None).await;
    assert_eq!(unnamed.status, StatusCode::CONFLICT);
    assert_eq!(
        unnamed.message(),
        r#"Multiple agents found with instance ID "i-shared". Set CODER_AGENT_NAME to one of: main, web"#
    );
    let main = app.aws_exchange("i-shared", Some("main")).await;
    assert_eq!(main.status, StatusCode::CONFLICT);
    assert_eq!(main.code(), "ambiguous_agent");
    assert_eq!(
        main.message(),
        r#"Multiple agents named "main" found with instance ID "i-shared"."#
    );
    assert_eq!(
        app.aws_exchange("i-shared", Some("web")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_agent_with_its_own_instance_id_overrides_the_resource() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    app.build(
        &ws,
        "start",
        json!([{"name": "dev", "type": "aws_instance", "instance_id": "i-resource", "agents": [
            {"name": "main", "auth": "aws-instance-identity"},
            {"name": "side", "auth": "aws-instance-identity", "instance_id": "i-own"}]}]),
    )
    .await;
    let side = app.token_for("i-own", None).await;
    assert_eq!(app.manifest(&side).await.body["agent_name"], "side");
    let main = app.token_for("i-resource", None).await;
    assert_eq!(app.manifest(&main).await.body["agent_name"], "main");
}

#[tokio::test]
async fn real_aws_samples_exchange_for_their_agents() {
    use crate::support::verify_data;
    let app = TestApp::spawn().await;
    let ws = app.workspace("real").await;
    app.build(&ws, "start", ec2("i-076e9b91f7c420782", &["main"]))
        .await;
    let document = verify_data("aws/coder-us-east-1-2022/document.json");
    let signature = verify_data("aws/coder-us-east-1-2022/signature.b64");
    let answer = app
        .post(
            "/api/v2/workspaceagents/aws-instance-identity",
            &json!({"document": document, "signature": signature}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");

    // The same document with one byte changed after signing.
    let tampered = document.replacen("i-076e9b91f7c420782", "i-076e9b91f7c420783", 1);
    let answer = app
        .post(
            "/api/v2/workspaceagents/aws-instance-identity",
            &json!({"document": tampered, "signature": signature}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.code(), "signature_invalid");
    assert_eq!(answer.message(), "Invalid AWS identity.");

    // The rsa2048 PKCS#7 of one instance with the document of another.
    let ws2 = app.workspace("real2").await;
    app.build(&ws2, "start", ec2("i-0140f65cf5b9ba76a", &["main"]))
        .await;
    let a_doc = verify_data("aws/ansible-ap-northeast-2-i-0140f65cf5b9ba76a/document.json");
    let a_pkcs7 = verify_data("aws/ansible-ap-northeast-2-i-0140f65cf5b9ba76a/rsa2048.b64");
    let b_pkcs7 = verify_data("aws/ansible-ap-northeast-2-i-00e3338c5c02cfd02/rsa2048.b64");
    let ok = app
        .post(
            "/api/v2/workspaceagents/aws-instance-identity",
            &json!({"document": a_doc, "pkcs7": a_pkcs7}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    let swapped = app
        .post(
            "/api/v2/workspaceagents/aws-instance-identity",
            &json!({"document": a_doc, "pkcs7": b_pkcs7}),
        )
        .await;
    assert_eq!(swapped.status, StatusCode::UNAUTHORIZED);
    assert_eq!(swapped.code(), "signature_invalid");
}
