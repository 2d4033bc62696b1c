//! Several outputs published together in object storage, where there is no rename: each is
//! uploaded whole under the folder's staging prefix (`.newsclust.staging/`), then a journal
//! object (`.newsclust.publish`) lists them, then each is copied on the server side to its own
//! name, in the order staged (run.json last), and the staging objects and the journal are
//! deleted. A job killed before the journal leaves only staging objects, which the next job to
//! lock the folder deletes; one killed after it leaves the journal, and the next job finishes
//! the copies it lists ([`roll_forward`]). So the folder holds the old outputs or the new ones,
//! and a mix only until the next job. The caller holds the folder's lease.
//!
//! A server-side copy (S3's CopyObject) takes at most 5 GiB: an output larger than 4 GiB is
//! uploaded to its own name at its turn instead of copied (a job killed just then leaves the
//! other files to the roll-forward, but that one as it was).

use std::io;
use std::path::{Path, PathBuf};

use super::atomic::AtomicFile;
use super::publish::JOURNAL;
use super::remote::Remote;
use super::WriteError;

/// The staging prefix, in the output folder.
pub const STAGING: &str = ".newsclust.staging";

/// Outputs above this many bytes are uploaded to their own name, not copied.
const COPY_AT_MOST: u64 = 4 << 30;

/// One output on its way: staged (under its staging name) or still spooled (too large to copy).
enum Step {
    Staged { name: String },
    Direct(AtomicFile),
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Publishes `files`, all in the folder `dir` of object storage; see the module text.
pub fn commit(dir: &Path, files: Vec<AtomicFile>) -> Result<Vec<PathBuf>, WriteError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: io::Error| WriteError::new(&path, e)
    };
    let base = Remote::parse(dir).map_err(err(dir))?;
    let staging = base.join(STAGING).map_err(err(dir))?;
    let mut steps = Vec::with_capacity(files.len());
    let mut finals = Vec::with_capacity(files.len());
    for file in files {
        let target = file.final_path().to_path_buf();
        let name = name_of(&target);
        let size = std::fs::metadata(file.temp_path()).map_or(0, |m| m.len());
        if size > COPY_AT_MOST {
            steps.push(Step::Direct(file));
        } else {
            let to = staging.join(&name).map_err(err(&target))?;
            file.upload_to(&to).map_err(err(&target))?;
            steps.push(Step::Staged { name });
        }
        finals.push(target);
    }
    let journal = base.join(JOURNAL).map_err(err(dir))?;
    let mut text = String::new();
    for step in &steps {
        if let Step::Staged { name } = step {
            text.push_str(&format!("{name}\t{name}\n"));
        }
    }
    journal
        .put_bytes(text.into_bytes())
        .map_err(err(Path::new(journal.url())))?;
    for (step, target) in steps.into_iter().zip(&finals) {
        match step {
            Step::Staged { name } => {
                let from = staging.join(&name).map_err(err(target))?;
                let to = base.join(&name).map_err(err(target))?;
                from.copy_to(&to).map_err(err(target))?;
                from.delete().map_err(err(target))?;
            }
            Step::Direct(file) => {
                file.commit().map_err(err(target))?;
            }
        }
    }
    journal.delete().map_err(err(Path::new(journal.url())))?;
    Ok(finals)
}

/// Finishes a publication in the folder `dir` of object storage that a stopped job left half
/// done: copies the staging objects its journal lists to their names, deletes the journal and
/// whatever else is under the staging prefix, and returns how many it copied. The caller holds
/// the folder's lease.
pub fn roll_forward(dir: &Path) -> io::Result<usize> {
    let base = Remote::parse(dir)?;
    let staging = base.join(STAGING)?;
    let journal = base.join(JOURNAL)?;
    let mut copied = 0;
    if let Some((bytes, _)) = journal.read()? {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for line in text.lines() {
            let Some((staged, name)) = line.split_once('\t') else {
                continue;
            };
            // Names only: a journal never points outside its folder.
            if [staged, name]
                .iter()
                .any(|n| n.contains('/') || n.is_empty())
            {
                continue;
            }
            let from = staging.join(staged)?;
            match from.size() {
                Ok(_) => {
                    from.copy_to(&base.join(name)?)?;
                    from.delete()?;
                    copied += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        journal.delete()?;
        if copied > 0 {
            tracing::warn!(
                "{}: a run was stopped while publishing its outputs; its last {copied} file(s) are now in place",
                dir.display()
            );
        }
    }
    // Staged by a job stopped before its journal: never published.
    for left in staging.list()? {
        Remote::parse(&left)?.delete()?;
    }
    Ok(copied)
}
