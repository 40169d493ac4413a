//! The emulator over real HTTP: each test starts one in-process on port 0 (`server::spawn`)
//! and talks to it with reqwest.

mod aws;
mod azure;
mod faults;
mod files;
mod gcp;
mod support;
