//! The GCP key set: fetched, cached, refreshed and persisted (being written).
