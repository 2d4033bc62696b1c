//! Optional per-stage timings of the forward pass (`bench --profile`): each stage is bracketed
//! by device synchronisation, so GPU time lands on the stage that spent it (this serialises the
//! GPU, so profiled runs are slower than plain ones). An encoder given a [`Profile`] adds its
//! stages' times to it.

use std::sync::Mutex;
use std::time::Instant;

use candle_core::{Device, Result};

/// Stage totals: name, seconds, calls, in the order first seen.
#[derive(Debug, Default)]
pub struct Profile {
    totals: Mutex<Vec<(&'static str, f64, u64)>>,
}

impl Profile {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&self, name: &'static str, secs: f64) {
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        match totals.iter_mut().find(|(n, _, _)| *n == name) {
            Some(entry) => {
                entry.1 += secs;
                entry.2 += 1;
            }
            None => totals.push((name, secs, 1)),
        }
    }

    /// The table of stage totals so far (empty when nothing was timed), and resets them.
    pub fn take_report(&self) -> String {
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
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
}

/// Runs `f` as the stage `name`, timed into `profile` when there is one.
pub fn stage<T>(
    profile: Option<&Profile>,
    name: &'static str,
    dev: &Device,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let Some(profile) = profile else {
        return f();
    };
    dev.synchronize()?;
    let t = Instant::now();
    let out = f()?;
    dev.synchronize()?;
    profile.add(name, t.elapsed().as_secs_f64());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_timed_only_with_a_profile() {
        let dev = Device::Cpu;
        assert_eq!(stage(None, "a", &dev, || Ok(1)).unwrap(), 1);
        let profile = Profile::new();
        for _ in 0..3 {
            stage(Some(&profile), "matmul", &dev, || Ok(())).unwrap();
        }
        let report = profile.take_report();
        assert!(
            report.contains("matmul") && report.contains("       3\n"),
            "{report}"
        );
        assert!(
            profile.take_report().is_empty(),
            "taking the report resets it"
        );
    }
}
