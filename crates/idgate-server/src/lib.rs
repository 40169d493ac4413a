//! The idgate HTTP server.
