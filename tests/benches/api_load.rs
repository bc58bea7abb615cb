//! The API under load: `outreach serve` (release build) on a SQLite file holding a province
//! of 192 communes, `API_LOAD_CITIZENS` citizens each, and a campaign of weekly sessions over the last 13
//! weeks (2,496 sessions), loaded by `wrk` on 127.0.0.1 for `API_LOAD_SECONDS` (10) each:
//!
//! - listing a commune's sessions (`GET /v1/campaigns/{id}/sessions?commune=...`), a
//!   province planner's token, each request another commune: target >= 3,000 requests/s;
//! - recording attendance (`PUT /v1/sessions/{id}/attendance`, 5 attendees), each request
//!   another session: target >= 1,000 requests/s;
//!
//! p99 latency < 50 ms for both, and the server's peak memory (VmHWM) <= 100 MB. Then each
//! page of the dashboard (`/ui/…`, a signed-in cookie of the same planner), each request
//! another commune or session where the page takes one: p99 < 50 ms each. The province has
//! the 203 units of `../shared/data/bacgiang_units.json` when that folder is beside the
//! checkout (else 205 made-up ones) and `API_LOAD_CITIZENS` (52) citizens a commune: 9,984
//! contacts. Any answer
//! other than 200 fails the bench.
//!
//! `scripts/bench` runs it with `API_LOAD_OUTREACH` (the `outreach` binary) and `wrk` on PATH.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration as Elapsed;

use chrono::{Duration, Utc};
use chrono_tz::Asia::Ho_Chi_Minh;
use outreach_api::auth::{AuthConfig, LOCAL_ISSUER, Role};
use outreach_core::campaign::{CampaignAction, CampaignInput, ScheduleSpec};
use outreach_core::contact::{ContactInput, ContactRole};
use outreach_core::jobs::run_planner;
use outreach_core::org::{ImportScope, ImportValidity, parse_units_json};
use outreach_core::ports::{ContactStore, OutcomeStore, PageRequest, SessionFilter, SessionStore};
use outreach_core::schedule::Period;
use outreach_core::usecases;
use outreach_store::SqliteStore;

#[path = "common/figures.rs"]
mod figures;
#[path = "common/units.rs"]
mod units;
use figures::{Figure, megabytes, peak_kib, print_figures};

const SECRET: &str = "api-load-bench-secret-of-at-least-32-bytes";
const DISTRICTS: usize = 12;
const COMMUNES_PER_DISTRICT: usize = 16;
const ATTENDEES: usize = 5;
const LIST_TARGET: f64 = 3_000.0;
const ATTENDANCE_TARGET: f64 = 1_000.0;
const P99_TARGET_MS: f64 = 50.0;
const PEAK_TARGET_MB: f64 = 100.0;

/// What the store holds for the load: the campaign, and each session with its commune's
/// citizens.
struct Seeded {
    campaign: String,
    communes: Vec<String>,
    sessions: Vec<(String, Vec<String>)>,
}

/// Citizens of each commune: `API_LOAD_CITIZENS`, 52 by default (9,984 in the province).
fn citizens_per_commune() -> usize {
    std::env::var("API_LOAD_CITIZENS")
        .ok()
        .map(|v| v.parse().expect("API_LOAD_CITIZENS: a number"))
        .unwrap_or(52)
}

/// The Bắc Giang list when the team's folder is there (203 units), else 12 districts of 16
/// communes (205 units); with the communes' codes.
fn province() -> (String, Vec<String>) {
    let json = units::bacgiang_units().unwrap_or_else(|| {
        let mut units = vec![r#"{"code":"24","name":"Tỉnh Bắc Giang","level":"province"}"#.to_string()];
        for d in 0..DISTRICTS {
            let district = format!("{}", 213 + d);
            units.push(format!(
                r#"{{"code":"{district}","name":"Huyện {d}","level":"district","parent_code":"24"}}"#
            ));
            for c in 0..COMMUNES_PER_DISTRICT {
                let code = format!("{:05}", 7000 + d * 100 + c);
                units.push(format!(
                    r#"{{"code":"{code}","name":"Xã {d}-{c}","level":"commune","parent_code":"{district}"}}"#
                ));
            }
        }
        format!("[{}]", units.join(","))
    });
    let communes = parse_units_json(&json)
        .unwrap()
        .into_iter()
        .filter_map(|(_, row)| row.ok())
        .filter(|u| u.level.as_deref() == Some("commune"))
        .filter_map(|u| u.code)
        .collect();
    (json, communes)
}

async fn seed(db: &Path) -> Seeded {
    let store = SqliteStore::open(db).unwrap();
    let (units, communes) = province();
    let units = parse_units_json(&units).unwrap();
    let setup = Utc::now() - Duration::days(100);
    usecases::import_org_units(&store, units, ImportValidity::default(), ImportScope::Anywhere)
        .await
        .unwrap();
    for (n, commune) in communes.iter().enumerate() {
        for i in 0..citizens_per_commune() {
            let contact = ContactInput {
                role: ContactRole::Citizen,
                name: format!("Trần Văn Dân {n}-{i}"),
                commune_code: commune.clone(),
                phone: format!("09{:08}", n * 100 + i),
                email: None,
                consents: vec![],
            }
            .into_contact(usecases::new_id("ct").into(), setup, Some("bench".into()))
            .unwrap();
            store.insert_contact(&contact).await.unwrap();
        }
    }
    // Weekly sessions over the last 13 weeks, all of them over by now.
    let today = Utc::now().with_timezone(&Ho_Chi_Minh).date_naive();
    let input = CampaignInput {
        name: "Chủ nhật dịch vụ công".into(),
        description: None,
        period: Period::new(today - Duration::days(91), today - Duration::days(1)).unwrap(),
        target_units: vec!["24".into()],
        schedule: ScheduleSpec {
            cron: "0 8 * * 0".into(),
            time_zone: Ho_Chi_Minh,
        },
        session_minutes: 120,
        venues: Default::default(),
        default_venue: Some("Nhà văn hoá".into()),
        capacity: 40,
        min_staff: 0,
        reminder_rules: vec![],
        sms_unicode: false,
        max_sms_segments: 2,
    };
    let campaign = usecases::create_campaign(&store, input, setup).await.unwrap();
    usecases::act_on_campaign(&store, &campaign.id, CampaignAction::Activate, setup)
        .await
        .unwrap();
    run_planner(&store, setup, Duration::days(120)).await.unwrap();

    let mut sessions = Vec::new();
    let filter = SessionFilter {
        campaign: Some(campaign.id.clone()),
        ..Default::default()
    };
    let mut page = PageRequest::first(500);
    loop {
        let p = store.list_sessions(&filter, &page).await.unwrap();
        for s in p.items {
            let contacts = store
                .list_contacts(
                    &outreach_core::ports::ContactFilter {
                        commune: Some(s.commune_code.clone()),
                        role: None,
                    },
                    &PageRequest::first(ATTENDEES as u32),
                )
                .await
                .unwrap();
            sessions.push((
                s.id.into_string(),
                contacts.items.into_iter().map(|c| c.id.into_string()).collect(),
            ));
        }
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    Seeded {
        campaign: campaign.id.into_string(),
        communes,
        sessions,
    }
}

/// A wrk script: the token, and requests taken in turn from `requests` (method, path, body),
/// each thread from its own place in the list.
fn script(token: &str, requests: &[(&str, String, Option<String>)]) -> String {
    let headers = format!(
        "wrk.headers[\"Authorization\"] = \"Bearer {token}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
    );
    script_with(&headers, requests)
}

/// A wrk script of GETs of the dashboard, signed in with `token` in the session cookie.
fn page_script(token: &str, paths: &[String]) -> String {
    let requests: Vec<_> = paths.iter().map(|p| ("GET", p.clone(), None)).collect();
    script_with(
        &format!("wrk.headers[\"Cookie\"] = \"outreach_phien={token}\"\n"),
        &requests,
    )
}

fn script_with(headers: &str, requests: &[(&str, String, Option<String>)]) -> String {
    let mut lua = headers.to_string();
    lua.push_str("local requests = {\n");
    for (method, path, body) in requests {
        match body {
            Some(body) => writeln!(lua, r#"  {{"{method}", "{path}", [[{body}]]}},"#).unwrap(),
            None => writeln!(lua, r#"  {{"{method}", "{path}", nil}},"#).unwrap(),
        }
    }
    lua.push_str(
        r#"}
local threads = 0
function setup(thread)
  thread:set("first", threads * 7919)
  threads = threads + 1
end
local n = 0
function init(args)
  n = first or 0
end
function request()
  n = n + 1
  local r = requests[(n % #requests) + 1]
  return wrk.format(r[1], r[2], nil, r[3])
end
"#,
    );
    lua
}

struct Load {
    per_second: f64,
    p99_ms: f64,
    requests: u64,
}

fn duration_ms(text: &str) -> f64 {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).expect("a unit");
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse().unwrap();
    match unit {
        "us" => value / 1e3,
        "ms" => value,
        "s" => value * 1e3,
        "m" => value * 60e3,
        other => panic!("wrk latency unit {other:?}"),
    }
}

fn run_wrk(name: &str, port: u16, lua: &str, dir: &Path, seconds: u64) -> Load {
    let path = dir.join(format!("{name}.lua"));
    std::fs::write(&path, lua).unwrap();
    let output = Command::new("wrk")
        .args(["-t2", "-c16", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(&path)
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .expect("wrk (scripts/bench installs Debian's wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!("--- {name}\n{text}");
    assert!(
        !text.contains("Non-2xx"),
        "{name}: the server answered some requests with an error:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in wrk's output"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the request count in wrk's output");
    Load {
        per_second: field("Requests/sec:").parse().unwrap(),
        p99_ms: duration_ms(&field("99%")),
        requests,
    }
}

fn start_server(outreach: &str, db: &Path, port: u16) -> Child {
    let mut child = Command::new(outreach)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--store"])
        .arg(format!("sqlite:{}", db.display()))
        .env("OUTREACH_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{outreach}: {e}"));
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Elapsed::from_millis(25));
    }
    child.kill().ok();
    child.wait().ok();
    panic!("outreach serve did not listen on 127.0.0.1:{port}");
}

#[tokio::main]
async fn main() {
    let outreach = std::env::var("API_LOAD_OUTREACH").expect("API_LOAD_OUTREACH: the release `outreach` binary");
    let seconds: u64 = std::env::var("API_LOAD_SECONDS")
        .ok()
        .map(|v| v.parse().expect("API_LOAD_SECONDS: a number"))
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("api.db");
    let seeded = seed(&db).await;
    let token = AuthConfig::hs256(SECRET.as_bytes(), LOCAL_ISSUER).unwrap().mint(
        "api-load",
        Role::Planner,
        "24",
        Utc::now(),
        Duration::hours(1),
    );

    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut server = start_server(&outreach, &db, port);
    println!(
        "outreach serve on 127.0.0.1:{port}: {} communes, {} sessions, wrk -t2 -c16 for {seconds} s each",
        seeded.communes.len(),
        seeded.sessions.len()
    );

    let lists: Vec<_> = seeded
        .communes
        .iter()
        .map(|c| {
            (
                "GET",
                format!("/v1/campaigns/{}/sessions?commune={c}&limit=20", seeded.campaign),
                None,
            )
        })
        .collect();
    let list = run_wrk("list-sessions", port, &script(&token, &lists), dir.path(), seconds);

    let attendance: Vec<_> = seeded
        .sessions
        .iter()
        .map(|(id, contacts)| {
            let attendees: Vec<_> = contacts.iter().map(|c| format!(r#"{{"contact_id":"{c}"}}"#)).collect();
            (
                "PUT",
                format!("/v1/sessions/{id}/attendance"),
                Some(format!(r#"{{"attendees":[{}]}}"#, attendees.join(","))),
            )
        })
        .collect();
    let attend = run_wrk(
        "record-attendance",
        port,
        &script(&token, &attendance),
        dir.path(),
        seconds,
    );

    // The dashboard's pages, each request another commune or session where a page takes one.
    let sessions: Vec<String> = seeded.sessions.iter().map(|(id, _)| format!("/ui/buoi/{id}")).collect();
    let per_commune =
        |page: &str| -> Vec<String> { seeded.communes.iter().map(|c| format!("{page}?commune={c}")).collect() };
    let pages = [
        ("Tổng quan", "overview", vec!["/ui/tong-quan".to_string()]),
        ("Lịch buổi", "sessions", per_commune("/ui/buoi")),
        ("Buổi", "session", sessions),
        ("Người", "contacts", per_commune("/ui/nguoi")),
        ("Chiến dịch", "campaigns", vec!["/ui/chien-dich".to_string()]),
        ("Báo cáo", "report", vec!["/ui/bao-cao".to_string()]),
    ];
    let mut page_loads = Vec::new();
    for (label, name, paths) in pages {
        let load = run_wrk(
            &format!("page-{name}"),
            port,
            &page_script(&token, &paths),
            dir.path(),
            seconds,
        );
        println!(
            "page {label:<12} {:>8.0} requests/s, p99 {:.2} ms",
            load.per_second, load.p99_ms
        );
        page_loads.push((label, load));
    }

    let peak = megabytes(peak_kib(server.id()));
    server.kill().ok();
    server.wait().ok();

    // What the load wrote is there: sessions hold the attendees it sent.
    let store = SqliteStore::open(&db).unwrap();
    let mut recorded = 0;
    for (id, contacts) in &seeded.sessions {
        if let Some(record) = store.get_session_record(&id.as_str().into()).await.unwrap() {
            assert_eq!(record.attendees.len(), contacts.len());
            recorded += 1;
        }
    }
    assert!(recorded > 0, "no attendance recorded");
    let reached = format!("{recorded} (by {} requests)", attend.requests);
    println!(
        "attendance recorded for {reached} of {} sessions",
        seeded.sessions.len()
    );

    println!(
        "list sessions:      {:>8.0} requests/s, p99 {:.2} ms",
        list.per_second, list.p99_ms
    );
    println!(
        "record attendance:  {:>8.0} requests/s, p99 {:.2} ms",
        attend.per_second, attend.p99_ms
    );
    println!("server peak memory: {peak:.1} MB");
    let mut figures = vec![
        Figure::new(
            "API: list sessions",
            format!("{:.0} req/s", list.per_second),
            format!(">= {LIST_TARGET}/s"),
            list.per_second >= LIST_TARGET,
        ),
        Figure::new(
            "API: list sessions p99",
            format!("{:.2} ms", list.p99_ms),
            format!("< {P99_TARGET_MS} ms"),
            list.p99_ms < P99_TARGET_MS,
        ),
        Figure::new(
            "API: record attendance",
            format!("{:.0} req/s", attend.per_second),
            format!(">= {ATTENDANCE_TARGET}/s"),
            attend.per_second >= ATTENDANCE_TARGET,
        ),
        Figure::new(
            "API: record attendance p99",
            format!("{:.2} ms", attend.p99_ms),
            format!("< {P99_TARGET_MS} ms"),
            attend.p99_ms < P99_TARGET_MS,
        ),
        Figure::new(
            "API: server peak memory",
            format!("{peak:.1} MB"),
            format!("<= {PEAK_TARGET_MB} MB"),
            peak <= PEAK_TARGET_MB,
        ),
    ];
    for (label, load) in &page_loads {
        figures.push(Figure::new(
            format!("Dashboard: {label} p99"),
            format!("{:.2} ms", load.p99_ms),
            format!("< {P99_TARGET_MS} ms"),
            load.p99_ms < P99_TARGET_MS,
        ));
    }
    print_figures(&figures);
}
