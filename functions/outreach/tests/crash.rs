//! What is owed survives the process: the local pipeline (SQLite, its delivery queue, the
//! outbox) with 10,000 deliveries, `outreach run dispatcher` killed with SIGKILL while it
//! dispatches, between a claim and the provider's call, and after the provider accepted a
//! message but before the sender recorded it; then run again until done. Every delivery is
//! sent exactly once (counted from the outbox), none twice, none left claimed; each email
//! with the unsubscribe link `outreach run` signs with the local key file.
//!
//! The kills land exactly where they should: `OUTREACH_PAUSE_AT=POINT:N` stops the process
//! there (see `outreach_core::testing`), and the test sends SIGKILL once it says so.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use outreach_core::ports::{DeliveryFilter, DeliveryStore, PageRequest};
use outreach_core::reminder::DeliveryStatus;
use outreach_notify::Outbox;
use outreach_store::SqliteStore;
use serde_json::{Value, json};

const COMMUNES: [&str; 5] = ["07201", "07204", "07207", "07210", "07213"];
const CITIZENS: usize = 5_000;
/// The reminder is due on 8 January 2027 at 01:00 UTC (a day before the session).
const DUE: &str = "2027-01-08T01:05:00Z";

fn outreach(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_outreach"));
    command
        .current_dir(dir)
        .env_remove("OUTREACH_STORE")
        .env_remove("OUTREACH_JWT_SECRET")
        .env_remove("OUTREACH_QUEUE_URL")
        .env_remove("OUTREACH_PAUSE_AT")
        .env("RUST_LOG", "warn")
        // Emails carry unsubscribe links, signed with the key file `serve` and `token` use.
        .env("OUTREACH_PUBLIC_URL", "https://outreach.example.vn")
        // A task a killed sender had received comes back after a second.
        .env("OUTREACH_LOCAL_QUEUE_VISIBILITY_SECONDS", "1");
    command
}

/// Units, 5,000 citizens who consent to SMS and email, and an active campaign whose one
/// session per commune (Saturday 9 January 2027) has a reminder on both channels, set up
/// through the API of `outreach serve`; then the planner. The campaign's id.
fn set_up(dir: &Path) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = outreach(dir)
        .args(["serve", "--addr", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let result = std::panic::catch_unwind(|| {
        let up = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            std::net::TcpStream::connect(&addr).is_ok()
        });
        assert!(up, "serve did not come up on {addr}");
        let token = outreach(dir)
            .args(["token", "--role", "admin", "--org", "24"])
            .output()
            .unwrap();
        let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let http = reqwest::Client::new();
            let call = |path: &str, content_type: &str, body: String| {
                let request = http
                    .post(format!("http://{addr}{path}"))
                    .bearer_auth(&token)
                    .header("content-type", content_type)
                    .body(body);
                let path = path.to_string();
                async move {
                    let response = request.send().await.unwrap();
                    let status = response.status();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    assert!(status.is_success(), "{path}: {status} {body}");
                    body
                }
            };
            let mut units = vec![
                json!({"code": "24", "name": "Tỉnh Bắc Giang", "level": "province"}),
                json!({"code": "213", "name": "Thành phố Bắc Giang", "level": "district", "parent_code": "24"}),
            ];
            units.extend(
                COMMUNES.map(
                    |c| json!({"code": c, "name": format!("Phường {c}"), "level": "commune", "parent_code": "213"}),
                ),
            );
            call(
                "/v1/org-units:import",
                "application/json",
                Value::from(units).to_string(),
            )
            .await;
            let mut csv = String::from(
                "name,phone,role,commune_code,email,consent_sms,consent_email,consent_method,consent_wording_version\n",
            );
            for i in 0..CITIZENS {
                let commune = COMMUNES[i % COMMUNES.len()];
                csv.push_str(&format!(
                    "Công dân {i},09120{i:05},citizen,{commune},cd{i}@example.vn,yes,yes,paper_form,v1\n"
                ));
            }
            let imported = call("/v1/contacts:import", "text/csv", csv).await;
            assert_eq!(imported["imported"], CITIZENS, "{imported}");
            let campaign = call(
                "/v1/campaigns",
                "application/json",
                json!({
                    "name": "Thứ Bảy dịch vụ công",
                    "period": {"start": "2027-01-04", "end": "2027-01-10"},
                    "target_units": ["213"],
                    "schedule": {"cron": "0 8 * * 6"},
                    "default_venue": "Trụ sở UBND",
                    "capacity": 2000,
                    "reminder_rules": [{"offset_minutes": 1440, "audience": "citizens", "channels": ["sms", "email"]}]
                })
                .to_string(),
            )
            .await;
            let id = campaign["id"].as_str().unwrap().to_string();
            call(
                &format!("/v1/campaigns/{id}:activate"),
                "application/json",
                String::new(),
            )
            .await;
            id
        })
    });
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
    let campaign = result.unwrap();
    let planner = outreach(dir)
        .args(["run", "planner", "--now", "2027-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert!(planner.status.success(), "{}", String::from_utf8_lossy(&planner.stderr));
    campaign
}

/// `outreach run dispatcher --now NOW` stopped at `pause`, then killed with SIGKILL.
fn killed_at(dir: &Path, now: &str, pause: &str) {
    let mut run = outreach(dir)
        .args(["run", "dispatcher", "--now", now])
        .env("OUTREACH_PAUSE_AT", pause)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut said = Vec::new();
    for line in BufReader::new(run.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("OUTREACH_PAUSED") {
            run.kill().unwrap(); // SIGKILL
            run.wait().unwrap();
            println!("{pause}: killed after {:.1} s", started.elapsed().as_secs_f64());
            // What the dead process had received comes back once its visibility is over.
            std::thread::sleep(Duration::from_millis(1_500));
            return;
        }
        said.push(line);
    }
    let status = run.wait().unwrap();
    panic!(
        "the run ended ({status}) without reaching {pause}:\n{}",
        said.join("\n")
    );
}

/// `outreach run dispatcher --now NOW` to its end; its output.
fn finished(dir: &Path, now: &str) -> String {
    let run = outreach(dir)
        .args(["run", "dispatcher", "--now", now])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8(run.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_killed_anywhere_leaves_every_reminder_to_be_sent_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let campaign = tokio::task::spawn_blocking(move || {
        let campaign = set_up(&path);
        // 10 pages of 500 citizens: killed with the third enqueued and its job's cursor not moved.
        killed_at(&path, DUE, "dispatched:3");
        // Dispatched to the end (the third page again), then killed between a claim and the send.
        killed_at(&path, DUE, "claimed:1500");
        // A minute later (the claim above is still held): killed after the outbox took a message
        // and before the sender recorded it.
        killed_at(&path, "2027-01-08T01:06:00Z", "accepted:3000");
        // Past the 5-minute leases: the two held claims are taken over; the rest is sent.
        println!("{}", finished(&path, "2027-01-08T01:12:00Z"));
        let again = finished(&path, "2027-01-08T01:13:00Z");
        assert!(again.contains(": 0 sent"), "a last run sends nothing: {again}");
        campaign
    })
    .await
    .unwrap();

    let outbox = dir.path().join("outbox");
    let mut sent: HashMap<String, usize> = HashMap::new();
    let sms = Outbox::read_sms(&outbox).unwrap();
    let email = Outbox::read_email(&outbox).unwrap();
    for key in sms
        .iter()
        .map(|m| m.key.clone())
        .chain(email.iter().map(|m| m.key.clone()))
    {
        *sent
            .entry(key.expect("every reminder carries its delivery's key"))
            .or_default() += 1;
    }
    assert_eq!(
        (sms.len(), email.len()),
        (CITIZENS, CITIZENS),
        "one SMS and one email a citizen"
    );
    let twice: Vec<_> = sent.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    // `outreach run` signs the links with the key file, as serve checks them.
    let links: Vec<&str> = email.iter().filter_map(|m| m.unsubscribe_url.as_deref()).collect();
    assert_eq!(links.len(), CITIZENS, "every email carries an unsubscribe link");
    let prefix = "https://outreach.example.vn/v1/inbound/unsubscribe?token=";
    assert!(links.iter().all(|l| l.starts_with(prefix)), "{}", links[0]);
    let key = std::fs::read_to_string(dir.path().join("outreach.key")).unwrap();
    let auth = outreach_api::AuthConfig::hs256(key.trim().as_bytes(), outreach_api::auth::LOCAL_ISSUER).unwrap();
    let contact = auth
        .verify_unsubscribe(&links[0][prefix.len()..])
        .expect("signed with the key file");
    assert!(contact.as_str().starts_with("ct_"), "{contact}");

    let store = SqliteStore::open(dir.path().join("outreach.db")).unwrap();
    let mut statuses: HashMap<DeliveryStatus, usize> = HashMap::new();
    let mut retried = 0;
    let mut page = PageRequest::first(500);
    loop {
        let filter = DeliveryFilter {
            campaign: Some(campaign.as_str().into()),
            ..DeliveryFilter::default()
        };
        let found = store.list_deliveries(&filter, &page).await.unwrap();
        for delivery in &found.items {
            *statuses.entry(delivery.status).or_default() += 1;
            assert!(sent.contains_key(&delivery.id), "{} is not in the outbox", delivery.id);
            retried += usize::from(delivery.attempts > 1);
        }
        match found.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(
        statuses,
        HashMap::from([(DeliveryStatus::Sent, 2 * CITIZENS)]),
        "none left claimed"
    );
    assert_eq!(retried, 2, "the two deliveries whose sender died were taken over");
    assert_eq!(store.waiting_tasks().await.unwrap(), 0, "the local queue is empty");
}
