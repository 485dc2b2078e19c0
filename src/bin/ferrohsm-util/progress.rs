//! Progress of long work (RSA-4096 generation, imports, migration) on standard error, drawn only
//! when standard error is a terminal: in a pipe or a file nothing extra is written, so scripts
//! see the same bytes as before.
//!
//! ```ignore
//! let p = Progress::bar(objects.len() as u64, "Migrating objects");
//! for o in objects { move_one(o)?; p.inc(1); }
//! p.finish();
//! ```

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::Duration;

/// A spinner or a bar; does nothing when standard error is not a terminal. Cleared from the
/// terminal by [`Progress::finish`] or when dropped (an error path), so the lines printed after
/// it are the same as without it.
pub struct Progress(Option<ProgressBar>);

fn shown() -> bool {
    std::io::stderr().is_terminal()
}

impl Progress {
    /// A spinner with a message, for work of unknown length.
    pub fn spinner(msg: impl Into<Cow<'static, str>>) -> Progress {
        if !shown() {
            return Progress(None);
        }
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
        );
        pb.set_message(msg);
        pb.enable_steady_tick(Duration::from_millis(100));
        pb.tick();
        Progress(Some(pb))
    }

    /// A bar of `len` steps with a message (the migration command's objects, a bulk import).
    #[allow(dead_code)] // the hook for `migrate`, written separately
    pub fn bar(len: u64, msg: impl Into<Cow<'static, str>>) -> Progress {
        if !shown() {
            return Progress(None);
        }
        let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_message(msg);
        pb.tick();
        Progress(Some(pb))
    }

    /// Advances a bar by `n` steps.
    #[allow(dead_code)] // the hook for `migrate`, written separately
    pub fn inc(&self, n: u64) {
        if let Some(pb) = &self.0 {
            pb.inc(n);
        }
    }

    /// Ends it and clears its line.
    pub fn finish(self) {
        drop(self)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(pb) = self.0.take() {
            pb.finish_and_clear();
        }
    }
}
