//! Progress for long stages: a bar on a terminal, a log line every few seconds otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counts documents and tokens as a stage goes.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: &'static str,
    quiet: bool,
    started: Instant,
    last_log: Instant,
    docs: u64,
    tokens: u64,
}

const LOG_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    /// `total`: documents expected, when known.
    pub fn new(label: &'static str, total: Option<u64>, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = match total {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            let template = if total.is_some() {
                "{prefix} [{bar:30}] {pos}/{len} docs  {per_sec}  eta {eta}  {msg}"
            } else {
                "{prefix} {spinner} {pos} docs  {per_sec}  {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(label);
            bar
        });
        let now = Instant::now();
        Self {
            bar,
            label,
            quiet,
            started: now,
            last_log: now,
            docs: 0,
            tokens: 0,
        }
    }

    pub fn add(&mut self, docs: u64, tokens: u64) {
        self.docs += docs;
        self.tokens += tokens;
        if let Some(bar) = &self.bar {
            bar.inc(docs);
            bar.set_message(format!("{} tokens", self.tokens));
        } else if !self.quiet && self.last_log.elapsed() >= LOG_EVERY {
            self.last_log = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(1e-9);
            tracing::info!(
                "{}: {} docs, {} tokens ({:.0} docs/s)",
                self.label,
                self.docs,
                self.tokens,
                self.docs as f64 / secs
            );
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
