//! A cloud metadata-service emulator whose documents are really signed, for tests, demos and
//! local development.
//!
//! This crate holds the signing side: a test certificate authority and the documents each
//! cloud's metadata service returns, signed the way the cloud signs them, so that idgate's
//! verifiers accept them once the emulator's certificates are trusted (`--aws-certs`). It depends
//! on no other workspace crate.
//!
//! The metadata service itself ([`server`]: AWS IMDSv2, Azure IMDS, the GCE metadata server,
//! with injected [`faults`]) serves those documents over HTTP, and [`files`] keeps the keys and
//! writes the trust files of `idgate server`; `idgate imds` is the command that runs both.

pub mod aws;
pub mod azure;
pub mod faults;
pub mod files;
pub mod gcp;
pub mod server;

/// Errors of the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Key generation or signing failed.
    #[error("RSA operation failed: {0}")]
    Rsa(#[from] rsa::Error),
    /// Building or encoding the certificate failed.
    #[error("certificate encoding failed: {0}")]
    Certificate(String),
    /// Reading or writing one of the emulator's key or certificate files failed.
    #[error("cannot access {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key or certificate file exists but cannot be used.
    #[error("{} is not usable: {reason}", path.display())]
    InvalidFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A value of the emulator's configuration is out of range.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The metadata service cannot listen, or stopped with an error.
    #[error("the metadata service failed: {0}")]
    Serve(#[source] std::io::Error),
}
