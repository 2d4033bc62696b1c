//! One job at a time per output: an advisory lock (`flock`) on a hidden file beside a file
//! output, or in a folder output, which the kernel releases when the process ends, however it
//! ends (kill -9 included), so a lock is never stale. The file is removed when the job ends
//! (or is stopped by a signal); one left by kill -9 is simply locked again by the next job.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::atomic::{make_folder, RemovedOnSignal};

/// The lock file of a folder output.
pub const FOLDER_LOCK: &str = ".newsclust.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}: in use by another newsclust job{holder} (it holds {}); wait for it to end, or write elsewhere", output.display(), lock.display())]
    Busy {
        output: PathBuf,
        lock: PathBuf,
        /// " (process N)" when the holder wrote its id.
        holder: String,
    },
    #[error("{}: cannot finish publishing what a stopped run left half published ({}): {source}", dir.display(), super::publish::JOURNAL)]
    RollForward {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot lock the output: {source}", lock.display())]
    Io {
        lock: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The lock files this process holds, for [`release_all`].
static HELD: RemovedOnSignal = RemovedOnSignal::new();

/// Removes the lock files this process holds and returns how many: for a process about to end
/// on a signal, whose destructors will not run (the kernel releases the locks themselves).
pub fn release_all() -> usize {
    HELD.remove_all() + super::lease::release_all()
}

/// Held while a job writes its output; dropped (or the process ended), the output is free.
#[derive(Debug)]
pub struct OutputLock {
    file: Option<File>,
    /// For an output in object storage: the lock object, held by lease.
    lease: Option<super::lease::Lease>,
    path: PathBuf,
    /// Folders this lock created, deepest first: removed with it when still empty (a job that
    /// failed leaves no empty output folder behind).
    created: Vec<PathBuf>,
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        if self.lease.take().is_some() {
            return;
        }
        // Removed while still locked, so that no job can lock the file being removed (a job
        // that opened it before checks, once it holds it, that it is still the file at the path).
        let _ = std::fs::remove_file(&self.path);
        HELD.forget(&self.path);
        drop(self.file.take());
        for dir in &self.created {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

impl OutputLock {
    /// Locks the folder output `dir` (created if missing): its `.newsclust.lock`; then
    /// finishes a publication there that a killed job left half done.
    pub fn folder(dir: &Path) -> Result<Self, LockError> {
        let lock = dir.join(FOLDER_LOCK);
        if super::remote::is_url(dir) {
            let held = Self::lease(dir, &lock)?;
            super::publish_remote::roll_forward(dir).map_err(|source| LockError::RollForward {
                dir: dir.to_path_buf(),
                source,
            })?;
            return Ok(held);
        }
        let io_err = |source| LockError::Io {
            lock: lock.clone(),
            source,
        };
        let created = missing_folders(dir);
        make_folder(dir).map_err(io_err)?;
        let mut held = Self::take(dir, lock.clone())?;
        held.created = created;
        super::publish::roll_forward(dir).map_err(|source| LockError::RollForward {
            dir: dir.to_path_buf(),
            source,
        })?;
        Ok(held)
    }

    /// Locks the file output `path`: `.NAME.lock` beside it (its folder created if missing).
    pub fn file(path: &Path) -> Result<Self, LockError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lock = path.with_file_name(format!(".{name}.lock"));
        if super::remote::is_url(path) {
            return Self::lease(path, &lock);
        }
        let mut created = Vec::new();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            created = missing_folders(parent);
            make_folder(parent).map_err(|source| LockError::Io {
                lock: lock.clone(),
                source,
            })?;
        }
        let mut held = Self::take(path, lock)?;
        held.created = created;
        Ok(held)
    }

    /// The lock of an output in object storage (see `lease.rs`).
    fn lease(output: &Path, lock: &Path) -> Result<Self, LockError> {
        let lease = super::lease::Lease::take(output, lock)?;
        Ok(Self {
            file: None,
            path: lease.path(),
            lease: Some(lease),
            created: Vec::new(),
        })
    }

    fn take(output: &Path, lock: PathBuf) -> Result<Self, LockError> {
        let io_err = |source| LockError::Io {
            lock: lock.clone(),
            source,
        };
        loop {
            // Held until the file is listed: a signal's removal cannot run in between.
            let mut listed = HELD.guard().map_err(io_err)?;
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock)
                .map_err(io_err)?;
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                    return Err(io_err(e));
                }
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = match text.trim().parse::<u32>() {
                    Ok(pid) => format!(" (process {pid})"),
                    Err(_) => String::new(),
                };
                return Err(LockError::Busy {
                    output: output.to_path_buf(),
                    lock,
                    holder,
                });
            }
            // The job before may have removed the file between our open and our lock: then
            // this lock is on a file no one else sees; open the path again.
            let ours = file.metadata().map_err(io_err)?;
            match std::fs::metadata(&lock) {
                Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => {}
                _ => continue,
            }
            // The holder's id, for the message another job shows.
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = write!(file, "{}", std::process::id());
            let _ = file.flush();
            listed.add(&lock);
            return Ok(Self {
                file: Some(file),
                lease: None,
                path: lock,
                created: Vec::new(),
            });
        }
    }
}

/// `dir` and its ancestors that do not exist yet, deepest first.
fn missing_folders(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .map(Path::to_path_buf)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_an_output_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = OutputLock::folder(&out).unwrap();
        let e = OutputLock::folder(&out).unwrap_err().to_string();
        assert!(e.contains("in use by another newsclust job"), "{e}");
        assert!(
            e.contains(&format!("(process {})", std::process::id())),
            "{e}"
        );
        drop(first);
        assert!(
            !out.exists(),
            "the folder it made, still empty, goes with the lock"
        );
        let again = OutputLock::folder(&out.join("a/b")).unwrap();
        std::fs::write(out.join("a/kept.txt"), b"x").unwrap();
        drop(again);
        assert!(!out.join("a/b").exists() && out.join("a/kept.txt").exists());

        let file = dir.path().join("emb.parquet");
        let held = OutputLock::file(&file).unwrap();
        assert!(dir.path().join(".emb.parquet.lock").exists());
        assert!(matches!(
            OutputLock::file(&file),
            Err(LockError::Busy { .. })
        ));
        drop(held);
        OutputLock::file(&file).unwrap();

        // A file where the folder should be.
        std::fs::write(&file, b"x").unwrap();
        let e = OutputLock::folder(&file.join("x")).unwrap_err().to_string();
        assert!(
            e.contains("is a file, not a folder") || e.contains("Not a directory"),
            "{e}"
        );
    }
}
