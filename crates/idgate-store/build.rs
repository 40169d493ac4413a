//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds the migration files at
//! compile time, and a proc macro cannot tell cargo to watch a directory by itself.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
