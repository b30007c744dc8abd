//! Progress of the long runs (replay, archive, reconcile, and loadgen's measured runs) on
//! stderr. On a terminal, a bar with the count, the rate and the time left, redrawn in place
//! (indicatif). Anywhere else (a file, a pipe, a container's log) a plain line at most every
//! [`PLAIN_LINE_INTERVAL_MS`], and never a `\r`: a carriage return left every redraw in the
//! file, one long line that no pager reads.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The program each line starts with (`orders`, or `loadgen`, which shares this file).
const PROGRAM: &str = env!("CARGO_BIN_NAME");

/// How often a plain progress line is written when stderr is no terminal.
const PLAIN_LINE_INTERVAL_MS: u64 = 2_000;

/// How long a run has to go before its plain lines tell a rate.
const RATE_AFTER_MS: u64 = 500;

/// How often the bar is redrawn on a terminal, at most.
const BAR_REFRESH_PER_SEC: u8 = 4;

/// A run's progress on stderr.
pub(crate) struct Progress {
    /// What runs, e.g. `replaying orders`.
    what: String,
    /// What is counted, e.g. `events`.
    unit: &'static str,
    /// The bar on a terminal; none elsewhere.
    bar: Option<ProgressBar>,
    started: Instant,
    /// When the last plain line was written.
    shown: Option<Instant>,
}

impl Progress {
    /// Progress of `what`, counting `unit`; the total is known from the first update.
    pub(crate) fn new(what: impl Into<String>, unit: &'static str) -> Self {
        let what = what.into();
        let bar = std::io::stderr().is_terminal().then(|| {
            // styled before it is shown: a bar on stderr draws at once, in indicatif's look
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
                .with_style(style(unit, false))
                .with_prefix(format!("{PROGRAM}: {what}"));
            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(BAR_REFRESH_PER_SEC));
            bar
        });
        Self {
            what,
            unit,
            bar,
            started: Instant::now(),
            shown: None,
        }
    }

    /// `done` of `total` (none when unknown).
    pub(crate) fn update(&mut self, done: u64, total: Option<u64>) {
        match &self.bar {
            Some(bar) => {
                if bar.length() != total {
                    bar.set_style(style(self.unit, total.is_some()));
                    match total {
                        Some(total) => bar.set_length(total),
                        None => bar.unset_length(),
                    }
                }
                bar.set_position(done);
            }
            None => {
                let due = self.shown.is_none_or(|shown| {
                    shown.elapsed() >= Duration::from_millis(PLAIN_LINE_INTERVAL_MS)
                });
                if due {
                    self.shown = Some(Instant::now());
                    eprintln!("{PROGRAM}: {}: {}", self.what, self.figures(done, total));
                }
            }
        }
    }

    /// A step of the run that is not counted (e.g. indexing): a line of its own.
    pub(crate) fn step(&mut self, step: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(step.to_owned()),
            None => eprintln!("{PROGRAM}: {}: {step}", self.what),
        }
    }

    /// Ends the progress with `line`.
    pub(crate) fn finish(self, line: &str) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{PROGRAM}: {line}");
    }

    /// `1200/5000 events (24%), 3400 events/s, 1 s left`; without the rate and the time left
    /// in the first [`RATE_AFTER_MS`], when the count may hold work done before the progress
    /// was made (a move's first window, say) and the rate would be a wild guess.
    fn figures(&self, done: u64, total: Option<u64>) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let unit = self.unit;
        let total = total.filter(|total| *total > 0);
        if self.started.elapsed() < Duration::from_millis(RATE_AFTER_MS) {
            return match total {
                Some(total) => format!(
                    "{done}/{total} {unit} ({}%)",
                    done.saturating_mul(100) / total
                ),
                None => format!("{done} {unit}"),
            };
        }
        let rate = done as f64 / secs;
        match total {
            Some(total) => {
                let left = total.saturating_sub(done) as f64;
                let eta = if rate > 0.0 {
                    format!("{:.0} s left", left / rate)
                } else {
                    "time left unknown".to_owned()
                };
                format!(
                    "{done}/{total} {unit} ({}%), {rate:.0} {unit}/s, {eta}",
                    done.saturating_mul(100) / total
                )
            }
            None => format!("{done} {unit}, {rate:.0} {unit}/s"),
        }
    }
}

/// The bar's look: with a total, a bar with the count, the rate and the time left; without,
/// a spinner with the count and the rate.
fn style(unit: &str, with_total: bool) -> ProgressStyle {
    ProgressStyle::with_template(&template(unit, with_total))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The indicatif template of [`style`].
fn template(unit: &str, with_total: bool) -> String {
    if with_total {
        format!(
            "{{prefix}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{percent}}%), \
             {{per_sec:0}}, ETA {{eta}} {{msg}}"
        )
    } else {
        format!("{{prefix}} {{spinner}} {{human_pos}} {unit}, {{per_sec:0}} {{msg}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first count given as the progress starts may hold earlier work: no rate from it.
    #[test]
    fn a_first_line_tells_no_rate() {
        let progress = Progress::new("copying", "positions");
        let line = progress.figures(5_000, Some(300_000));
        assert_eq!(line, "5000/300000 positions (1%)");
        assert_eq!(progress.figures(5_000, None), "5000 positions");
    }

    /// indicatif replaces a template it refuses with its plain default bar, without a word.
    #[test]
    fn both_templates_are_valid() {
        for with_total in [true, false] {
            let template = template("events", with_total);
            assert!(
                ProgressStyle::with_template(&template).is_ok(),
                "{template}"
            );
        }
    }
}
