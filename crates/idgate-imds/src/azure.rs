//! Azure attested documents (being written).
