//! Secrets: session tokens, agent tokens and the admin token.
//!
//! **Invariant:** a token exists in clear only in the response that creates it and in the
//! caller's memory; the store and the logs see its SHA-256 ([`TokenHash`]) at most. [`Secret`]
//! has a redacted `Debug` so that it cannot leak through a `{:?}`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idgate_store::TokenHash;
use rand::RngCore as _;

/// A token in clear. `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// 256 random bits from the operating system, base64url without padding (43 characters).
    pub fn generate() -> Secret {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Secret(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Wraps a token read from outside.
    pub fn new(token: String) -> Secret {
        Secret(token)
    }

    /// The token in clear, for the one response that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its hash, the only form that is stored.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Errors reading or creating the admin token file.
#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    /// The file exists but cannot be read.
    #[error("cannot read the admin token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("the admin token file {path} is empty; delete it to have a new token generated")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be created.
    #[error("cannot create the admin token file {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where the admin token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminTokenOrigin {
    /// Read from an existing file.
    Existing,
    /// Generated and written now.
    Generated,
}

/// Reads the admin token from `path`, or generates one and writes it there with mode 0600.
pub fn load_or_create_admin_token(
    path: &Path,
) -> Result<(Secret, AdminTokenOrigin), AdminTokenError> {
    match std::fs::read_to_string(path) {
        Ok(contents) => {
            let token = contents.trim();
            if token.is_empty() {
                return Err(AdminTokenError::Empty {
                    path: path.to_owned(),
                });
            }
            Ok((Secret::new(token.to_owned()), AdminTokenOrigin::Existing))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = Secret::generate();
            write_new_secret_file(path, token.expose()).map_err(|source| {
                AdminTokenError::Create {
                    path: path.to_owned(),
                    source,
                }
            })?;
            Ok((token, AdminTokenOrigin::Generated))
        }
        Err(source) => Err(AdminTokenError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Creates `path` (which must not exist) readable by its owner only, and writes `contents`.
fn write_new_secret_file(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_long_distinct_and_redacted() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn admin_token_is_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/admin-token");
        let (first, origin) = load_or_create_admin_token(&path).unwrap();
        assert_eq!(origin, AdminTokenOrigin::Generated);
        let (second, origin) = load_or_create_admin_token(&path).unwrap();
        assert_eq!(origin, AdminTokenOrigin::Existing);
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn an_empty_admin_token_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin-token");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            load_or_create_admin_token(&path),
            Err(AdminTokenError::Empty { .. })
        ));
    }
}
