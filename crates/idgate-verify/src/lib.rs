//! Pure verification of cloud instance-identity proofs.
