//! Following a long stage: the embedding job reports the texts it has embedded to a
//! [`Progress`]. [`LogProgress`] writes a log line every few seconds; the command line draws a
//! bar on a terminal instead.

use std::time::{Duration, Instant};

/// Sees documents (and their tokens) as a stage finishes them.
pub trait Progress {
    fn add(&mut self, docs: u64, tokens: u64);
    /// The stage is over.
    fn finish(&mut self) {}
}

/// An info line every [`LOG_EVERY`]: documents, tokens and the rate so far.
pub struct LogProgress {
    label: &'static str,
    started: Instant,
    last_log: Instant,
    docs: u64,
    tokens: u64,
}

pub const LOG_EVERY: Duration = Duration::from_secs(5);

impl LogProgress {
    pub fn new(label: &'static str) -> Self {
        let now = Instant::now();
        Self {
            label,
            started: now,
            last_log: now,
            docs: 0,
            tokens: 0,
        }
    }
}

impl Progress for LogProgress {
    fn add(&mut self, docs: u64, tokens: u64) {
        self.docs += docs;
        self.tokens += tokens;
        if self.last_log.elapsed() >= LOG_EVERY {
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
}

/// Nothing at all.
pub struct NoProgress;

impl Progress for NoProgress {
    fn add(&mut self, _docs: u64, _tokens: u64) {}
}
