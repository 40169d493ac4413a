//! The AWS certificates compiled into the crate, one `include_str!` per file.
//!
//! The files live in `certs/aws/` with their provenance in `certs/aws/README.md`. This table
//! was written by listing that folder; `tests::table_covers_every_bundled_file` checks that
//! the two stay in step.

use super::trust::AwsKeyKind;

/// Which regions a bundled certificate serves.
#[derive(Debug, Clone, Copy)]
pub(super) enum BundledScope {
    /// The listed regions.
    Regions(&'static [&'static str]),
    /// Every region without a certificate of the same kind of its own (AWS's generic DSA
    /// certificate).
    OtherRegions,
}

/// One bundled PEM file.
#[derive(Debug, Clone, Copy)]
pub(super) struct BundledCert {
    pub(super) kind: AwsKeyKind,
    /// Path below `certs/aws/` (read by the tests that keep this table and the folder in
    /// step).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) file: &'static str,
    pub(super) scope: BundledScope,
    pub(super) pem: &'static str,
}

macro_rules! bundled {
    (@scope regions [$($region:literal),*]) => {
        BundledScope::Regions(&[$($region),*])
    };
    (@scope other_regions) => {
        BundledScope::OtherRegions
    };
    ($($kind:ident $file:literal $scope:ident $([$($region:literal),*])?,)*) => {
        &[$(BundledCert {
            kind: AwsKeyKind::$kind,
            file: $file,
            scope: bundled!(@scope $scope $([$($region),*])?),
            pem: include_str!(concat!("../../certs/aws/", $file)),
        },)*]
    };
}

/// Every bundled certificate: `rsa/` for `signature`, `rsa2048/` and `dsa/` for PKCS#7.
pub(super) static BUNDLED: &[BundledCert] = bundled! {
    Signature "rsa/af-south-1.pem" regions ["af-south-1"],
    Signature "rsa/ap-east-1.pem" regions ["ap-east-1"],
    Signature "rsa/ap-east-2.pem" regions ["ap-east-2"],
    Signature "rsa/ap-northeast-1.pem" regions ["ap-northeast-1"],
    Signature "rsa/ap-northeast-2.pem" regions ["ap-northeast-2"],
    Signature "rsa/ap-northeast-3.pem" regions ["ap-northeast-3"],
    Signature "rsa/ap-south-1.pem" regions ["ap-south-1"],
    Signature "rsa/ap-south-2.pem" regions ["ap-south-2"],
    Signature "rsa/ap-southeast-1.pem" regions ["ap-southeast-1"],
    Signature "rsa/ap-southeast-2.pem" regions ["ap-southeast-2"],
    Signature "rsa/ap-southeast-3.pem" regions ["ap-southeast-3"],
    Signature "rsa/ap-southeast-4.pem" regions ["ap-southeast-4"],
    Signature "rsa/ap-southeast-5.pem" regions ["ap-southeast-5"],
    Signature "rsa/ap-southeast-6.pem" regions ["ap-southeast-6"],
    Signature "rsa/ap-southeast-7.pem" regions ["ap-southeast-7"],
    Signature "rsa/ca-central-1.pem" regions ["ca-central-1"],
    Signature "rsa/ca-west-1.pem" regions ["ca-west-1"],
    Signature "rsa/cn-north-1.pem" regions ["cn-north-1"],
    Signature "rsa/cn-northwest-1.pem" regions ["cn-northwest-1"],
    Signature "rsa/eu-central-1.pem" regions ["eu-central-1"],
    Signature "rsa/eu-central-2.pem" regions ["eu-central-2"],
    Signature "rsa/eu-north-1.pem" regions ["eu-north-1"],
    Signature "rsa/eu-south-1.pem" regions ["eu-south-1"],
    Signature "rsa/eu-south-2.pem" regions ["eu-south-2"],
    Signature "rsa/eu-west-1.pem" regions ["eu-west-1"],
    Signature "rsa/eu-west-2.pem" regions ["eu-west-2"],
    Signature "rsa/eu-west-3.pem" regions ["eu-west-3"],
    Signature "rsa/eusc-de-east-1.pem" regions ["eusc-de-east-1"],
    Signature "rsa/il-central-1.pem" regions ["il-central-1"],
    Signature "rsa/me-central-1.pem" regions ["me-central-1"],
    Signature "rsa/me-south-1.pem" regions ["me-south-1"],
    Signature "rsa/mx-central-1.pem" regions ["mx-central-1"],
    Signature "rsa/sa-east-1.pem" regions ["sa-east-1"],
    Signature "rsa/us-east-1.pem" regions ["us-east-1"],
    Signature "rsa/us-east-2.pem" regions ["us-east-2"],
    Signature "rsa/us-gov-east-1.pem" regions ["us-gov-east-1"],
    Signature "rsa/us-gov-west-1.pem" regions ["us-gov-west-1"],
    Signature "rsa/us-west-1.pem" regions ["us-west-1"],
    Signature "rsa/us-west-2.pem" regions ["us-west-2"],
    Rsa2048 "rsa2048/af-south-1.pem" regions ["af-south-1"],
    Rsa2048 "rsa2048/ap-east-1.pem" regions ["ap-east-1"],
    Rsa2048 "rsa2048/ap-east-2.pem" regions ["ap-east-2"],
    Rsa2048 "rsa2048/ap-northeast-1.pem" regions ["ap-northeast-1"],
    Rsa2048 "rsa2048/ap-northeast-2.pem" regions ["ap-northeast-2"],
    Rsa2048 "rsa2048/ap-northeast-3.pem" regions ["ap-northeast-3"],
    Rsa2048 "rsa2048/ap-south-1.pem" regions ["ap-south-1"],
    Rsa2048 "rsa2048/ap-south-2.pem" regions ["ap-south-2"],
    Rsa2048 "rsa2048/ap-southeast-1.pem" regions ["ap-southeast-1"],
    Rsa2048 "rsa2048/ap-southeast-2.pem" regions ["ap-southeast-2"],
    Rsa2048 "rsa2048/ap-southeast-3.pem" regions ["ap-southeast-3"],
    Rsa2048 "rsa2048/ap-southeast-4.pem" regions ["ap-southeast-4"],
    Rsa2048 "rsa2048/ap-southeast-5.pem" regions ["ap-southeast-5"],
    Rsa2048 "rsa2048/ap-southeast-6.pem" regions ["ap-southeast-6"],
    Rsa2048 "rsa2048/ap-southeast-7.pem" regions ["ap-southeast-7"],
    Rsa2048 "rsa2048/ca-central-1.pem" regions ["ca-central-1"],
    Rsa2048 "rsa2048/ca-west-1.pem" regions ["ca-west-1"],
    Rsa2048 "rsa2048/cn-north-1.pem" regions ["cn-north-1"],
    Rsa2048 "rsa2048/cn-northwest-1.pem" regions ["cn-northwest-1"],
    Rsa2048 "rsa2048/eu-central-1.pem" regions ["eu-central-1"],
    Rsa2048 "rsa2048/eu-central-2.pem" regions ["eu-central-2"],
    Rsa2048 "rsa2048/eu-north-1.pem" regions ["eu-north-1"],
    Rsa2048 "rsa2048/eu-south-1.pem" regions ["eu-south-1"],
    Rsa2048 "rsa2048/eu-south-2.pem" regions ["eu-south-2"],
    Rsa2048 "rsa2048/eu-west-1.pem" regions ["eu-west-1"],
    Rsa2048 "rsa2048/eu-west-2.pem" regions ["eu-west-2"],
    Rsa2048 "rsa2048/eu-west-3.pem" regions ["eu-west-3"],
    Rsa2048 "rsa2048/eusc-de-east-1.pem" regions ["eusc-de-east-1"],
    Rsa2048 "rsa2048/il-central-1.pem" regions ["il-central-1"],
    Rsa2048 "rsa2048/me-central-1.pem" regions ["me-central-1"],
    Rsa2048 "rsa2048/me-south-1.pem" regions ["me-south-1"],
    Rsa2048 "rsa2048/mx-central-1.pem" regions ["mx-central-1"],
    Rsa2048 "rsa2048/sa-east-1.pem" regions ["sa-east-1"],
    Rsa2048 "rsa2048/us-east-1.pem" regions ["us-east-1"],
    Rsa2048 "rsa2048/us-east-2.pem" regions ["us-east-2"],
    Rsa2048 "rsa2048/us-gov-east-1.pem" regions ["us-gov-east-1"],
    Rsa2048 "rsa2048/us-gov-west-1.pem" regions ["us-gov-west-1"],
    Rsa2048 "rsa2048/us-west-1.pem" regions ["us-west-1"],
    Rsa2048 "rsa2048/us-west-2.pem" regions ["us-west-2"],
    Dsa "dsa/af-south-1.pem" regions ["af-south-1"],
    Dsa "dsa/ap-east-1.pem" regions ["ap-east-1"],
    Dsa "dsa/ap-south-2.pem" regions ["ap-south-2"],
    Dsa "dsa/ap-southeast-3.pem" regions ["ap-southeast-3"],
    Dsa "dsa/ap-southeast-4.pem" regions ["ap-southeast-4"],
    Dsa "dsa/cn-north-1_cn-northwest-1.pem" regions ["cn-north-1", "cn-northwest-1"],
    Dsa "dsa/default-all-other-regions.pem" other_regions,
    Dsa "dsa/eu-central-2.pem" regions ["eu-central-2"],
    Dsa "dsa/eu-south-1.pem" regions ["eu-south-1"],
    Dsa "dsa/eu-south-2.pem" regions ["eu-south-2"],
    Dsa "dsa/me-central-1.pem" regions ["me-central-1"],
    Dsa "dsa/me-south-1.pem" regions ["me-south-1"],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_every_bundled_file() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/aws");
        let mut on_disk = Vec::new();
        for dir in ["rsa", "rsa2048", "dsa"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("certs folder") {
                let name = entry.expect("entry").file_name();
                on_disk.push(format!("{dir}/{}", name.to_string_lossy()));
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = BUNDLED.iter().map(|cert| cert.file.to_owned()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }

    #[test]
    fn file_names_match_regions_and_kinds() {
        for cert in BUNDLED {
            let (dir, name) = cert.file.split_once('/').expect("dir/name");
            let expected_dir = match cert.kind {
                AwsKeyKind::Signature => "rsa",
                AwsKeyKind::Rsa2048 => "rsa2048",
                AwsKeyKind::Dsa => "dsa",
            };
            assert_eq!(dir, expected_dir, "{}", cert.file);
            let stem = name.strip_suffix(".pem").expect(".pem");
            match cert.scope {
                BundledScope::Regions(regions) => assert_eq!(regions.join("_"), stem),
                BundledScope::OtherRegions => assert_eq!(stem, "default-all-other-regions"),
            }
        }
    }
}
