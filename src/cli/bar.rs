//! The embedding job's progress on a terminal: a bar (documents, rate, eta); elsewhere the
//! library's log lines.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use newsclust::progress::{LogProgress, NoProgress, Progress};

/// A bar on a terminal, log lines elsewhere, nothing with `--quiet`. `total`: documents
/// expected, when known.
pub fn progress(label: &'static str, total: Option<u64>, quiet: bool) -> Box<dyn Progress> {
    if quiet {
        return Box::new(NoProgress);
    }
    if !std::io::stderr().is_terminal() {
        return Box::new(LogProgress::new(label));
    }
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
    Box::new(Bar { bar, tokens: 0 })
}

struct Bar {
    bar: ProgressBar,
    tokens: u64,
}

impl Progress for Bar {
    fn add(&mut self, docs: u64, tokens: u64) {
        self.tokens += tokens;
        self.bar.inc(docs);
        self.bar.set_message(format!("{} tokens", self.tokens));
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}
