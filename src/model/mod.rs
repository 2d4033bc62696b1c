//! Finding a model's files: a local folder, an installed registry model, or the Hugging Face hub.
//!
//! `--model` takes a folder or a hub id with an optional `@revision`. An id is looked up first
//! in the models folder ([`ResolveOptions::models_dir`], `models/` by default), where `models/install-default.sh`
//! installs registry models without hub access, then through hf-hub (its cache under `HF_HOME`;
//! with `HF_HUB_OFFLINE=1` the cache only). Files of registry models are checked against the
//! sha256 sums in `models/registry.json`.

mod hub;
pub mod registry;

use std::path::{Path, PathBuf};

pub use registry::{RegistryEntry, REGISTRY};

/// The hint printed with every missing-model error.
#[derive(Clone, Copy, Debug)]
pub struct InstallHint;

/// The hint printed with every missing-model error.
pub const INSTALL_HINT: InstallHint = InstallHint;

impl std::fmt::Display for InstallHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "for the default model run `sh models/install-default.sh` (no hub access needed); \
otherwise pass {} with a sentence-transformers folder or a hub id",
            crate::setting::Setting::Model
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: missing model file; {INSTALL_HINT}")]
    Missing { path: PathBuf },
    #[error("{path}: missing model file; no such folder, and '{id}' is not a hub id (org/name); {INSTALL_HINT}")]
    NotAHubId { path: PathBuf, id: String },
    #[error(transparent)]
    Checksum(Box<ChecksumMismatch>),
    #[error("model '{id}' is not a folder here, not installed in {models_dir}, and the hub could not provide it: {reason}; {hint}")]
    Hub {
        id: String,
        models_dir: PathBuf,
        reason: String,
        hint: InstallHint,
    },
    #[error("{path}: not a valid modules.json: {source}")]
    Modules {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A registry model's file whose sha256 is not the registry's.
#[derive(Debug, thiserror::Error)]
#[error("{path}: corrupt model file (sha256 {actual}, expected {expected} for {id} at {revision}); delete {} and {INSTALL_HINT}", dir.display())]
pub struct ChecksumMismatch {
    pub path: PathBuf,
    pub actual: String,
    pub expected: String,
    pub id: String,
    pub revision: String,
    /// The model's folder.
    pub dir: PathBuf,
}

/// Where to look for models.
#[derive(Clone, Debug)]
pub struct ResolveOptions {
    /// Folder holding installed models as `<models_dir>/<org>/<name>/`.
    pub models_dir: PathBuf,
    /// Use only the hub cache, never the network (`HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// Check registry models' sha256 sums.
    pub verify: bool,
}

impl Default for ResolveOptions {
    /// `models` beside the working directory, offline when hf-hub's `HF_HUB_OFFLINE` says so,
    /// verification on.
    fn default() -> Self {
        let models_dir = PathBuf::from("models");
        let offline = std::env::var("HF_HUB_OFFLINE")
            .map(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "yes" | "ON" | "on"))
            .unwrap_or(false);
        Self {
            models_dir,
            offline,
            verify: true,
        }
    }
}

/// A model's files on disk, with the identity recorded in outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFiles {
    pub id: String,
    pub revision: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub tokenizer: PathBuf,
    pub weights: PathBuf,
    pub modules: Option<PathBuf>,
    pub pooling: Option<PathBuf>,
    pub sentence_config: Option<PathBuf>,
}

/// Resolves `--model` (a folder, or `org/name[@revision]`) to files on disk.
pub fn resolve(spec: &str, options: &ResolveOptions) -> Result<ModelFiles, ModelError> {
    let spec = spec.trim();
    let as_path = Path::new(spec);
    if as_path.is_dir() {
        let entry = REGISTRY.iter().find(|e| as_path.ends_with(&e.id));
        let (id, revision) = match entry {
            Some(e) => (e.id.clone(), e.revision.clone()),
            None => (spec.to_string(), "local".to_string()),
        };
        return local(as_path, id, revision, entry, options);
    }
    let (id, revision) = match spec.split_once('@') {
        Some((id, rev)) => (id, Some(rev)),
        None => (spec, None),
    };
    let entry = REGISTRY.iter().find(|e| e.id == id);
    if let Some(entry) = entry {
        let installed = options.models_dir.join(id);
        let wanted = revision.is_none_or(|r| entry.revision.starts_with(r));
        if wanted && installed.join("config.json").is_file() {
            return local(
                &installed,
                entry.id.clone(),
                entry.revision.clone(),
                Some(entry),
                options,
            );
        }
    }
    if !looks_like_hub_id(id) {
        return Err(ModelError::NotAHubId {
            path: as_path.to_path_buf(),
            id: id.to_string(),
        });
    }
    let files = hub::fetch(id, revision, options)?;
    let registry_match = entry.filter(|e| e.revision == files.revision);
    if let (Some(entry), true) = (registry_match, options.verify) {
        registry::verify(&files.dir, entry)?;
    }
    Ok(files)
}

fn looks_like_hub_id(id: &str) -> bool {
    let mut parts = id.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

fn local(
    dir: &Path,
    id: String,
    revision: String,
    entry: Option<&RegistryEntry>,
    options: &ResolveOptions,
) -> Result<ModelFiles, ModelError> {
    let need = |name: &str| -> Result<PathBuf, ModelError> {
        let path = dir.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(ModelError::Missing { path })
        }
    };
    let optional = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
    let files = ModelFiles {
        id,
        revision,
        dir: dir.to_path_buf(),
        config: need("config.json")?,
        tokenizer: need("tokenizer.json")?,
        weights: need("model.safetensors")?,
        modules: optional("modules.json"),
        pooling: pooling_path(dir)?,
        sentence_config: optional("sentence_bert_config.json"),
    };
    if let (Some(entry), true) = (entry, options.verify) {
        registry::verify(dir, entry)?;
    }
    Ok(files)
}

/// The pooling config named by `modules.json` (or the usual `1_Pooling/config.json`).
fn pooling_path(dir: &Path) -> Result<Option<PathBuf>, ModelError> {
    let folder = match modules_pooling_folder(dir)? {
        Some(folder) => folder,
        None => "1_Pooling".to_string(),
    };
    Ok(Some(dir.join(folder).join("config.json")).filter(|p| p.is_file()))
}

/// The `path` of the Pooling module listed in `modules.json`, if the file exists.
pub(crate) fn modules_pooling_folder(dir: &Path) -> Result<Option<String>, ModelError> {
    let path = dir.join("modules.json");
    if !path.is_file() {
        return Ok(None);
    }
    let modules = read_modules(&path)?;
    Ok(modules
        .into_iter()
        .find(|m| m.kind.ends_with(".Pooling"))
        .map(|m| m.path))
}

#[derive(serde::Deserialize)]
pub(crate) struct ModuleEntry {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub path: String,
}

pub(crate) fn read_modules(path: &Path) -> Result<Vec<ModuleEntry>, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ModelError::Modules {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_are_recognised() {
        assert!(looks_like_hub_id("sentence-transformers/all-MiniLM-L6-v2"));
        assert!(!looks_like_hub_id("no-slash"));
        assert!(!looks_like_hub_id("a/b/c"));
        assert!(!looks_like_hub_id("./local/dir"));
    }

    #[test]
    fn missing_folder_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let options = ResolveOptions {
            models_dir: dir.path().to_path_buf(),
            offline: true,
            verify: true,
        };
        let err = resolve(dir.path().to_str().unwrap(), &options).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("tokenizer.json") && msg.contains("install-default.sh"),
            "{msg}"
        );
    }
}
