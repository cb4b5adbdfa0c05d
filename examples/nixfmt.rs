//! Formats the repository's Nix files in place with alejandra (the formatter `nix fmt` runs).
//!
//!     cargo run --example nixfmt
//!
//! `cargo test` fails when a file is not formatted (tests/nix.rs).

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

/// Every .nix file of the repository, outside target/ and hidden folders.
fn nix_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if !name.starts_with('.') && name != "target" {
                out.extend(nix_files(&p));
            }
        } else if name.ends_with(".nix") {
            out.push(p);
        }
    }
    out.sort();
    out
}
