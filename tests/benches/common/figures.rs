//! The figures a bench measured, printed for `scripts/bench` to gather into one table: a
//! line `FIGURE<TAB>name<TAB>measured<TAB>target<TAB>pass|FAIL|unsure|-` each. With
//! `BENCH_SMOKE` set (tiny sizes, in the test command) only counts are judged (request
//! units, rows read: the same at any speed), not speeds.
//!
//! A figure measured more than once is a [`Spread`]: its median with its minimum and maximum.
//! It is judged on its quartiles, so that one run's verdict is the next run's: `pass` when
//! even the worse quartile meets the target, `FAIL` when even the better quartile misses it,
//! and `unsure` when the target lies between them (the spread is too wide to tell).
//!
//! Each bench binary includes this file and uses part of it.
#![allow(dead_code)]

pub struct Figure {
    pub name: String,
    pub measured: String,
    pub target: String,
    pub verdict: Verdict,
}

pub enum Verdict {
    /// A figure shown for reference, with no target of its own.
    None,
    Judged(bool),
    /// A count (request units, rows read), the same on any machine: judged in the smoke run
    /// too.
    Counted(bool),
    /// Its spread straddles the target: not judged.
    Unsure,
}

impl Figure {
    pub fn new(name: impl Into<String>, measured: impl Into<String>, target: impl Into<String>, pass: bool) -> Self {
        Self {
            name: name.into(),
            measured: measured.into(),
            target: target.into(),
            verdict: Verdict::Judged(pass),
        }
    }

    /// A count that does not depend on the machine, judged even in the smoke run.
    pub fn counted(
        name: impl Into<String>,
        measured: impl Into<String>,
        target: impl Into<String>,
        pass: bool,
    ) -> Self {
        Self {
            verdict: Verdict::Counted(pass),
            ..Self::new(name, measured, target, pass)
        }
    }

    /// A figure measured several times, judged on its spread against `target`.
    pub fn spread(
        name: impl Into<String>,
        measured: impl Into<String>,
        spread: &Spread,
        target: f64,
        better: Better,
        shown_target: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            measured: measured.into(),
            target: shown_target.into(),
            verdict: match spread.verdict(target, better) {
                Some(pass) => Verdict::Judged(pass),
                None => Verdict::Unsure,
            },
        }
    }

    pub fn info(name: impl Into<String>, measured: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            measured: measured.into(),
            target: "-".into(),
            verdict: Verdict::None,
        }
    }
}

/// Which way a figure is better.
#[derive(Clone, Copy)]
pub enum Better {
    Lower,
    Higher,
}

/// The samples of a figure measured several times.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub runs: usize,
    pub min: f64,
    pub lower_quartile: f64,
    pub median: f64,
    pub upper_quartile: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(samples: &[f64]) -> Self {
        assert!(!samples.is_empty(), "a spread of no samples");
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        // The quartiles rounded outwards (the lower down, the upper up), so that they are
        // symmetric and the spread they judge is never narrower than it is: with 3 samples
        // they are the minimum and the maximum, with 20 the 5th and the 16th.
        let last = (sorted.len() - 1) as f64;
        let at = |rank: f64| sorted[rank as usize];
        Self {
            runs: sorted.len(),
            min: sorted[0],
            lower_quartile: at((0.25 * last).floor()),
            median: at((0.5 * last).round()),
            upper_quartile: at((0.75 * last).ceil()),
            max: sorted[sorted.len() - 1],
        }
    }

    /// `pass`, `FAIL`, or `None` when the target lies within the interquartile range.
    pub fn verdict(&self, target: f64, better: Better) -> Option<bool> {
        let (worse, better_q) = match better {
            Better::Lower => (self.upper_quartile, self.lower_quartile),
            Better::Higher => (self.lower_quartile, self.upper_quartile),
        };
        let meets = |v: f64| match better {
            Better::Lower => v <= target,
            Better::Higher => v >= target,
        };
        if meets(worse) {
            Some(true)
        } else if !meets(better_q) {
            Some(false)
        } else {
            None
        }
    }

    /// `median (min – max)` with `decimals` decimals and `unit` after each number.
    pub fn show(&self, decimals: usize, unit: &str) -> String {
        format!(
            "{:.decimals$}{unit} ({:.decimals$} – {:.decimals$}, {} runs)",
            self.median, self.min, self.max, self.runs
        )
    }
}

/// Samples taken in runs that alternate with their reference's: each run's figure over its
/// reference in the same run.
pub fn ratios(figures: &[f64], references: &[f64]) -> Vec<f64> {
    assert_eq!(figures.len(), references.len(), "one reference per run");
    figures.iter().zip(references).map(|(f, r)| f / r).collect()
}

pub fn smoke() -> bool {
    std::env::var_os("BENCH_SMOKE").is_some()
}

pub fn print_figures(figures: &[Figure]) {
    println!();
    for f in figures {
        let verdict = match f.verdict {
            Verdict::Counted(true) => "pass",
            Verdict::Counted(false) => "FAIL",
            _ if smoke() => "-",
            Verdict::None => "-",
            Verdict::Judged(true) => "pass",
            Verdict::Judged(false) => "FAIL",
            Verdict::Unsure => "unsure",
        };
        println!("FIGURE\t{}\t{}\t{}\t{verdict}", f.name, f.measured, f.target);
    }
}

/// Megabytes (10^6 bytes) of a peak resident size that /proc reports in KiB.
pub fn megabytes(kib: u64) -> f64 {
    (kib * 1024) as f64 / 1e6
}

/// The peak resident memory of a running process (VmHWM), in KiB.
pub fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// Start this process's peak resident memory again from what it holds now (Linux's
/// `clear_refs`), so that a later part of a run is measured alone.
pub fn reset_own_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("/proc/self/clear_refs (Linux 4.0 or later)");
}

/// This process's own peak resident memory, in KiB.
pub fn own_peak_kib() -> u64 {
    peak_kib(std::process::id())
}
