//! Azure attested data (being written).
