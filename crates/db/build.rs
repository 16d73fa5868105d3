//! Rebuilds the embedded migrations when a migration changes, and embeds each
//! migration's SQL text (the migration engine checksums what it runs).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest.join("../../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    collect(&dir, &mut files);
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = fs::write(out.join("embedded_sql.rs"), embedded_sql(&dir)) {
        println!("cargo:warning=could not write the embedded migration texts: {e}");
    }
}

/// A Rust expression listing every migration folder's files, in the shape of
/// `db::migrations::EmbeddedSql`; the texts are `include_str!`ed so the
/// binary needs no migrations folder at run time.
fn embedded_sql(dir: &Path) -> String {
    let mut folders: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default();
    // Diesel's rule: a migration is a folder holding up.sql, not hidden.
    folders.retain(|path| {
        path.join("up.sql").is_file()
            && !path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with('.'))
    });
    folders.sort();
    let include = |path: PathBuf| -> String {
        if path.is_file() {
            format!("Some(include_str!({:?}))", path.to_string_lossy())
        } else {
            "None".to_string()
        }
    };
    let mut code = String::from("&[\n");
    for folder in folders {
        let name = folder
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            code,
            "    EmbeddedSql {{ name: {name:?}, up: include_str!({:?}), down: {}, metadata: {} }},",
            folder.join("up.sql").to_string_lossy(),
            include(folder.join("down.sql")),
            include(folder.join("metadata.toml")),
        );
    }
    code.push(']');
    code
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
