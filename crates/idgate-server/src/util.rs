//! Small helpers shared by the modules that talk to the outside world (`aia`, `gcp_keys`).

use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same directory (created if
/// missing) and a rename, so that a reader, or a crash, never leaves half a file.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `error: cause: cause`, for logs and safe error texts (reqwest's errors carry no body).
pub(crate) fn error_chain(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&current.to_string());
        source = current.source();
    }
    text
}
