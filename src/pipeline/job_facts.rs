//! What identifies an embedding job's input and settings: the facts a resumed job must share
//! with the checkpoint it goes on from, and the input fingerprint each embeddings file carries.

use super::model::ModelParts;
use crate::config::ValidEmbed;
use crate::error::Error;
use crate::io::embeddings_out::ROW_GROUP_ROWS;

/// What a resumed job must share with the one that made the checkpoint (besides the device and
/// batch size, known once the model is loaded): the input files as they were (size and time
/// modified), how they are read and composed, the model, the shard and the row groups.
pub(super) fn job_facts(
    config: &ValidEmbed,
    parts: &ModelParts,
    sizes: &[InputFile],
    slice: Option<&(std::ops::Range<u64>, u64)>,
) -> Vec<(String, String)> {
    let job = config.config();
    let inputs: Vec<String> = sizes
        .iter()
        .map(|f| match f.modified_ns {
            Some(ns) => format!("{} ({} bytes, modified {ns} ns)", f.path.display(), f.size),
            None => format!("{} ({} bytes)", f.path.display(), f.size),
        })
        .collect();
    vec![
        ("version".into(), crate::VERSION.into()),
        ("inputs".into(), inputs.join("; ")),
        ("read".into(), format!("{:?}", job.input.read)),
        ("text".into(), format!("{:?}", job.input.text)),
        (
            "model".into(),
            format!(
                "{}@{}, max {} tokens",
                parts.files.id, parts.files.revision, parts.config.max_length
            ),
        ),
        ("precision".into(), job.compute.precision.name().into()),
        (
            "shard".into(),
            match (config.shard(), slice) {
                (Some(shard), Some((range, total))) => {
                    format!("{shard}: {}-{} of {total}", range.start, range.end)
                }
                _ => "none".into(),
            },
        ),
        (
            "row_group_rows".into(),
            job.row_group_rows.unwrap_or(ROW_GROUP_ROWS).to_string(),
        ),
    ]
}

/// An input file's size (and, on a local disk, when it was modified).
pub(super) struct InputFile {
    path: std::path::PathBuf,
    size: u64,
    modified_ns: Option<u128>,
}

pub(super) fn input_sizes(files: &[std::path::PathBuf]) -> Result<Vec<InputFile>, Error> {
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let open_err = |source| crate::io::ReadError::Open {
            path: path.clone(),
            source,
        };
        if crate::io::remote::is_url(path) {
            let size = crate::io::remote::Remote::parse(path)
                .and_then(|r| r.size())
                .map_err(open_err)?;
            out.push(InputFile {
                path: path.clone(),
                size,
                modified_ns: None,
            });
            continue;
        }
        let meta = std::fs::metadata(path).map_err(open_err)?;
        out.push(InputFile {
            path: path.clone(),
            size: meta.len(),
            modified_ns: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos()),
        });
    }
    Ok(out)
}

/// [`crate::io::format::meta::INPUT`]: a sha256 of each input file's name (not its folder: shards on machines that
/// mount the corpus elsewhere agree) and size, how the files are read and the texts composed.
pub(super) fn fingerprint(config: &ValidEmbed, files: &[InputFile]) -> String {
    use sha2::{Digest, Sha256};
    let job = config.config();
    let mut h = Sha256::new();
    for f in files {
        let name = f.path.file_name().unwrap_or_default().to_string_lossy();
        h.update(format!("{name}\t{}\n", f.size));
    }
    // --limit is left out: it is part of the record ranges the parts already carry.
    let read = crate::io::ReadOptions {
        limit: None,
        ..job.input.read.clone()
    };
    h.update(format!("{read:?}\n{:?}\n", job.input.text));
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
