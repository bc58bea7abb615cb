//! The figures a bench measured, printed for `scripts/bench` to gather into one table: a
//! line `FIGURE<TAB>name<TAB>measured<TAB>target<TAB>pass|FAIL|-` each. With `BENCH_SMOKE`
//! set (tiny sizes, in the test command) targets are not judged.
//!
//! Each bench binary includes this file and uses part of it.
#![allow(dead_code)]

pub struct Figure {
    pub name: String,
    pub measured: String,
    pub target: String,
    /// `None`: a figure shown for reference, with no target of its own.
    pub pass: Option<bool>,
}

impl Figure {
    pub fn new(name: impl Into<String>, measured: impl Into<String>, target: impl Into<String>, pass: bool) -> Self {
        Self {
            name: name.into(),
            measured: measured.into(),
            target: target.into(),
            pass: Some(pass),
        }
    }

    pub fn info(name: impl Into<String>, measured: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            measured: measured.into(),
            target: "-".into(),
            pass: None,
        }
    }
}

pub fn smoke() -> bool {
    std::env::var_os("BENCH_SMOKE").is_some()
}

pub fn print_figures(figures: &[Figure]) {
    println!();
    for f in figures {
        let verdict = match f.pass {
            _ if smoke() => "-",
            None => "-",
            Some(true) => "pass",
            Some(false) => "FAIL",
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

/// This process's own peak resident memory, in KiB.
pub fn own_peak_kib() -> u64 {
    peak_kib(std::process::id())
}
