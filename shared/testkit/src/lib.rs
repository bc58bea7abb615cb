//! The test kit: what the contract suite, the API tests, the job tests and the benches
//! share, written once. A dev-dependency only; nothing here reaches a deployed function.

pub mod examples;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use outreach_core::ports::Clock;

/// An instant from RFC 3339 text (`"2026-10-03T01:00:00Z"`).
pub fn t(s: &str) -> DateTime<Utc> {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not an RFC 3339 instant: {e}"))
}

/// A clock that stands still until a test moves it.
pub struct StepClock(pub Mutex<DateTime<Utc>>);

impl StepClock {
    pub fn at(instant: &str) -> Arc<Self> {
        Arc::new(Self(Mutex::new(t(instant))))
    }

    pub fn set(&self, instant: &str) {
        *self.0.lock().unwrap() = t(instant);
    }
}

impl Clock for StepClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A name no other test of any process on this machine uses (`prefix-…`): for a fresh
/// DynamoDB table or queue on the shared local server.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{prefix}-{nanos:x}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The local AWS-compatible server the tests talk to (`AWS_ENDPOINT_URL`), refusing any
/// other: a test must never reach AWS itself.
pub fn local_aws_endpoint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "AWS_ENDPOINT_URL must point at a local AWS-compatible server (run ./scripts/test, which starts moto); got {endpoint:?}"
    );
    endpoint
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stepped_clock_shows_the_instant_it_was_set_to() {
        let clock = StepClock::at("2026-10-03T01:00:00Z");
        assert_eq!(clock.now(), t("2026-10-03T01:00:00Z"));
        clock.set("2026-10-03T02:30:00Z");
        assert_eq!(clock.now().to_rfc3339(), "2026-10-03T02:30:00+00:00");
    }

    #[test]
    fn unique_names_differ_within_a_process() {
        let a = unique_name("outreach-test");
        let b = unique_name("outreach-test");
        assert!(a.starts_with("outreach-test-") && a != b, "{a} {b}");
    }
}
