//! The models newsclust knows (`models/registry.json`, compiled in) and checking files against it.

use std::path::Path;
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use super::{ChecksumMismatch, ModelError};

#[derive(Clone, Debug, serde::Deserialize)]
pub struct RegistryEntry {
    pub id: String,
    pub revision: String,
    pub dimension: usize,
    pub pooling: String,
    pub normalize: bool,
    pub max_seq_length: usize,
    /// File name (relative to the model folder) → sha256.
    pub files: std::collections::BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
struct RegistryFile {
    models: Vec<RegistryEntry>,
}

/// Every registry entry.
pub static REGISTRY: LazyLock<Vec<RegistryEntry>> = LazyLock::new(|| {
    let file: RegistryFile = serde_json::from_str(include_str!("../../models/registry.json"))
        .expect("models/registry.json is checked by a unit test");
    file.models
});

/// Checks each registry file of `entry` in `dir` by its sha256.
pub fn verify(dir: &Path, entry: &RegistryEntry) -> Result<(), ModelError> {
    for (name, expected) in &entry.files {
        let path = dir.join(name);
        let actual = sha256_file(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ModelError::Missing { path: path.clone() },
            _ => ModelError::Io {
                path: path.clone(),
                source,
            },
        })?;
        if &actual != expected {
            return Err(ModelError::Checksum(Box::new(ChecksumMismatch {
                path,
                actual,
                expected: expected.clone(),
                id: entry.id.clone(),
                revision: entry.revision.clone(),
                dir: dir.to_path_buf(),
            })));
        }
    }
    Ok(())
}

/// Hex sha256 of a file. The file is mapped rather than read: no copy into a buffer, and the
/// pages stay in the page cache for the loader that maps the weights next.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    if file.metadata()?.len() > 0 {
        // SAFETY: mapped read-only while hashed, as the weights loader maps it next; model
        // files are only read (one rewritten meanwhile hashes wrong and fails the check).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        hasher.update(&map[..]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_parses_and_has_the_default_model() {
        let entry = REGISTRY
            .iter()
            .find(|e| e.id == "sentence-transformers/all-MiniLM-L6-v2")
            .unwrap();
        assert_eq!(entry.dimension, 384);
        assert_eq!(
            entry.files["model.safetensors"],
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
        );
    }

    #[test]
    fn sha256_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
