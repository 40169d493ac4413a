//! GCP identity tokens (being written).
