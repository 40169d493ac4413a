//! Loading trust roots from the server's flags, and reporting what they contain.
//!
//! **Invariant:** trust roots never expire silently. At start-up every loaded certificate whose
//! validity has ended (or not begun) is logged by name; AWS certificates are pinned key
//! containers whose dates are reported, not enforced (AWS signs with keys whose certificates
//! have expired), so such a line is a notice, not an error.

use std::path::{Path, PathBuf};

use idgate_verify::UnixTime;
use idgate_verify::aws::AwsTrust;
use idgate_verify::azure::AzureTrust;

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
    /// A PEM file given for Azure holds no usable certificate.
    #[error("{path} is not a usable PEM certificate file for Azure: {source}")]
    BadAzurePem {
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

/// Which Azure PEM file a certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AzureFile {
    Roots,
    Intermediates,
}

/// The pinned Azure roots and bundled intermediates, plus the operator's extra roots
/// (`--azure-roots`) and intermediates (`--azure-intermediates`).
pub fn load_azure_trust(
    roots: Option<&Path>,
    intermediates: Option<&Path>,
) -> Result<AzureTrust, TrustError> {
    let mut trust = AzureTrust::bundled();
    for (path, which) in [
        (roots, AzureFile::Roots),
        (intermediates, AzureFile::Intermediates),
    ] {
        let Some(path) = path else { continue };
        let pem = std::fs::read(path).map_err(|source| TrustError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let added = match which {
            AzureFile::Roots => trust.add_roots_pem(&pem),
            AzureFile::Intermediates => trust.add_intermediates_pem(&pem),
        }
        .map_err(|source| TrustError::BadAzurePem {
            path: path.to_owned(),
            source,
        })?;
        tracing::info!(path = %path.display(), certificates = added, kind = ?which, "extra Azure certificates loaded");
    }
    Ok(trust)
}

/// How far ahead an expiring Azure root or intermediate is announced.
const EXPIRY_WARNING_SECONDS: i64 = 30 * 24 * 3600;

/// Logs a summary of the Azure trust store, and warns about every certificate that has expired
/// or expires within 30 days, by name, so that trust roots never expire silently.
pub fn report_azure_trust(trust: &AzureTrust, now: UnixTime) {
    let certificates = trust.certificates();
    for cert in &certificates {
        if now > cert.not_after {
            tracing::warn!(role = ?cert.role, subject = %cert.subject, sha256 = %cert.sha256,
                "Azure certificate has expired and no longer helps verification; update idgate or pass a current one");
        } else if now.0 + EXPIRY_WARNING_SECONDS > cert.not_after.0 {
            tracing::warn!(role = ?cert.role, subject = %cert.subject, sha256 = %cert.sha256,
                days_left = (cert.not_after.0 - now.0) / 86_400,
                "Azure certificate expires soon");
        }
    }
    tracing::info!(
        certificates = certificates.len(),
        "Azure trust loaded (pinned roots and known intermediates)"
    );
}
