//! Every .nix file of the repository, outside target/ and hidden folders: shared by
//! tests/nix.rs and examples/nixfmt.rs.

use std::path::{Path, PathBuf};

pub fn nix_files(dir: &Path) -> Vec<PathBuf> {
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
