//! An instance-identity proof as fetched from the metadata service, and what it says, decoded
//! WITHOUT verification for `idgate agent doctor`.
//!
//! A proof is a bearer credential (anyone holding an AWS document and its signature can
//! exchange it for the agent's token), so its `Debug` is redacted and it is never logged.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use der::Decode as _;
use der::asn1::OctetString;
use idgate_api::{
    AwsInstanceIdentityRequest, AzureInstanceIdentityRequest, GoogleInstanceIdentityRequest, paths,
};
use serde_json::Value;

use crate::error::{Cloud, Error};

/// One cloud's signed statement of which instance this is.
#[derive(Clone, PartialEq, Eq)]
pub enum Proof {
    /// AWS IMDSv2 answers.
    Aws {
        /// The exact text of `/latest/dynamic/instance-identity/document`.
        document: String,
        /// `/latest/dynamic/instance-identity/signature` (base64).
        signature: String,
        /// `/latest/dynamic/instance-identity/rsa2048` (base64), when served.
        pkcs7: Option<String>,
    },
    /// Azure's attested document.
    Azure {
        /// Base64 DER PKCS#7.
        signature: String,
        /// Always `pkcs7`.
        encoding: String,
    },
    /// GCP's identity token.
    Google {
        /// The JWT.
        json_web_token: String,
    },
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Proof::Aws { .. } => "Proof::Aws",
            Proof::Azure { .. } => "Proof::Azure",
            Proof::Google { .. } => "Proof::Google",
        };
        f.debug_struct(name).finish_non_exhaustive()
    }
}

impl Proof {
    /// The cloud that signed it.
    pub fn cloud(&self) -> Cloud {
        match self {
            Proof::Aws { .. } => Cloud::Aws,
            Proof::Azure { .. } => Cloud::Azure,
            Proof::Google { .. } => Cloud::Google,
        }
    }

    /// The server path it is exchanged at.
    pub fn exchange_path(&self) -> &'static str {
        match self {
            Proof::Aws { .. } => paths::AWS_INSTANCE_IDENTITY,
            Proof::Azure { .. } => paths::AZURE_INSTANCE_IDENTITY,
            Proof::Google { .. } => paths::GOOGLE_INSTANCE_IDENTITY,
        }
    }

    /// The JSON body of the exchange request.
    pub(crate) fn request_body(&self, agent_name: Option<&str>) -> Result<Value, Error> {
        let agent_name = agent_name.map(str::to_owned);
        let encoded = match self {
            Proof::Aws {
                document,
                signature,
                pkcs7,
            } => serde_json::to_value(AwsInstanceIdentityRequest {
                document: document.clone(),
                signature: Some(signature.clone()),
                pkcs7: pkcs7.clone(),
                agent_name,
            }),
            Proof::Azure {
                signature,
                encoding,
            } => serde_json::to_value(AzureInstanceIdentityRequest {
                signature: signature.clone(),
                encoding: encoding.clone(),
                agent_name,
            }),
            Proof::Google { json_web_token } => {
                serde_json::to_value(GoogleInstanceIdentityRequest {
                    json_web_token: json_web_token.clone(),
                    agent_name,
                })
            }
        };
        // Serialising plain strings cannot fail; the error is mapped rather than unwrapped.
        encoded.map_err(|e| Error::IdentityDecode {
            what: "exchange request",
            reason: e.to_string(),
        })
    }

    /// What the proof claims, decoded without checking any signature.
    pub fn unverified_identity(&self) -> Result<UnverifiedIdentity, Error> {
        match self {
            Proof::Aws { document, .. } => decode_aws_document(document),
            Proof::Azure { signature, .. } => decode_azure_attested(signature),
            Proof::Google { json_web_token } => decode_gcp_token(json_web_token),
        }
    }
}

/// What a proof claims about the instance. Nothing here is verified: only the server's answer
/// to an exchange says whether the proof is genuine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedIdentity {
    /// The cloud.
    pub cloud: Cloud,
    /// The ID the server matches agents by (AWS `instanceId`, Azure `vmId`, GCP
    /// `instance_id`).
    pub instance_id: String,
    /// Other fields worth showing, as (label, value), in a stable order.
    pub details: Vec<(&'static str, String)>,
}

fn string_at(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn identity(
    cloud: Cloud,
    what: &'static str,
    value: &Value,
    id_pointer: &str,
    fields: &[(&'static str, &str)],
) -> Result<UnverifiedIdentity, Error> {
    let instance_id = string_at(value, id_pointer).ok_or_else(|| Error::IdentityDecode {
        what,
        reason: format!("it has no {}", id_pointer.trim_start_matches('/')),
    })?;
    let details = fields
        .iter()
        .filter_map(|(label, pointer)| string_at(value, pointer).map(|v| (*label, v)))
        .collect();
    Ok(UnverifiedIdentity {
        cloud,
        instance_id,
        details,
    })
}

/// Decodes an AWS identity document.
pub fn decode_aws_document(document: &str) -> Result<UnverifiedIdentity, Error> {
    const WHAT: &str = "AWS identity document";
    let value: Value = serde_json::from_str(document).map_err(|e| Error::IdentityDecode {
        what: WHAT,
        reason: format!("not JSON: {e}"),
    })?;
    identity(
        Cloud::Aws,
        WHAT,
        &value,
        "/instanceId",
        &[
            ("region", "/region"),
            ("account", "/accountId"),
            ("availability zone", "/availabilityZone"),
            ("instance type", "/instanceType"),
            ("image", "/imageId"),
            ("launched", "/pendingTime"),
        ],
    )
}

/// Decodes the content of Azure's attested document: base64 → DER PKCS#7 → the eContent JSON.
pub fn decode_azure_attested(signature: &str) -> Result<UnverifiedIdentity, Error> {
    const WHAT: &str = "Azure attested document";
    let fail = |reason: String| Error::IdentityDecode { what: WHAT, reason };
    let compact: String = signature
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = STANDARD
        .decode(compact)
        .map_err(|e| fail(format!("not base64: {e}")))?;
    let content_info = cms::content_info::ContentInfo::from_der(&der)
        .map_err(|e| fail(format!("not a DER PKCS#7 ContentInfo: {e}")))?;
    let signed_data: cms::signed_data::SignedData = content_info
        .content
        .decode_as()
        .map_err(|e| fail(format!("not a PKCS#7 SignedData: {e}")))?;
    let econtent = signed_data
        .encap_content_info
        .econtent
        .ok_or_else(|| fail("the PKCS#7 carries no content".into()))?;
    let octets: OctetString = econtent
        .decode_as()
        .map_err(|e| fail(format!("the content is not an OCTET STRING: {e}")))?;
    let value: Value = serde_json::from_slice(octets.as_bytes())
        .map_err(|e| fail(format!("the content is not JSON: {e}")))?;
    identity(
        Cloud::Azure,
        WHAT,
        &value,
        "/vmId",
        &[
            ("subscription", "/subscriptionId"),
            ("sku", "/sku"),
            ("created", "/timeStamp/createdOn"),
            ("expires", "/timeStamp/expiresOn"),
            ("nonce", "/nonce"),
        ],
    )
}

/// Decodes the payload of a GCP identity token.
pub fn decode_gcp_token(token: &str) -> Result<UnverifiedIdentity, Error> {
    const WHAT: &str = "GCP identity token";
    let fail = |reason: String| Error::IdentityDecode { what: WHAT, reason };
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [_, payload, _] = parts.as_slice() else {
        return Err(fail("not a JWT (three dot-separated parts)".into()));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| fail(format!("the payload is not base64url: {e}")))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| fail(format!("the payload is not JSON: {e}")))?;
    let mut decoded = identity(
        Cloud::Google,
        WHAT,
        &value,
        "/google/compute_engine/instance_id",
        &[
            ("project", "/google/compute_engine/project_id"),
            ("zone", "/google/compute_engine/zone"),
            ("instance name", "/google/compute_engine/instance_name"),
            ("audience", "/aud"),
            ("email", "/email"),
        ],
    )?;
    for (label, pointer) in [("issued", "/iat"), ("expires", "/exp")] {
        if let Some(seconds) = value.pointer(pointer).and_then(Value::as_i64) {
            let when = time::OffsetDateTime::from_unix_timestamp(seconds)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_else(|| seconds.to_string());
            decoded.details.push((label, when));
        }
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_proof() {
        let proof = Proof::Google {
            json_web_token: "aaa.bbb.ccc".into(),
        };
        assert_eq!(format!("{proof:?}"), "Proof::Google { .. }");
        let aws = Proof::Aws {
            document: "{}".into(),
            signature: "secret-signature".into(),
            pkcs7: None,
        };
        assert!(!format!("{aws:?}").contains("secret"));
    }

    #[test]
    fn request_bodies_carry_the_name_only_when_given() {
        let proof = Proof::Aws {
            document: "doc".into(),
            signature: "sig".into(),
            pkcs7: None,
        };
        assert_eq!(
            proof.request_body(None).unwrap(),
            serde_json::json!({"document": "doc", "signature": "sig"})
        );
        assert_eq!(
            proof.request_body(Some("main")).unwrap()["agent_name"],
            "main"
        );
        let azure = Proof::Azure {
            signature: "MII".into(),
            encoding: "pkcs7".into(),
        };
        assert_eq!(
            azure.request_body(None).unwrap(),
            serde_json::json!({"signature": "MII", "encoding": "pkcs7"})
        );
    }

    #[test]
    fn aws_documents() {
        let doc = "{\n  \"accountId\" : \"123456789012\",\n  \"instanceId\" : \"i-0abc\",\n  \"region\" : \"eu-west-1\"\n}";
        let id = decode_aws_document(doc).unwrap();
        assert_eq!(id.instance_id, "i-0abc");
        assert_eq!(
            id.details,
            vec![
                ("region", "eu-west-1".to_owned()),
                ("account", "123456789012".to_owned())
            ]
        );
        assert!(matches!(
            decode_aws_document("{}"),
            Err(Error::IdentityDecode { .. })
        ));
        assert!(decode_aws_document("not json").is_err());
    }

    #[test]
    fn gcp_tokens() {
        let payload = URL_SAFE_NO_PAD.encode(
            br#"{"aud":"coder","iat":1700000000,"exp":1700003600,"google":{"compute_engine":{"instance_id":"123","project_id":"p","zone":"us-central1-a"}}}"#,
        );
        let id = decode_gcp_token(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(id.instance_id, "123");
        assert!(id.details.contains(&("project", "p".to_owned())));
        assert!(id.details.contains(&("audience", "coder".to_owned())));
        assert!(
            id.details
                .contains(&("expires", "2023-11-14T23:13:20Z".to_owned()))
        );
        assert!(decode_gcp_token("one.two").is_err());
        assert!(decode_gcp_token("a.!!!.c").is_err());
    }
}
