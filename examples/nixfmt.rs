//! Formats the repository's Nix files in place with alejandra (the formatter `nix fmt` runs).
//!
//!     cargo run --example nixfmt
//!
//! `cargo test` fails when a file is not formatted (tests/nix.rs).

#[path = "../tests/support/nix_files.rs"]
mod nix_files;

use nix_files::nix_files;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut changed = 0;
    for path in nix_files(root) {
        match alejandra::format::in_fs(path.display().to_string(), true) {
            alejandra::format::Status::Changed(true) => {
                println!("formatted {}", path.display());
                changed += 1;
            }
            alejandra::format::Status::Changed(false) => {}
            alejandra::format::Status::Error(e) => {
                eprintln!("nixfmt: {}: {e}", path.display());
                std::process::exit(2);
            }
        }
    }
    println!("{changed} files changed");
}
