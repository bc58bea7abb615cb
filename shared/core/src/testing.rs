//! Pause points for the crash tests: with `OUTREACH_PAUSE_AT=POINT:N` the process stops for
//! good the Nth time it reaches POINT, after printing `OUTREACH_PAUSED POINT N` to stderr,
//! so that a test can kill it with SIGKILL exactly there (`functions/outreach/tests/crash.rs`).
//! Unset, as everywhere but in those tests, a point costs one read of a value set once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where a process can be paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// The dispatcher enqueued a page of a job's tasks and has not moved the job's cursor.
    Dispatched,
    /// The sender claimed a delivery and has not called the provider.
    Claimed,
    /// The provider accepted a message and the sender has not recorded it.
    Accepted,
}

impl Pause {
    const ALL: [Pause; 3] = [Pause::Dispatched, Pause::Claimed, Pause::Accepted];

    fn name(self) -> &'static str {
        match self {
            Self::Dispatched => "dispatched",
            Self::Claimed => "claimed",
            Self::Accepted => "accepted",
        }
    }
}

struct Armed {
    point: Pause,
    at: usize,
    reached: AtomicUsize,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let value = std::env::var("OUTREACH_PAUSE_AT").ok()?;
            let parsed = value.split_once(':').and_then(|(name, n)| {
                let point = Pause::ALL.into_iter().find(|p| p.name() == name)?;
                Some((point, n.parse::<usize>().ok().filter(|&n| n > 0)?))
            });
            if parsed.is_none() {
                eprintln!(
                    "OUTREACH_PAUSE_AT={value:?} is not POINT:N (dispatched, claimed or accepted; N from 1): ignored"
                );
            }
            let (point, at) = parsed?;
            Some(Armed {
                point,
                at,
                reached: AtomicUsize::new(0),
            })
        })
        .as_ref()
}

/// Stop here for good if `OUTREACH_PAUSE_AT` names this point and this is its Nth time.
pub fn pause_at(point: Pause) {
    let Some(armed) = armed() else { return };
    if armed.point == point && armed.reached.fetch_add(1, Ordering::SeqCst) + 1 == armed.at {
        eprintln!("OUTREACH_PAUSED {} {}", point.name(), armed.at);
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
