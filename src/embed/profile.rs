//! Optional per-stage timings of the forward pass, on with `NEWSCLUST_PROFILE=1`: each stage is
//! bracketed by device synchronisation, so GPU time lands on the stage that spent it (this
//! serialises the GPU, so profiled runs are slower than plain ones). `newsclust bench` prints
//! the table after each device/precision row.

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use candle_core::{Device, Result};

static TOTALS: Mutex<Vec<(&'static str, f64, u64)>> = Mutex::new(Vec::new());

/// Whether `NEWSCLUST_PROFILE` is set to something other than `0`.
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("NEWSCLUST_PROFILE").is_ok_and(|v| v != "0" && !v.is_empty()))
}

/// Runs `f` as the stage `name` (timed when profiling is on).
pub fn stage<T>(name: &'static str, dev: &Device, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if !enabled() {
        return f();
    }
    dev.synchronize()?;
    let t = Instant::now();
    let out = f()?;
    dev.synchronize()?;
    let secs = t.elapsed().as_secs_f64();
    let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    match totals.iter_mut().find(|(n, _, _)| *n == name) {
        Some(entry) => {
            entry.1 += secs;
            entry.2 += 1;
        }
        None => totals.push((name, secs, 1)),
    }
    Ok(out)
}

/// The table of stage totals so far (empty when nothing was timed), and resets them.
pub fn take_report() -> String {
    let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    if totals.is_empty() {
        return String::new();
    }
    let all: f64 = totals.iter().map(|t| t.1).sum();
    let mut out = format!(
        "{:<18} {:>10} {:>7} {:>8}\n",
        "stage", "ms", "share", "calls"
    );
    for (name, secs, calls) in totals.iter() {
        out += &format!(
            "{name:<18} {:>10.2} {:>6.1}% {calls:>8}\n",
            secs * 1e3,
            100.0 * secs / all.max(1e-12)
        );
    }
    totals.clear();
    out
}
