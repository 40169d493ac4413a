//! Fetching missing Azure intermediates from AIA URLs, safely (being written).
