//! The manifest: a JSON file beside the dump (`<dump>.manifest.json`)
//! saying what the dump holds and how to check it.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{BackupError, Content, Format, printable};
use crate::error::{Context as _, Error, Result};

/// The manifest format this code writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// What a dump holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    /// When the dump's snapshot was taken.
    pub created_at: DateTime<Utc>,
    /// The tool that made it, with its version (`mv-admin 0.1.0`).
    pub tool: String,
    /// The pg_dump that wrote it.
    pub pg_dump_version: String,
    /// `SHOW server_version` of the source.
    pub server_version: String,
    pub server_version_num: u32,
    /// The source database's name and encoding.
    pub database: String,
    pub encoding: String,
    /// The source's production mark, if any (the mark's table is in the
    /// dump, so a restored copy carries it too).
    pub production_mark: Option<String>,
    pub format: Format,
    pub content: Content,
    pub jobs: u32,
    /// The dump's files: for a custom-format dump its one file, for a
    /// directory dump every file in it, by name.
    pub files: Vec<FileDigest>,
    /// The applied migrations, oldest first.
    pub migrations: Vec<AppliedMigration>,
    /// How [`TableDigest::digest`] is computed.
    pub digest_method: String,
    /// Every table, sorted by schema and name.
    pub tables: Vec<TableDigest>,
}

/// One file of the dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// One applied migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMigration {
    pub version: String,
    pub name: String,
    /// The SHA-256 of its `up.sql` as the history recorded it.
    pub checksum: Option<String>,
}

/// One table; without rows and digest in a schema-only dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDigest {
    pub schema: String,
    pub name: String,
    pub rows: Option<i64>,
    pub digest: Option<String>,
    /// How the rows were hashed: `record` (by column) or `text`.
    pub hashed: Option<String>,
}

impl TableDigest {
    /// `schema.name`, fit for a terminal.
    pub fn qualified(&self) -> String {
        printable(&format!("{}.{}", self.schema, self.name))
    }
}

/// The manifest's path for the dump at `dump`: `<dump>.manifest.json`.
pub fn manifest_path(dump: &Path) -> PathBuf {
    let mut name = dump
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".manifest.json");
    dump.with_file_name(name)
}

impl Manifest {
    /// Reads the manifest beside the dump at `dump`.
    pub fn for_dump(dump: &Path) -> Result<Self> {
        let path = manifest_path(dump);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BackupError::NoManifest {
                    dump: dump.display().to_string(),
                    manifest: path.display().to_string(),
                }
                .into());
            }
            Err(e) => return Err(e).with_context(|| format!("Failed to read {}", path.display())),
        };
        let manifest: Self = serde_json::from_str(&text).map_err(|e| BackupError::BadManifest {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if manifest.manifest_version != MANIFEST_VERSION {
            return Err(BackupError::BadManifest {
                path: path.display().to_string(),
                reason: format!(
                    "its version is {}, this tool reads version {MANIFEST_VERSION}",
                    manifest.manifest_version
                ),
            }
            .into());
        }
        Ok(manifest)
    }

    /// Writes the manifest beside the dump at `dump`, whole or not at all.
    pub(crate) fn write(&self, dump: &Path) -> Result<PathBuf> {
        let path = manifest_path(dump);
        let partial = path.with_extension("json.partial");
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Invalid(format!("the manifest cannot be encoded: {e}")))?;
        fs::write(&partial, text + "\n")
            .and_then(|()| fs::rename(&partial, &path))
            .with_context(|| format!("Failed to write {}", path.display()))?;
        Ok(path)
    }

    /// Rows in all tables.
    pub fn rows(&self) -> i64 {
        self.tables.iter().filter_map(|t| t.rows).sum()
    }

    /// Bytes in all files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// The files of the dump at `dump` with their sizes and SHA-256, sorted by
/// name.
pub(crate) fn file_digests(dump: &Path, format: Format) -> Result<Vec<FileDigest>> {
    let files: Vec<(String, PathBuf)> = match format {
        Format::Custom => vec![(
            dump.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dump.to_path_buf(),
        )],
        Format::Directory => directory_files(dump)?,
    };
    files
        .into_iter()
        .map(|(name, path)| {
            let (bytes, sha256) = sha256_of(&path)?;
            Ok(FileDigest {
                name,
                bytes,
                sha256,
            })
        })
        .collect()
}

fn directory_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("Failed to read {}", dir.display()))? {
        let entry = entry.with_context(|| format!("Failed to read {}", dir.display()))?;
        files.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    files.sort();
    Ok(files)
}

fn sha256_of(path: &Path) -> Result<(u64, String)> {
    let mut file =
        File::open(path).with_context(|| format!("Failed to open {}", path.display()))?;
    let mut hash = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    let mut bytes = 0;
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("Failed to read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hash.update(&buffer[..n]);
        bytes += n as u64;
    }
    let hex = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((bytes, hex))
}

/// Checks the dump's files against the manifest: every file there, of its
/// size and SHA-256, and no other file in a directory dump.
pub(crate) fn check_files(dump: &Path, manifest: &Manifest) -> Result<()> {
    let mut problems = Vec::new();
    let expected: Vec<(String, PathBuf)> = match manifest.format {
        // The file may have been renamed since (with its manifest).
        Format::Custom => manifest
            .files
            .iter()
            .map(|_| (dump.display().to_string(), dump.to_path_buf()))
            .collect(),
        Format::Directory => {
            if !dump.is_dir() {
                problems.push(format!("{} is not a folder", dump.display()));
            } else {
                for (name, _) in directory_files(dump)? {
                    if !manifest.files.iter().any(|f| f.name == name) {
                        problems.push(format!("{} is not in the manifest", printable(&name)));
                    }
                }
            }
            manifest
                .files
                .iter()
                .map(|f| (f.name.clone(), dump.join(&f.name)))
                .collect()
        }
    };
    for (file, (name, path)) in manifest.files.iter().zip(expected) {
        let name = printable(&name);
        if !path.is_file() {
            problems.push(format!("{name} is missing"));
            continue;
        }
        let (bytes, sha256) = sha256_of(&path)?;
        if bytes != file.bytes {
            problems.push(format!(
                "{name} has {bytes} bytes, the manifest says {}",
                file.bytes
            ));
        } else if sha256 != file.sha256 {
            problems.push(format!(
                "{name} has SHA-256 {sha256}, the manifest says {}",
                file.sha256
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BackupError::Damaged {
            path: dump.display().to_string(),
            problems,
        }
        .into())
    }
}

/// Keeps the newest `keep` dumps of `database` in `dir` (those with a
/// manifest, by the time of their snapshot) and deletes the older ones with
/// their manifests; returns the dumps deleted.
pub fn prune(dir: &Path, database: &str, keep: usize) -> Result<Vec<PathBuf>> {
    let mut dumps = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("Failed to read {}", dir.display()))? {
        let entry = entry.with_context(|| format!("Failed to read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(dump_name) = name.strip_suffix(".manifest.json") else {
            continue;
        };
        let dump = dir.join(dump_name);
        // A manifest that cannot be read is not ours to delete.
        let Ok(manifest) = Manifest::for_dump(&dump) else {
            continue;
        };
        if manifest.database == database {
            dumps.push((manifest.created_at, dump));
        }
    }
    dumps.sort();
    let excess = dumps.len().saturating_sub(keep);
    let mut deleted = Vec::new();
    for (_, dump) in dumps.into_iter().take(excess) {
        let removed = if dump.is_dir() {
            fs::remove_dir_all(&dump)
        } else {
            fs::remove_file(&dump).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
        };
        removed.with_context(|| format!("Failed to delete the old dump {}", dump.display()))?;
        fs::remove_file(manifest_path(&dump))
            .with_context(|| format!("Failed to delete the manifest of {}", dump.display()))?;
        deleted.push(dump);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_sits_beside_the_dump() {
        assert_eq!(
            manifest_path(Path::new("/b/mindvault.dump")),
            Path::new("/b/mindvault.dump.manifest.json")
        );
        assert_eq!(
            manifest_path(Path::new("/b/mindvault/")),
            Path::new("/b/mindvault.manifest.json")
        );
    }
}
