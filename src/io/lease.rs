//! One job at a time per output in object storage, where there is no `flock`: a lock object
//! created only if absent (a conditional put), holding its holder and an expiry a minute ahead,
//! renewed every 20 seconds by a thread of the job's while it runs (a conditional replace of
//! its own version), and removed when the job ends. A job killed with SIGKILL, or on an
//! instance that was lost, leaves a lock that expires within a minute; the next job then takes
//! it over (again a conditional replace, so of two such jobs only one wins).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::lock::LockError;
use super::remote::Remote;

/// How long a lock holds without being renewed.
const LEASE: Duration = Duration::from_secs(60);
/// How often its holder renews it.
const RENEW: Duration = Duration::from_secs(20);

/// The lock objects this process holds, for [`release_all`].
static HELD: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<String>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deletes the lock objects this process holds: for a process ending on a signal, whose
/// destructors will not run (the next job need not wait for the lease to expire).
pub fn release_all() -> usize {
    let urls = std::mem::take(&mut *held());
    for url in &urls {
        if let Ok(remote) = Remote::parse(Path::new(url)) {
            let _ = remote.delete();
        }
    }
    urls.len()
}

/// A lock object held by this process, renewed until dropped.
pub struct Lease {
    remote: Remote,
    /// Set to stop the renewing thread, with the condition it waits on.
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lease({})", self.remote.url())
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer it is given.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match ok {
        true => String::from_utf8_lossy(&buf[..end]).into_owned(),
        false => "an unknown host".into(),
    }
}

/// The lock object's text: who holds it, until when.
fn body() -> Vec<u8> {
    let text = serde_json::json!({
        "host": host(),
        "pid": std::process::id(),
        "expires": now() + LEASE.as_secs(),
    });
    text.to_string().into_bytes()
}

impl Lease {
    /// Takes the lock object `lock` for `output`; refused while another job holds it (its
    /// lease not expired).
    pub fn take(output: &Path, lock: &Path) -> Result<Self, LockError> {
        let io_err = |source| LockError::Io {
            lock: lock.to_path_buf(),
            source,
        };
        let remote = Remote::parse(lock).map_err(io_err)?;
        for _ in 0..3 {
            if let Some(tag) = remote.put_new(body()).map_err(io_err)? {
                return Ok(Self::hold(remote, tag));
            }
            let Some((bytes, tag)) = remote.read().map_err(io_err)? else {
                // Removed since (its job ended): try again.
                continue;
            };
            let held: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let expires = held["expires"].as_u64().unwrap_or(0);
            if expires > now() {
                return Err(LockError::Busy {
                    output: output.to_path_buf(),
                    lock: lock.to_path_buf(),
                    holder: format!(
                        " (process {} on {}, its lease renewed until {} s from now)",
                        held["pid"],
                        held["host"].as_str().unwrap_or("?"),
                        expires - now()
                    ),
                });
            }
            // Expired: its job is gone. Take it over unless another job just did.
            if let Some(tag) = remote.replace(body(), &tag).map_err(io_err)? {
                tracing::info!(
                    "{}: took over the lock of a job that ended without releasing it (process {} on {})",
                    lock.display(),
                    held["pid"],
                    held["host"].as_str().unwrap_or("?")
                );
                return Ok(Self::hold(remote, tag));
            }
        }
        Err(LockError::Busy {
            output: output.to_path_buf(),
            lock: lock.to_path_buf(),
            holder: " (another job took it at the same moment)".into(),
        })
    }

    /// Holds the lock whose version is `tag`: a thread renews it until the lease is dropped.
    fn hold(remote: Remote, tag: String) -> Self {
        held().push(remote.url().to_string());
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = {
            let (remote, stop) = (remote.clone(), stop.clone());
            std::thread::Builder::new()
                .name("lock-lease".into())
                .spawn(move || renew(&remote, tag, &stop))
                .ok()
        };
        Self {
            remote,
            stop,
            thread,
        }
    }

    /// Where the lock object is.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.remote.url())
    }
}

/// Renews the lease every [`RENEW`] until told to stop.
fn renew(remote: &Remote, mut tag: String, stop: &(Mutex<bool>, Condvar)) {
    let (stopped, wake) = stop;
    let mut done = stopped.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let (guard, _) = wake
            .wait_timeout_while(done, RENEW, |stop| !*stop)
            .unwrap_or_else(|e| e.into_inner());
        done = guard;
        if *done {
            return;
        }
        match remote.replace(body(), &tag) {
            Ok(Some(new)) => tag = new,
            Ok(None) => {
                tracing::error!(
                    "{}: another job took this output's lock (this job stalled past its lease)",
                    remote.url()
                );
                return;
            }
            Err(e) => tracing::warn!("{}: could not renew the lock: {e}", remote.url()),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        held().retain(|u| u != self.remote.url());
        let _ = self.remote.delete();
    }
}
