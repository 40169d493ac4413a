//! The Azure root and intermediate certificates compiled into the crate.
//!
//! The files live in `certs/azure/` with their provenance in `certs/azure/README.md`. Roots
//! are pinned by the SHA-256 fingerprint of their DER: [`super::AzureTrust::bundled`] keeps a
//! root only if its file still hashes to the pinned value, and a test checks that all do.
//! Intermediates need no pin: a path through them must still end at a pinned root.

/// One bundled PEM file.
#[derive(Debug, Clone, Copy)]
pub(super) struct BundledCert {
    /// Path below `certs/azure/`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) file: &'static str,
    pub(super) pem: &'static str,
    /// Lowercase hex SHA-256 of the DER (pinned for roots, recorded for intermediates).
    pub(super) sha256: &'static str,
}

macro_rules! bundled {
    ($($file:literal $sha256:literal,)*) => {
        &[$(BundledCert {
            file: $file,
            pem: include_str!(concat!("../../certs/azure/", $file)),
            sha256: $sha256,
        },)*]
    };
}

/// The roots Azure's attested-data signers chain to (Microsoft's list of Azure CAs, as of
/// 2026-12), pinned by SHA-256 fingerprint.
pub(super) static PINNED_ROOTS: &[BundledCert] = bundled! {
    "roots/DigiCert_Global_Root_G2.pem"
        "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f",
    "roots/DigiCert_Global_Root_G3.pem"
        "31ad6648f8104138c738f39ea4320133393e3a18cc02296ef97c2ac9ef6731d0",
    "roots/Microsoft_RSA_Root_Certificate_Authority_2017.pem"
        "c741f70f4b2a8d88bf2e71c14122ef53ef10eba0cfa5e64cfa20f418853073e0",
    "roots/Microsoft_ECC_Root_Certificate_Authority_2017.pem"
        "358df39d764af9e1b766e9c972df352ee15cfac227af6ad1d70e8e4a6edcba02",
    "roots/Microsoft_TLS_RSA_Root_G2.pem"
        "6a170583db584151e1c454eeca2a64cc5d8e484a5bd1156e720b4458654ee9e5",
};

/// Issuing and cross-signed CAs that were valid on 2026-12-04.
pub(super) static INTERMEDIATES: &[BundledCert] = bundled! {
    "intermediates/Microsoft_TLS_G2_RSA_CA_OCSP_02.pem"
        "ea7a25255d111fc3ce4cb8fabe3adf9c27bbe6db203f955066bab4c5a71f3d08",
    "intermediates/Microsoft_TLS_RSA_Root_G2_xsign_DigiCert_G2.pem"
        "ddcd1e8a20638d4aaff7201bb1d56452acd2c759f1686bdc38f73dd15732bdc2",
};

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// Every PEM file under `certs/azure/{roots,intermediates}` is in the tables, and back.
    #[test]
    fn tables_cover_every_bundled_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/azure");
        let mut on_disk = BTreeSet::new();
        for folder in ["roots", "intermediates"] {
            for entry in std::fs::read_dir(dir.join(folder)).expect("certs/azure folder") {
                let name = entry.expect("entry").file_name();
                let name = name.to_string_lossy();
                if name.ends_with(".pem") {
                    on_disk.insert(format!("{folder}/{name}"));
                }
            }
        }
        let in_tables: BTreeSet<String> = PINNED_ROOTS
            .iter()
            .chain(INTERMEDIATES)
            .map(|cert| cert.file.to_owned())
            .collect();
        assert_eq!(on_disk, in_tables);
    }

    /// The README lists each file with the same fingerprint as the tables.
    #[test]
    fn readme_lists_every_fingerprint() {
        let readme = include_str!("../../certs/azure/README.md");
        for cert in PINNED_ROOTS.iter().chain(INTERMEDIATES) {
            let line = readme
                .lines()
                .find(|line| line.contains(cert.file))
                .unwrap_or_else(|| panic!("{} not in README.md", cert.file));
            assert!(line.contains(cert.sha256), "{}: {line}", cert.file);
        }
    }
}
