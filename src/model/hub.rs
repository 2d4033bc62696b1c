//! Fetching a model through hf-hub (its cache; the network unless offline).

use std::path::{Path, PathBuf};

use hf_hub::{api::sync::ApiBuilder, Cache, Repo, RepoType};

use super::{ModelError, ModelFiles, ResolveOptions, INSTALL_HINT};

/// Gets one file of the repository: a local path, or why not.
type GetFile = Box<dyn Fn(&str) -> Result<PathBuf, String>>;

pub(super) fn fetch(
    id: &str,
    revision: Option<&str>,
    options: &ResolveOptions,
) -> Result<ModelFiles, ModelError> {
    let revision = revision.unwrap_or("main").to_string();
    let repo = Repo::with_revision(id.to_string(), RepoType::Model, revision.clone());
    let hub_err = |reason: String| ModelError::Hub {
        id: id.to_string(),
        models_dir: options.models_dir.clone(),
        reason,
        hint: INSTALL_HINT,
    };
    let get: GetFile = if options.offline {
        let cache = Cache::from_env().repo(repo);
        Box::new(move |name| {
            cache
                .get(name)
                .ok_or_else(|| format!("{name} is not in the hub cache and HF_HUB_OFFLINE is set"))
        })
    } else {
        let api = ApiBuilder::from_env()
            .with_progress(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .build()
            .map_err(|e| hub_err(e.to_string()))?;
        let api = api.repo(repo);
        Box::new(move |name| api.get(name).map_err(|e| format!("{name}: {e}")))
    };
    let config = get("config.json").map_err(hub_err)?;
    let tokenizer = get("tokenizer.json").map_err(hub_err)?;
    let weights = get("model.safetensors").map_err(hub_err)?;
    let modules = get("modules.json").ok();
    let dir = config.parent().map(Path::to_path_buf).unwrap_or_default();
    let pooling_folder = match &modules {
        Some(_) => super::modules_pooling_folder(&dir)?,
        None => None,
    };
    let pooling = get(&format!(
        "{}/config.json",
        pooling_folder.as_deref().unwrap_or("1_Pooling")
    ))
    .ok();
    let sentence_config = get("sentence_bert_config.json").ok();
    // The snapshot folder is named by the commit the revision resolved to.
    let resolved = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(revision);
    Ok(ModelFiles {
        id: id.to_string(),
        revision: resolved,
        dir,
        config,
        tokenizer,
        weights,
        modules,
        pooling,
        sentence_config,
    })
}
