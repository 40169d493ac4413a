//! A cloud metadata-service emulator whose documents are really signed, for tests, demos and
//! local development.
//!
//! This crate holds the signing side: a test certificate authority and the documents each
//! cloud's metadata service returns, signed the way the cloud signs them, so that idgate's
//! verifiers accept them once the emulator's certificates are trusted (`--aws-certs`). It depends
//! on no other workspace crate.

pub mod aws;
pub mod azure;
pub mod gcp;

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
}
