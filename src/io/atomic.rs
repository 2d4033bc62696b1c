//! Output files that appear complete or not at all: write to a temporary name, rename when done;
//! several such files are published together by `publish::Staged`; the temporary files of runs
//! that died (kill -9, a lost machine) are removed when their output is written again.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Files a process removes if a signal ends it, when its destructors will not run: the
/// temporary files of outputs being written here, the lock files in `lock.rs`. A file is made
/// and listed under the list's lock, so a signal's removal cannot run between the two (which
/// would leave the file behind); once it has run, no more are made.
pub(crate) struct RemovedOnSignal(Mutex<Listed>);

pub(crate) struct Listed {
    paths: Vec<PathBuf>,
    /// A signal's removal ran: the process is ending.
    stopped: bool,
}

impl Listed {
    /// Lists `path` (made while this guard was held).
    pub(crate) fn add(&mut self, path: &Path) {
        self.paths.push(path.to_path_buf());
    }
}

impl RemovedOnSignal {
    pub(crate) const fn new() -> Self {
        Self(Mutex::new(Listed {
            paths: Vec::new(),
            stopped: false,
        }))
    }

    fn list(&self) -> MutexGuard<'_, Listed> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The list, held while a file is made and listed; refused once a signal's removal ran.
    pub(crate) fn guard(&self) -> io::Result<MutexGuard<'_, Listed>> {
        let list = self.list();
        if list.stopped {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the process is ending on a signal",
            ));
        }
        Ok(list)
    }

    /// Makes the file `path` with `make` and lists it, with no signal's removal in between.
    fn make<T>(&self, path: &Path, make: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let mut list = self.guard()?;
        let made = make()?;
        list.add(path);
        Ok(made)
    }

    pub(crate) fn forget(&self, path: &Path) {
        self.list().paths.retain(|p| p != path);
    }

    #[cfg(test)]
    fn contains(&self, path: &Path) -> bool {
        self.list().paths.iter().any(|p| p == path)
    }

    /// Removes every file listed and makes no more; returns how many there were.
    pub(crate) fn remove_all(&self) -> usize {
        let mut list = self.list();
        list.stopped = true;
        for path in list.paths.iter() {
            let _ = std::fs::remove_file(path);
        }
        list.paths.len()
    }
}

/// The temporary files of outputs being written, for [`remove_unfinished`].
static UNFINISHED: RemovedOnSignal = RemovedOnSignal::new();

/// Removes the temporary files of every output still being written and returns how many there
/// were: for a process about to end on a signal, whose destructors will not run (the command
/// line calls it on Ctrl-C). A file being committed at that moment is either already in place,
/// complete, or removed.
pub fn remove_unfinished() -> usize {
    UNFINISHED.remove_all()
}

/// A file being written under a temporary name next to its final path. Dropped without
/// [`AtomicFile::commit`], it removes the temporary file, so no partial output is left behind.
pub struct AtomicFile {
    final_path: PathBuf,
    temp_path: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file (and the parent folders of `path`).
    /// A path that is a folder, or under a file, fails here, before any work is done. For an
    /// object in object storage (`s3://…`), the temporary file is local (`spool`) and
    /// [`commit`](Self::commit) uploads it.
    pub fn create(path: &Path) -> io::Result<(Self, File)> {
        if super::remote::is_url(path) {
            super::remote::Remote::parse(path)?;
            let temp_path = spool()?.join(format!(
                "{}.{}.tmp",
                SPOOLED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
            let file = UNFINISHED.make(&temp_path, || File::create(&temp_path))?;
            return Ok((
                Self {
                    final_path: path.to_path_buf(),
                    temp_path,
                    committed: false,
                },
                file,
            ));
        }
        if path.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a folder: give the output file's name",
            ));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            make_folder(parent)?;
        }
        let name = path
            .file_name()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "output path has no file name")
            })?
            .to_string_lossy();
        remove_stale(path, &name);
        let temp_path = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = UNFINISHED.make(&temp_path, || File::create(&temp_path))?;
        Ok((
            Self {
                final_path: path.to_path_buf(),
                temp_path,
                committed: false,
            },
            file,
        ))
    }

    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// Where the file goes when committed.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Renames the temporary file to the final path (the file must be flushed and closed);
    /// uploads it, for an object in object storage (it appears when the upload completes).
    pub fn commit(mut self) -> io::Result<PathBuf> {
        if super::remote::is_url(&self.final_path) {
            super::remote::Remote::parse(&self.final_path)?.upload(&self.temp_path)?;
            let _ = std::fs::remove_file(&self.temp_path);
            self.committed = true;
            return Ok(self.final_path.clone());
        }
        std::fs::rename(&self.temp_path, &self.final_path)?;
        self.committed = true;
        Ok(self.final_path.clone())
    }

    /// For an object in object storage: uploads the spooled file to `staging` instead of its
    /// own name (a publication copies it there afterwards, see `publish_remote.rs`).
    pub fn upload_to(mut self, staging: &super::remote::Remote) -> io::Result<()> {
        staging.upload(&self.temp_path)?;
        let _ = std::fs::remove_file(&self.temp_path);
        self.committed = true;
        Ok(())
    }

    fn forget(&self) {
        UNFINISHED.forget(&self.temp_path);
    }
}

/// Outputs to object storage spooled so far (a unique name each).
static SPOOLED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// This process's local folder for outputs bound for object storage: `newsclust-PID` in the
/// system's temporary folder (`TMPDIR`), created when first needed.
fn spool() -> io::Result<PathBuf> {
    let dir = spool_dir();
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn spool_dir() -> PathBuf {
    std::env::temp_dir().join(format!("newsclust-{}", std::process::id()))
}

/// Removes this process's spool folder if it is empty (every upload done or abandoned): for a
/// process about to end.
pub fn remove_spool() {
    let _ = std::fs::remove_dir(spool_dir());
}

/// Creates `dir` and its parents; a file in the way is named in the error.
pub fn make_folder(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        match dir.ancestors().find(|a| a.exists() && !a.is_dir()) {
            Some(file) => io::Error::new(
                e.kind(),
                format!("{} is a file, not a folder", file.display()),
            ),
            None => e,
        }
    })
}

/// The folder `path` is in (`.` for a bare file name).
pub(crate) fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Removes the temporary files `.NAME.PID.tmp` beside `path` whose process has ended (a run
/// killed before it could clean up); one whose process still runs is left, with a warning.
fn remove_stale(path: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(folder_of(path)) else {
        return;
    };
    let prefix = format!(".{name}.");
    let own = std::process::id();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let temp = entry.path();
        if pid == own {
            continue;
        }
        if process_alive(pid) {
            tracing::warn!(
                "{}: process {pid} is writing it (or was, and its id is in use again)",
                temp.display()
            );
        } else if std::fs::remove_file(&temp).is_ok() {
            tracing::info!(
                "removed {}, left by a run that ended without cleaning up (process {pid})",
                temp.display()
            );
        }
    }
}

/// Whether a process with this id runs on this machine.
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let sent = unsafe { libc::kill(pid, 0) };
    sent == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp_path);
        }
        self.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn commit_renames_and_drop_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sub/out.bin");
        let (guard, mut f) = AtomicFile::create(&out).unwrap();
        f.write_all(b"abc").unwrap();
        drop(f);
        assert!(!out.exists());
        guard.commit().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"abc");

        // A folder as the output, or a file where a folder should be: told before any writing.
        let e = AtomicFile::create(dir.path()).err().unwrap().to_string();
        assert!(e.contains("is a folder"), "{e}");
        let e = AtomicFile::create(&out.join("x/y.bin"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains(&format!("{} is a file, not a folder", out.display())),
            "{e}"
        );

        let other = dir.path().join("other.bin");
        let (guard, _f) = AtomicFile::create(&other).unwrap();
        let temp = guard.temp_path().to_path_buf();
        assert!(temp.exists());
        drop(guard);
        assert!(!temp.exists() && !other.exists());
        assert!(!UNFINISHED.contains(&temp), "a dropped file is forgotten");
        // What an interrupted process removes (remove_unfinished; tests/cli.rs interrupts a
        // job): files being written, not committed ones. (Calling it here would remove the
        // files of tests running beside this one.)
        let third = dir.path().join("third.bin");
        let (guard, _f) = AtomicFile::create(&third).unwrap();
        let temp = guard.temp_path().to_path_buf();
        assert!(UNFINISHED.contains(&temp));
        guard.commit().unwrap();
        assert!(!UNFINISHED.contains(&temp), "a committed file is forgotten");
    }
}
