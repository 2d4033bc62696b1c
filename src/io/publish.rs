//! Several staged files published together: renamed into place one after another, under a
//! journal (`.newsclust.publish` in their folder) written before the first rename and removed
//! after the last. A process killed between two renames leaves the journal, and the next job to
//! lock the folder finishes the renames it lists ([`roll_forward`]), so the folder ends up with
//! every new file, never a mix of new and old for good. In object storage, where there is no
//! rename, the same with uploads under a staging prefix and server-side copies
//! (`publish_remote.rs`).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::atomic::{folder_of, AtomicFile};
use super::WriteError;

/// The journal of a publication in progress, in the folder of the files it lists.
pub const JOURNAL: &str = ".newsclust.publish";

/// Held while a local publication renames its files, from its journal to the journal's removal
/// (not while anything is uploaded to object storage, which has its own journal).
static PUBLISHING: Mutex<()> = Mutex::new(());

/// Files this process has published (renamed into place or copied to their object).
static PUBLISHED: AtomicUsize = AtomicUsize::new(0);

fn publishing() -> MutexGuard<'static, ()> {
    PUBLISHING.lock().unwrap_or_else(|e| e.into_inner())
}

/// For a process about to end on a signal: waits for a publication under way to finish (its
/// renames take milliseconds), so that it is not cut between two renames, and returns how many
/// files this process has published. Call it before the unfinished files are removed: a
/// publication cut short would leave a journal naming temporary files already removed, and a
/// folder of old and new files that no later job could finish. The lock is kept: no
/// publication starts after it.
pub fn finish_for_signal() -> usize {
    std::mem::forget(publishing());
    PUBLISHED.load(Ordering::SeqCst)
}

/// Files written and synced under temporary names, renamed into place together by
/// [`Staged::commit`]; dropped uncommitted, every one is removed (nothing is published).
#[derive(Default)]
pub struct Staged {
    files: Vec<AtomicFile>,
    /// Folders removed once every file is in place (the checkpoints they were made from).
    after: Vec<PathBuf>,
    /// Files of an earlier job removed with the publication.
    stale: Vec<PathBuf>,
}

impl Staged {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, file: AtomicFile) {
        self.files.push(file);
    }

    /// Removes `dir` once the files are published (not when they are dropped unpublished).
    pub fn remove_after(&mut self, dir: PathBuf) {
        self.after.push(dir);
    }

    /// Removes the file `path` (an output an earlier job wrote that this one does not) when
    /// the files are published, so that the folder holds one job's outputs only.
    pub fn remove_stale(&mut self, path: PathBuf) {
        self.stale.push(path);
    }

    /// Renames every staged file into place, in the order staged, and syncs the folders so
    /// that the renames survive a crash. Several files in one folder are renamed under the
    /// journal.
    pub fn commit(self) -> Result<Vec<PathBuf>, WriteError> {
        let Self {
            files,
            after,
            stale,
        } = self;
        // Before the new files, so that a folder never shows the new files beside an old one.
        for path in &stale {
            super::remote::remove_file(path).map_err(|e| WriteError::new(path, e))?;
        }
        let folder = shared_folder(&files);
        if let Some(dir) = folder.as_ref().filter(|d| super::remote::is_url(d)) {
            if files.len() > 1 {
                let written = super::publish_remote::commit(dir, files)?;
                PUBLISHED.fetch_add(written.len(), Ordering::SeqCst);
                remove_all(after);
                return Ok(written);
            }
        }
        // Not around uploads (a single object's `commit` uploads it): a signal would wait for them.
        let local = !files.iter().any(|f| super::remote::is_url(f.final_path()));
        let publishing = local.then(publishing);
        let journal = match folder {
            Some(dir) if files.len() > 1 && !super::remote::is_url(&dir) => {
                Some(write_journal(&dir, &files)?)
            }
            _ => None,
        };
        let mut written = Vec::with_capacity(files.len());
        for file in files {
            let temp = file.temp_path().to_path_buf();
            match file.commit() {
                Ok(path) => {
                    PUBLISHED.fetch_add(1, Ordering::SeqCst);
                    written.push(path);
                }
                Err(e) => {
                    // Not a crash: the files not yet renamed are removed; no journal stays to
                    // rename them later.
                    if let Some(j) = &journal {
                        let _ = std::fs::remove_file(j);
                    }
                    return Err(WriteError::new(&temp, e));
                }
            }
        }
        let mut folders: Vec<PathBuf> = written
            .iter()
            .filter(|p| !super::remote::is_url(p))
            .map(|p| folder_of(p))
            .collect();
        folders.dedup();
        for dir in &folders {
            sync_folder(dir);
        }
        if let Some(j) = journal {
            std::fs::remove_file(&j).map_err(|e| WriteError::new(&j, e))?;
            sync_folder(&folders[0]);
        }
        drop(publishing);
        remove_all(after);
        Ok(written)
    }
}

/// Removes the checkpoint folders of a publication done.
fn remove_all(after: Vec<PathBuf>) {
    for dir in after {
        // Published already: a folder that stays is only disk space, removed by the next job
        // writing this output.
        if let Err(e) = super::checkpoint::remove(&dir) {
            tracing::warn!("{}: could not remove it: {e}", dir.display());
        }
    }
}

/// Finishes a publication in `dir` that a killed process left half done (its journal is there):
/// renames the temporary files it lists that are still there, removes the journal, and returns
/// how many files it renamed. The caller holds the folder's lock.
pub fn roll_forward(dir: &Path) -> io::Result<usize> {
    let journal = dir.join(JOURNAL);
    let text = match std::fs::read_to_string(&journal) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut renamed = 0;
    for line in text.lines() {
        let Some((temp, name)) = line.split_once('\t') else {
            continue;
        };
        // Names only: a journal never points outside its folder.
        if [temp, name].iter().any(|n| n.contains('/') || n.is_empty()) {
            continue;
        }
        let temp = dir.join(temp);
        if temp.exists() {
            std::fs::rename(&temp, dir.join(name))?;
            renamed += 1;
        }
    }
    sync_folder(dir);
    std::fs::remove_file(&journal)?;
    sync_folder(dir);
    if renamed > 0 {
        tracing::warn!(
            "{}: a run was stopped while publishing its outputs; its last {renamed} file(s) are now in place",
            dir.display()
        );
    }
    Ok(renamed)
}

/// The one folder all `files` go to, if they share one.
fn shared_folder(files: &[AtomicFile]) -> Option<PathBuf> {
    let first = folder_of(files.first()?.final_path());
    files
        .iter()
        .all(|f| folder_of(f.final_path()) == first)
        .then_some(first)
}

/// Writes the journal (temporary name, tab, final name; a line each) under a temporary name,
/// syncs it and renames it into place.
fn write_journal(dir: &Path, files: &[AtomicFile]) -> Result<PathBuf, WriteError> {
    let journal = dir.join(JOURNAL);
    let temp = dir.join(format!("{JOURNAL}.{}.tmp", std::process::id()));
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut text = String::new();
    for f in files {
        if let (Some(t), Some(n)) = (name(f.temp_path()), name(f.final_path())) {
            text.push_str(&format!("{t}\t{n}\n"));
        }
    }
    let write = || -> io::Result<()> {
        let mut out = File::create(&temp)?;
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&temp, &journal)?;
        sync_folder(dir);
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        WriteError::new(&journal, e)
    })?;
    Ok(journal)
}

fn sync_folder(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_publish_together_and_a_half_done_publication_is_finished() {
        let dir = tempfile::tempdir().unwrap();
        let mut staged = Staged::new();
        for name in ["a.parquet", "b.json"] {
            let (file, mut out) = AtomicFile::create(&dir.path().join(name)).unwrap();
            out.write_all(name.as_bytes()).unwrap();
            staged.push(file);
        }
        let written = staged.commit().unwrap();
        assert_eq!(written.len(), 2);
        assert!(!dir.path().join(JOURNAL).exists(), "the journal is removed");
        assert_eq!(std::fs::read(dir.path().join("b.json")).unwrap(), b"b.json");

        // Killed after the first of three renames: a.parquet is new, b.json and c.txt are not.
        std::fs::write(dir.path().join("a.parquet"), b"new a").unwrap();
        std::fs::write(dir.path().join(".b.json.7.tmp"), b"new b").unwrap();
        std::fs::write(dir.path().join(".c.txt.7.tmp"), b"new c").unwrap();
        std::fs::write(
            dir.path().join(JOURNAL),
            ".a.parquet.7.tmp\ta.parquet\n.b.json.7.tmp\tb.json\n.c.txt.7.tmp\tc.txt\n../x\ty\n",
        )
        .unwrap();
        assert_eq!(roll_forward(dir.path()).unwrap(), 2);
        assert_eq!(std::fs::read(dir.path().join("b.json")).unwrap(), b"new b");
        assert_eq!(std::fs::read(dir.path().join("c.txt")).unwrap(), b"new c");
        assert!(!dir.path().join(JOURNAL).exists());
        assert_eq!(roll_forward(dir.path()).unwrap(), 0, "nothing left to do");
    }
}
