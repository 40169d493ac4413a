//! Loading trust roots from the server's flags, and reporting what they contain.
//!
//! **Invariant:** trust roots never expire silently. At start-up every loaded certificate whose
//! validity has ended (or not begun) is logged by name; AWS certificates are pinned key
//! containers whose dates are reported, not enforced (AWS signs with keys whose certificates
//! have expired), so such a line is a notice, not an error.

use std::path::{Path, PathBuf};

use idgate_verify::UnixTime;
use idgate_verify::aws::AwsTrust;

/// Errors loading trust roots.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The directory cannot be listed.
    #[error("cannot read the AWS certificate directory {path}: {source}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable certificate.
    #[error("{path} is not a usable PEM certificate file: {source}")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// Why.
        source: idgate_verify::Error,
    },
    /// The directory has no `*.pem` file.
    #[error("the AWS certificate directory {path} contains no *.pem file")]
    Empty {
        /// The directory.
        path: PathBuf,
    },
}

/// The bundled AWS certificates plus every `*.pem` in `extra_dir`, trusted for all regions.
pub fn load_aws_trust(extra_dir: Option<&Path>) -> Result<AwsTrust, TrustError> {
    let mut trust = AwsTrust::bundled();
    let Some(dir) = extra_dir else {
        return Ok(trust);
    };
    let entries = std::fs::read_dir(dir).map_err(|source| TrustError::ReadDir {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| TrustError::ReadDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "pem") {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(TrustError::Empty {
            path: dir.to_owned(),
        });
    }
    files.sort();
    for path in files {
        let pem = std::fs::read(&path).map_err(|source| TrustError::ReadFile {
            path: path.clone(),
            source,
        })?;
        let added = trust
            .add_extra_pem(&pem)
            .map_err(|source| TrustError::BadPem {
                path: path.clone(),
                source,
            })?;
        tracing::info!(path = %path.display(), certificates = added, "extra AWS certificates trusted for every region");
    }
    Ok(trust)
}

/// Logs a summary of the AWS trust store and names each certificate outside its validity.
pub fn report_aws_trust(trust: &AwsTrust, now: UnixTime) {
    let certificates = trust.certificates();
    let mut outside = 0usize;
    for cert in &certificates {
        if now < cert.not_before || now > cert.not_after {
            outside += 1;
            tracing::debug!(
                region = cert.region.as_deref().unwrap_or("(all regions)"),
                subject = %cert.subject,
                "AWS certificate outside its validity dates; its key stays pinned (AWS signs with such keys)"
            );
        }
    }
    tracing::info!(
        regions = trust.regions().len(),
        certificates = certificates.len(),
        outside_validity = outside,
        "AWS trust loaded (validity dates are reported, not enforced)"
    );
}
