//! The emulator's directory: where each cloud's signer keeps its keys, and the trust files
//! that `idgate server` reads to accept the emulator's documents.
//!
//! Layout under the directory (`idgate imds --dir`, `./idgate-imds` by default):
//!
//! ```text
//! aws/aws-signing-key.pem, aws/aws-certificate.pem     the AWS signer (key 0600)
//! aws-certs/idgate-imds.pem                            → idgate server --aws-certs aws-certs
//! azure/ca/{root,intermediate,leaf}{.pem,.key.pem}     the Azure test CA (keys 0600)
//! azure/roots.pem                                      → --azure-roots
//! azure/intermediates.pem                              → --azure-intermediates
//! gcp/gcp-signing-key.pem                              the GCP token key (0600)
//! gcp/jwks.json                                        → --gcp-jwks
//! ```
//!
//! Keys are created once and reused; the trust files are rewritten (atomically) from them on
//! every start, so they always match the keys in use.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::Error;
use crate::aws::AwsSigner;
use crate::azure::AzureSigner;
use crate::gcp::GcpSigner;
use crate::server::{Cloud, CloudSigner};

/// The AWS signer's directory, relative to the emulator's directory.
pub const AWS_KEY_DIR: &str = "aws";
/// The directory for `idgate server --aws-certs`, relative to the emulator's directory.
pub const AWS_CERTS_DIR: &str = "aws-certs";
/// The certificate file inside [`AWS_CERTS_DIR`].
pub const AWS_CERT_FILE: &str = "idgate-imds.pem";
/// The Azure test CA's directory, relative to the emulator's directory.
pub const AZURE_CA_DIR: &str = "azure/ca";
/// The file for `idgate server --azure-roots`, relative to the emulator's directory.
pub const AZURE_ROOTS_FILE: &str = "azure/roots.pem";
/// The file for `idgate server --azure-intermediates`, relative to the emulator's directory.
pub const AZURE_INTERMEDIATES_FILE: &str = "azure/intermediates.pem";
/// The GCP signer's directory, relative to the emulator's directory.
pub const GCP_KEY_DIR: &str = "gcp";
/// The file for `idgate server --gcp-jwks`, relative to the emulator's directory.
pub const GCP_JWKS_FILE: &str = "gcp/jwks.json";

/// One `idgate server` flag that makes the server trust the emulator, with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFlag {
    /// The flag, such as `--aws-certs`.
    pub flag: &'static str,
    /// The file or directory to pass.
    pub path: PathBuf,
}

/// A signer loaded from (or created in) the emulator's directory, with the trust files written
/// for it.
#[derive(Debug)]
pub struct Prepared {
    /// The signer, ready for [`crate::server::EmulatorConfig::new`].
    pub signer: CloudSigner,
    /// The `idgate server` flags that trust it, in the order to pass them.
    pub server_flags: Vec<ServerFlag>,
}

impl Prepared {
    /// The command line that starts a server trusting the emulator, such as
    /// `idgate server --aws-certs ./idgate-imds/aws-certs` (paths quoted for a POSIX shell
    /// when they need it).
    pub fn server_command(&self) -> String {
        let mut command = String::from("idgate server");
        for flag in &self.server_flags {
            command.push(' ');
            command.push_str(flag.flag);
            command.push(' ');
            command.push_str(&shell_quote(&flag.path.to_string_lossy()));
        }
        command
    }
}

/// Loads or creates the signer of `cloud` under `dir` and (re)writes its trust files there.
/// Generating keys takes a moment (RSA-2048); reusing them is immediate.
pub fn prepare(dir: &Path, cloud: Cloud) -> Result<Prepared, Error> {
    match cloud {
        Cloud::Aws => {
            let signer = AwsSigner::load_or_create(&dir.join(AWS_KEY_DIR))?;
            let certs = dir.join(AWS_CERTS_DIR);
            create_dir(&certs)?;
            write_replace(
                &certs.join(AWS_CERT_FILE),
                signer.certificate_pem().as_bytes(),
            )?;
            Ok(Prepared {
                signer: CloudSigner::Aws(signer),
                server_flags: vec![ServerFlag {
                    flag: "--aws-certs",
                    path: certs,
                }],
            })
        }
        Cloud::Azure => {
            let signer = AzureSigner::load_or_create(&dir.join(AZURE_CA_DIR))?;
            let roots = dir.join(AZURE_ROOTS_FILE);
            let intermediates = dir.join(AZURE_INTERMEDIATES_FILE);
            write_replace(&roots, signer.root_pem().as_bytes())?;
            write_replace(&intermediates, signer.intermediate_pem().as_bytes())?;
            Ok(Prepared {
                signer: CloudSigner::Azure(signer),
                server_flags: vec![
                    ServerFlag {
                        flag: "--azure-roots",
                        path: roots,
                    },
                    ServerFlag {
                        flag: "--azure-intermediates",
                        path: intermediates,
                    },
                ],
            })
        }
        Cloud::Gcp => {
            let signer = GcpSigner::load_or_create(&dir.join(GCP_KEY_DIR))?;
            let jwks = dir.join(GCP_JWKS_FILE);
            write_replace(&jwks, signer.jwks_json().as_bytes())?;
            Ok(Prepared {
                signer: CloudSigner::Gcp(signer),
                server_flags: vec![ServerFlag {
                    flag: "--gcp-jwks",
                    path: jwks,
                }],
            })
        }
    }
}

/// `text` as one POSIX shell word: unchanged when it is made of safe characters only, else in
/// single quotes.
fn shell_quote(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,=@%".contains(c));
    if safe {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The contents of `path`, or `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })
}

/// Writes a new file, failing if it exists; `secret` files are readable by their owner only
/// (on Unix).
pub(crate) fn write_new(path: &Path, contents: &[u8], secret: bool) -> Result<(), Error> {
    let io_error = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(io_error)?;
    file.write_all(contents).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

/// Replaces `path` with `contents` atomically (a temporary file in the same directory, then a
/// rename), so that a server starting at the same moment reads the old or the new file, never
/// half of one. The parent directory is created.
pub(crate) fn write_replace(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let io_error = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let written =
        std::fs::write(&temporary, contents).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_quote("./idgate-imds/aws-certs"),
            "./idgate-imds/aws-certs"
        );
        assert_eq!(shell_quote("/tmp/my dir"), "'/tmp/my dir'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
