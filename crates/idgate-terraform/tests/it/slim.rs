//! [`slim`]: much smaller, still `terraform show -json`, and the same import (every `check()`
//! also imports the slimmed document and compares).

use idgate_terraform::slim;
use serde_json::json;

use crate::{example_state, fixture};

#[test]
fn every_fixture_slims_to_a_fraction_well_under_the_body_limit() {
    let mut documents = vec![
        example_state("aws-multi-agent"),
        example_state("gcp-multi-agent"),
        example_state("azure-multi-agent"),
    ];
    for entry in
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
            .expect("fixtures")
    {
        let name = entry.expect("entry").file_name();
        documents.push(fixture(name.to_str().expect("utf-8 name")));
    }
    for document in documents {
        let full = document.to_string().len();
        let slimmed = slim(&document).to_string().len();
        assert!(slimmed * 3 < full, "{slimmed} of {full} bytes");
        assert!(slimmed < idgate_api::MAX_BODY_BYTES / 8, "{slimmed} bytes");
    }
}

#[test]
fn slim_keeps_what_the_import_reads_and_nothing_else() {
    let plan = fixture("aws-multi-agent.tfplan.json");
    let slimmed = slim(&plan);
    let keys: Vec<&String> = slimmed.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "configuration",
            "format_version",
            "planned_values",
            "prior_state",
            "terraform_version"
        ]
    );
    let instance = &slimmed["configuration"]["root_module"]["resources"][0];
    assert_eq!(
        instance,
        &json!({
            "address": "aws_instance.dev", "mode": "managed", "type": "aws_instance", "name": "dev",
            "expressions": {
                "ami": {"references": ["data.aws_ami.ubuntu.id", "data.aws_ami.ubuntu"]},
                "instance_type": {"references": ["var.instance_type"]},
                "tags": {"references": ["data.coder_workspace.me.name", "data.coder_workspace.me"]},
                "user_data": {"references": ["path.module", "var.idgate_url", "var.idgate_download_url",
                                             "coder_agent.main.id", "coder_agent.main",
                                             "coder_agent.dev.id", "coder_agent.dev"]}},
            "count_expression": {"references": ["data.coder_workspace.me.start_count", "data.coder_workspace.me"]}})
    );
    let state = slim(&example_state("aws-multi-agent"));
    assert_eq!(
        state["values"]["root_module"]["resources"][1],
        json!({"address": "coder_agent.dev", "mode": "managed", "type": "coder_agent", "name": "dev",
               "provider_name": "registry.terraform.io/coder/coder",
               "values": {"auth": "aws-instance-identity", "id": "9c8b7a6f-5e4d-4c3b-a291-8f7e6d5c4b3a",
                          "token": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}})
    );
}

#[test]
fn what_is_not_shaped_as_expected_is_left_for_the_import_to_report() {
    for document in [
        json!("text"),
        json!({"format_version": "1.0", "values": []}),
        json!({"format_version": "1.0", "values": {"root_module": {"resources": {}}}}),
    ] {
        assert_eq!(slim(&document), document);
    }
}
