//! A job's outputs kept apart from its inputs: an output that is an input would be overwritten
//! while (or after) it is read, and one inside an input folder would be read back as input by
//! the next run. Both are refused before any work.

use std::path::{Path, PathBuf};

use super::ConfigError;
use crate::io::format::files;

/// Refuses an output that is one of `inputs` (the same file, by any path) or lies in an input
/// folder (whose files are read).
pub(crate) fn check_apart(inputs: &[PathBuf], outputs: &[PathBuf]) -> Result<(), ConfigError> {
    for input in inputs {
        if crate::io::remote::is_url(input) {
            remote_apart(input, outputs)?;
            continue;
        }
        let Ok(meta) = std::fs::metadata(input) else {
            // A missing input is the reader's error, named there.
            continue;
        };
        let input_at = canonical(input);
        for output in outputs {
            if meta.is_dir() {
                let folder = output.parent().map(canonical);
                if folder.as_ref() == Some(&input_at) {
                    return Err(ConfigError::OutputInInputFolder {
                        output: output.clone(),
                        folder: input.clone(),
                    });
                }
            } else if canonical(output) == input_at {
                return Err(ConfigError::OutputIsInput {
                    output: output.clone(),
                });
            }
        }
    }
    Ok(())
}

/// [`check_apart`] for an input in object storage, by URL: an object, or a prefix whose objects
/// are read (a URL that names no object is one).
fn remote_apart(input: &Path, outputs: &[PathBuf]) -> Result<(), ConfigError> {
    let text = |p: &Path| p.to_string_lossy().trim_end_matches('/').to_string();
    let input_at = text(input);
    for output in outputs {
        if text(output) == input_at {
            return Err(ConfigError::OutputIsInput {
                output: output.clone(),
            });
        }
        let prefix = output.parent().map(text);
        let is_prefix = input.to_string_lossy().ends_with('/')
            || crate::io::remote::Remote::parse(input).is_ok_and(|r| r.size().is_err());
        if prefix.as_deref() == Some(input_at.as_str()) && is_prefix {
            return Err(ConfigError::OutputInInputFolder {
                output: output.clone(),
                folder: input.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// The files a clustering job writes into `out`.
pub(crate) fn cluster_outputs(out: &Path) -> Vec<PathBuf> {
    [
        files::DOCUMENTS,
        files::TOPICS,
        files::TOPICS_OVER_TIME,
        files::HIERARCHY,
        files::RUN_JSON,
        files::REPORT,
    ]
    .iter()
    .map(|f| out.join(f))
    .collect()
}

/// `path` with links and `..` resolved; for a path that does not exist yet, its nearest
/// existing ancestor resolved and the rest appended.
fn canonical(path: &Path) -> PathBuf {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    if let Ok(found) = std::fs::canonicalize(path) {
        return found;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => canonical(parent).join(name),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_that_are_inputs_or_in_input_folders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.jsonl");
        std::fs::write(&input, "{}\n").unwrap();
        // The same file, by another spelling.
        let other_spelling = dir.path().join(".").join("a.jsonl");
        let e = check_apart(std::slice::from_ref(&input), &[other_spelling]).unwrap_err();
        assert!(matches!(e, ConfigError::OutputIsInput { .. }), "{e}");
        // A file inside an input folder, existing or not.
        let e = check_apart(
            &[dir.path().to_path_buf()],
            &[dir.path().join("all.parquet")],
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::OutputInInputFolder { .. }), "{e}");
        assert!(e.to_string().contains("read as input"), "{e}");
        // Beside the input, or in a subfolder of an input folder (not read): fine.
        check_apart(
            std::slice::from_ref(&input),
            &[dir.path().join("b.parquet")],
        )
        .unwrap();
        check_apart(
            &[dir.path().to_path_buf()],
            &[dir.path().join("out/all.parquet")],
        )
        .unwrap();
        // A link to the input is the input.
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        assert!(check_apart(&[input], &[link]).is_err());
    }
}
