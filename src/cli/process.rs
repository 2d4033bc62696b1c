//! What the process itself needs, apart from any job: the allocator, signal handling, logging,
//! and the fast exit.

use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (mimalloc.h, v2): how long freed memory stays committed.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Before any other thread exists: signals blocked (every thread inherits that) and the
/// allocator told to keep freed memory.
pub fn start() {
    handle_interrupts();
    // candle allocates a fresh buffer for every tensor op; returning freed memory to the OS makes
    // each new buffer page-fault and be zeroed by the kernel (15% of CPU embedding time).
    // SAFETY: sets a process-wide allocator option; no other thread runs yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP are blocked in every thread and awaited by one of their
/// own: on one, a publication under way is let finish, the temporary files of outputs still
/// being written are removed (destructors do not run on a signal, so they would stay behind as
/// hidden `.NAME.PID.tmp` files) and the process exits with 128 + the signal's number, as
/// shells report a signal's end. A signal after the outputs were published says so.
fn handle_interrupts() {
    // SAFETY: plain libc signal-set calls on a local set; the mask is changed before any other
    // thread starts, and the waiting thread only removes files and ends the process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        let waiting = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut signal = 0;
                if libc::sigwait(&set, &mut signal) == 0 {
                    let published = newsclust::io::publish::finish_for_signal();
                    let removed = newsclust::io::atomic::remove_unfinished();
                    newsclust::io::lock::release_all();
                    newsclust::io::atomic::remove_spool();
                    let kept = match published {
                        0 => String::new(),
                        n => format!("; the {n} output file(s) published before it are whole"),
                    };
                    eprintln!(
                        "\nnewsclust: stopped by signal {signal}; {removed} unfinished output file(s) removed{kept}"
                    );
                    libc::_exit(128 + signal);
                }
            });
        if waiting.is_err() {
            // No thread to wait for them: let the signals act as they do by default.
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}

pub fn init_logging(quiet: bool, verbose: bool) {
    let level = if quiet {
        tracing::Level::WARN
    } else if verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Ends the process with `code`. What the finished jobs kept (`kept`: a GPU's weights, memory
/// pool, context and libraries with them) is not freed piece by piece: the process ends at once
/// (`_exit`) and the operating system takes everything back. Every output is complete, synced
/// and renamed by then, and stdout and stderr are flushed. With `teardown`, they are freed
/// first, the usual way (to compare the two).
pub fn exit<T>(code: u8, kept: Vec<T>, teardown: bool, started: std::time::Instant) -> ExitCode {
    newsclust::io::atomic::remove_spool();
    if teardown && !kept.is_empty() {
        let t = std::time::Instant::now();
        drop(kept);
        tracing::debug!(
            "model and device freed in {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
    // With a process's wall time, says what starting and exiting cost.
    tracing::debug!("{:.3} s from main to exit", started.elapsed().as_secs_f64());
    if teardown {
        return ExitCode::from(code);
    }
    use std::io::Write;
    let flushed = std::io::stdout().flush().is_ok();
    let _ = std::io::stderr().flush();
    if !flushed && code == super::EXIT_OK {
        // Output that could not be written is an error, as Rust's own exit would report.
        return ExitCode::from(super::EXIT_FATAL);
    }
    // SAFETY: `_exit` ends the process without running destructors or exit handlers; nothing
    // is left to write (files are closed and renamed, standard streams flushed above).
    unsafe { libc::_exit(i32::from(code)) }
}
