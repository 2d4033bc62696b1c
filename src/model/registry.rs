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

/// Where a folder's verified files are noted, by name: sha256 with the file's identity when it
/// was hashed.
const STAMPS: &str = ".newsclust-verified.json";

/// A file's identity: size, device and inode, times modified and changed (the change time moves
/// on any write or `touch`, and cannot be set back).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Stamp {
    sha256: String,
    len: u64,
    dev: u64,
    ino: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(path: &Path, sha256: &str) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
        Some(Self {
            sha256: sha256.to_string(),
            len: m.len(),
            dev: m.dev(),
            ino: m.ino(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        })
    }
}

type Stamps = std::collections::BTreeMap<String, Stamp>;

fn read_stamps(dir: &Path) -> Stamps {
    std::fs::read(dir.join(STAMPS))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Notes the stamps (under a temporary name, renamed); a folder that cannot be written (a
/// read-only image) is left as it is: its files are then hashed at each load.
fn write_stamps(dir: &Path, stamps: &Stamps) {
    let temp = dir.join(format!("{STAMPS}.{}.tmp", std::process::id()));
    let text = serde_json::to_vec_pretty(stamps).expect("stamps serialize");
    let written =
        std::fs::write(&temp, text).and_then(|_| std::fs::rename(&temp, dir.join(STAMPS)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        tracing::debug!(
            "{}: checksums not noted ({e}); they are computed at each load",
            dir.display()
        );
    }
}

/// Checks each registry file of `entry` in `dir` by its sha256. A file whose identity (size,
/// inode, times modified and changed) is the one noted when it last hashed right is not hashed
/// again: any write to it, or a copy in its place, changes its change time.
pub fn verify(dir: &Path, entry: &RegistryEntry) -> Result<(), ModelError> {
    let noted = read_stamps(dir);
    let mut stamps = noted.clone();
    for (name, expected) in &entry.files {
        let path = dir.join(name);
        let known = noted.get(name).filter(|s| &s.sha256 == expected);
        if known.is_some() && known.cloned() == Stamp::of(&path, expected) {
            continue;
        }
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
        match Stamp::of(&path, &actual) {
            Some(stamp) => stamps.insert(name.clone(), stamp),
            None => stamps.remove(name),
        };
    }
    if stamps != noted {
        write_stamps(dir, &stamps);
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

    /// A file noted as verified is not hashed again until it changes; a changed one (same size
    /// and modification time, new content) is hashed and fails.
    #[test]
    fn verified_files_are_noted_and_any_change_is_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.bin"), b"abc").unwrap();
        let entry = RegistryEntry {
            id: "test/model".into(),
            revision: "r".into(),
            dimension: 1,
            pooling: "mean".into(),
            normalize: true,
            max_seq_length: 8,
            files: [(
                "w.bin".to_string(),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string(),
            )]
            .into(),
        };
        verify(dir.path(), &entry).unwrap();
        let stamps = read_stamps(dir.path());
        assert_eq!(stamps["w.bin"].len, 3);
        // A noted stamp with another checksum is not trusted: the file is hashed (and passes).
        let mut wrong = stamps.clone();
        wrong.get_mut("w.bin").unwrap().sha256 = "00".into();
        write_stamps(dir.path(), &wrong);
        verify(dir.path(), &entry).unwrap();
        assert_eq!(read_stamps(dir.path()), stamps);
        // Same size, modification time put back: the change time still moves, so it is hashed.
        let path = dir.path().join("w.bin");
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"abd").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let e = verify(dir.path(), &entry).unwrap_err().to_string();
        assert!(e.contains("w.bin"), "{e}");
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
