//! The `outreach` command as a user runs it: a real process, real files, a real socket.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use outreach_core::org::Level;
use outreach_core::ports::{OrgUnitFilter, OrgUnitStore, PageRequest};
use outreach_store::SqliteStore;
use serde_json::{Value, json};

fn outreach(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outreach"))
        .args(args)
        .current_dir(dir)
        .env_remove("OUTREACH_STORE")
        .env_remove("OUTREACH_JWT_SECRET")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the outreach binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A province shaped like Bắc Giang before 2025: 1 province, 10 districts, 192 communes,
/// five-digit commune codes with leading zeros.
fn province_file(dir: &Path) -> PathBuf {
    let mut units =
        vec![json!({"code": "24", "name": "Tỉnh Bắc Giang", "level": "province", "parent_code": null, "type": "Tỉnh"})];
    let mut commune = 7200;
    for d in 0..10 {
        let district = format!("{}", 213 + d);
        units.push(json!({"code": district, "name": format!("Huyện {d}"), "level": "district", "parent_code": "24", "type": "Huyện"}));
        let count = if d < 2 { 20 } else { 19 };
        for _ in 0..count {
            commune += 3;
            units.push(json!({"code": format!("{commune:05}"), "name": format!("Xã {commune}"), "level": "commune", "parent_code": district, "type": "Xã"}));
        }
    }
    let path = dir.join("units.json");
    std::fs::write(&path, serde_json::to_string_pretty(&units).unwrap()).unwrap();
    path
}

async fn count_units(db: &Path) -> [usize; 3] {
    let store = SqliteStore::open(db).unwrap();
    let mut counts = [0; 3];
    for (i, level) in [Level::Province, Level::District, Level::Commune]
        .into_iter()
        .enumerate()
    {
        let filter = OrgUnitFilter {
            level: Some(level),
            parent_code: None,
        };
        counts[i] = store
            .list_org_units(&filter, &PageRequest::first(500))
            .await
            .unwrap()
            .items
            .len();
    }
    counts
}

#[tokio::test]
async fn org_units_import_loads_a_whole_province() {
    let dir = tempfile::tempdir().unwrap();
    let file = province_file(dir.path());
    let out = outreach(dir.path(), &["org-units", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        format!(
            "imported 1 provinces, 10 districts, 192 communes from {}",
            file.display()
        )
    );
    assert_eq!(count_units(&dir.path().join("outreach.db")).await, [1, 10, 192]);
    let store = SqliteStore::open(dir.path().join("outreach.db")).unwrap();
    assert_eq!(
        store.org_unit_versions("07203").await.unwrap()[0].code,
        "07203",
        "leading zero kept"
    );
    // Importing the same file again replaces, it does not duplicate.
    let again = outreach(dir.path(), &["org-units", "import", file.to_str().unwrap()]);
    assert!(again.status.success());
    assert_eq!(count_units(&dir.path().join("outreach.db")).await, [1, 10, 192]);
}

#[tokio::test]
async fn a_bad_unit_file_is_refused_row_by_row_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("units.db");
    let csv = "code,name,level,parent_code\n\
               24,Tỉnh Bắc Giang,province,\n\
               213,Thành phố Bắc Giang,district,24\n\
               07201,Phường Thọ Xương,commune,999\n\
               213,Thành phố Bắc Giang,district,24\n\
               07204,Phường Ngô Quyền,hamlet,213\n\
               07207,Phường Trần Phú,commune,213\n";
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, csv).unwrap();
    let out = outreach(
        dir.path(),
        &[
            "org-units",
            "import",
            file.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("3 bad rows; nothing was imported"), "{err}");
    assert!(err.contains("row 4 (code 07201): parent 999 does not exist"), "{err}");
    assert!(
        err.contains("row 5 (code 213): duplicate code 213 (first seen in row 3)"),
        "{err}"
    );
    assert!(err.contains("row 6 (code 07204): unknown level \"hamlet\""), "{err}");
    assert_eq!(count_units(&db).await, [0, 0, 0], "nothing half-imported");

    let missing = outreach(dir.path(), &["org-units", "import", "no-such-file.json"]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("no-such-file.json"));
}

#[test]
fn demo_runs_the_main_job_on_a_temporary_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = outreach(dir.path(), &["demo"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("materialised 39 sessions"), "{stdout}");
    assert!(stdout.contains("running again created 0"), "{stdout}");
    assert!(stdout.contains("39 sessions in 2026-Q4: 38 scheduled"), "{stdout}");
    assert!(stdout.contains("short of staff"), "{stdout}");
    // Section 7: the reminders of the first two weeks, read back from the delivery log and
    // the outbox.
    assert!(stdout.contains("7. reminders"), "{stdout}");
    let sms_sent: usize = stdout
        .split("SMS sent: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no SMS count in {stdout}"));
    assert!(sms_sent > 0, "{stdout}");
    assert!(
        stdout.contains(&format!("SMS sent: {sms_sent} ({sms_sent} in the outbox)")),
        "{stdout}"
    );
    // The citizens' rule is «Zalo ZNS rồi SMS»: those with ZNS consent get ZNS, the rest SMS.
    let count_after = |label: &str| -> usize {
        stdout
            .split(label)
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label} in {stdout}"))
    };
    let zns_sent = count_after("Zalo ZNS sent: ");
    assert!(zns_sent > 0, "{stdout}");
    assert!(
        stdout.contains(&format!("Zalo ZNS sent: {zns_sent} ({zns_sent} in the outbox)")),
        "{stdout}"
    );
    let fell_back = count_after("in the outbox), ");
    assert!(fell_back > 0 && fell_back < sms_sent, "{stdout}");
    assert!(stdout.contains("template 246810, dia_diem="), "a ZNS as sent: {stdout}");
    // The SMS asked whether they will come; the answers make the next session's headcount.
    assert!(stdout.contains("Tra loi 1 neu se den"), "{stdout}");
    let recorded = count_after("replies to the question, ");
    assert!(recorded > 0, "{stdout}");
    assert!(
        stdout.contains("headcount of ") && stdout.contains(": asked 2, coming "),
        "{stdout}"
    );
    // The report's figures from the answers and the attendance.
    let figures = &stdout[stdout
        .find("answers and attendance, year to date: confirmed ")
        .expect("the figures")..];
    assert!(
        figures.contains("of those asked; no-show ") && figures.contains("of the citizens present"),
        "{figures}"
    );
    for reason in ["opted_out", "no_consent", "not_mobile"] {
        assert!(stdout.contains(reason), "{reason}: {stdout}");
    }
    assert!(stdout.contains("Tu choi: TC"), "an SMS as sent: {stdout}");
    // The first session's attendance taken at the door.
    assert!(
        stdout.contains("scanned twice and counted once") && stdout.contains("(1 walk-in)"),
        "{stdout}"
    );
    // Section 8 and the quarterly report.
    assert!(
        stdout.contains("snapshot revision 1, emailed to 1 planner(s) with bao-cao-quy-4-2026-24.xlsx"),
        "{stdout}"
    );
    assert!(stdout.contains("Báo cáo quý 4/2026 — Tỉnh Bắc Ninh"), "{stdout}");
    // Section 9: the merged wards' figures of before 1 July 2025 under their successor:
    // (300 + 200) of (1,000 + 500) online.
    assert!(
        stdout.contains("online dossiers, year to date, 33.3 % (Phường Bắc Giang), 25.0 % (Phường Đa Mai)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("online_dossier_ratio") && stdout.contains("on_track"),
        "{stdout}"
    );
    assert!(
        !dir.path().join("outreach.db").exists(),
        "the demo leaves the working directory alone"
    );
}

#[test]
fn run_planner_and_store_init_work_on_a_named_store() {
    let dir = tempfile::tempdir().unwrap();
    let init = outreach(dir.path(), &["store", "init", "--store", "sqlite:jobs.db"]);
    assert!(init.status.success(), "{}", text(&init.stderr));
    let want = format!(
        "schema version {} ready at jobs.db",
        SqliteStore::latest_schema_version()
    );
    assert!(text(&init.stdout).contains(&want), "{}", text(&init.stdout));
    let run = outreach(
        dir.path(),
        &[
            "run",
            "planner",
            "--now",
            "2026-10-01T00:00:00+07:00",
            "--store",
            "sqlite:jobs.db",
        ],
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("0 active campaigns"),
        "{}",
        text(&run.stdout)
    );
    // The quarterly summary the morning after Q3: a snapshot of every province, kept as
    // revision 1 then 2 when run again; no planner, so no email.
    let units = province_file(dir.path());
    let import = outreach(
        dir.path(),
        &[
            "org-units",
            "import",
            units.to_str().unwrap(),
            "--store",
            "sqlite:jobs.db",
        ],
    );
    assert!(import.status.success(), "{}", text(&import.stderr));
    for revision in [1, 2] {
        let summary = outreach(
            dir.path(),
            &[
                "run",
                "quarterly-summary",
                "--now",
                "2026-10-01T07:00:00+07:00",
                "--store",
                "sqlite:jobs.db",
            ],
        );
        assert!(summary.status.success(), "{}", text(&summary.stderr));
        let stdout = text(&summary.stdout);
        assert!(stdout.contains("2026-Q3"), "{stdout}");
        assert!(
            stdout.contains(&format!("24: snapshot revision {revision}, emailed to 0 planner(s)")),
            "{stdout}"
        );
    }
    let bad_now = outreach(dir.path(), &["run", "planner", "--now", "tomorrow"]);
    assert!(!bad_now.status.success());
    let nonsense = outreach(dir.path(), &["store", "init", "--store", "postgres://x"]);
    assert!(
        text(&nonsense.stderr).contains("neither sqlite:PATH nor dynamodb:TABLE"),
        "{}",
        text(&nonsense.stderr)
    );
}

/// The same commands against DynamoDB (the test script's moto server, via AWS_ENDPOINT_URL).
#[test]
fn store_init_import_and_planner_work_against_dynamodb() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("dynamodb:outreach-cli-{}", std::process::id());
    let init = outreach(dir.path(), &["store", "init", "--store", &store]);
    assert!(init.status.success(), "{}", text(&init.stderr));
    assert!(text(&init.stdout).contains("created"), "{}", text(&init.stdout));
    let again = outreach(dir.path(), &["store", "init", "--store", &store]);
    assert!(
        text(&again.stdout).contains("already exists"),
        "{}",
        text(&again.stdout)
    );
    let file = province_file(dir.path());
    let import = outreach(
        dir.path(),
        &["org-units", "import", file.to_str().unwrap(), "--store", &store],
    );
    assert!(import.status.success(), "{}", text(&import.stderr));
    assert!(text(&import.stdout).contains("1 provinces, 10 districts, 192 communes"));
    let now = "2026-10-01T00:00:00+07:00";
    let run = outreach(dir.path(), &["run", "planner", "--now", now, "--store", &store]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("0 active campaigns"),
        "{}",
        text(&run.stdout)
    );
}

/// `outreach serve` on a free port of 127.0.0.1 in `dir` (its store `dir/outreach.db`),
/// and its address once it answers.
fn serve(dir: &std::path::Path) -> (std::process::Child, String) {
    serve_with(dir, &[])
}

/// [`serve`] with more arguments.
fn serve_with(dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_outreach"))
        .args(["serve", "--addr", &addr])
        .args(extra)
        .current_dir(dir)
        .env_remove("OUTREACH_STORE")
        .env_remove("OUTREACH_JWT_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return (server, addr);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    panic!("serve did not come up on {addr}");
}

/// The README walk-through: serve, mint a token, call the API.
#[test]
fn serve_answers_with_a_token_from_the_token_command() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = serve(dir.path());
    let result = std::panic::catch_unwind(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let http = reqwest::Client::new();
            let token = outreach(dir.path(), &["token", "--role", "admin", "--org", "24"]);
            assert!(token.status.success(), "{}", text(&token.stderr));
            let token = text(&token.stdout).trim().to_string();
            let unauth = http.get(format!("http://{addr}/v1/org-units")).send().await.unwrap();
            assert_eq!(unauth.status(), 401);
            let res = http
                .get(format!("http://{addr}/v1/org-units"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let body: Value = res.json().await.unwrap();
            assert_eq!(body, json!({"items": [], "next_cursor": null}));
        });
    });
    let _ = server.kill();
    let _ = server.wait();
    result.unwrap();
    let bad_role = outreach(dir.path(), &["token", "--role", "king", "--org", "24"]);
    assert!(!bad_role.status.success());
}

/// A client that opens connections and sends nothing, or half a request head, does not
/// hold them: each is closed once the header-read timeout passes, and serve still answers.
#[test]
fn serve_closes_connections_that_send_no_request_head_in_time() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = serve_with(dir.path(), &["--header-read-timeout-secs", "1"]);
    let result = std::panic::catch_unwind(|| {
        let mut held: Vec<std::net::TcpStream> = (0..400)
            .map(|i| {
                let mut s = std::net::TcpStream::connect(&addr).unwrap();
                if i % 2 == 1 {
                    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: outreach\r\n").unwrap();
                }
                s
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let open = held
            .iter_mut()
            .map(|s| {
                s.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
                let mut buf = [0u8; 512];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => return false,
                        Ok(_) => continue,
                        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                            return true;
                        }
                        Err(_) => return false,
                    }
                }
            })
            .filter(|still_open| *still_open)
            .count();
        assert_eq!(open, 0, "connections still held by serve after the header-read timeout");
        let mut ok = std::net::TcpStream::connect(&addr).unwrap();
        ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: outreach\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        ok.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    });
    let _ = server.kill();
    let _ = server.wait();
    result.unwrap();
}

/// Which of `values` any of the SQLite files of `db` (the database, its WAL and shared
/// memory) holds, byte for byte.
fn found_in_sqlite_files(db: &std::path::Path, values: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        let Ok(bytes) = std::fs::read(&path) else { continue };
        for value in values {
            if bytes.windows(value.len()).any(|w| w == value.as_bytes()) {
                found.push(format!("{value} in {path}"));
            }
        }
    }
    found
}

/// An erased contact's name, phone and email are in no SQLite file while serve runs (the
/// erasure truncates the WAL), nor after SIGTERM stops it, gracefully.
#[test]
fn an_erased_contact_is_in_no_database_file_and_sigterm_stops_serve_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = serve(dir.path());
    let db = dir.path().join("outreach.db");
    let values = ["Nguyễn Thị Erasure", "936555777", "erasure.test@example.vn"];
    let result = std::panic::catch_unwind(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let http = reqwest::Client::new();
            let token = outreach(dir.path(), &["token", "--role", "admin", "--org", "24"]);
            let token = text(&token.stdout).trim().to_string();
            let send = |method: reqwest::Method, path: &str, body: Option<Value>| {
                let path = path.to_string();
                let mut request = http.request(method, format!("http://{addr}{path}")).bearer_auth(&token);
                if let Some(body) = body {
                    request = request.json(&body);
                }
                async move {
                    let response = request.send().await.unwrap();
                    let status = response.status();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    assert!(status.is_success(), "{path}: {status} {body}");
                    body
                }
            };
            send(
                reqwest::Method::POST,
                "/v1/org-units:import",
                Some(json!([
                    {"code": "24", "name": "Tỉnh Bắc Giang", "level": "province"},
                    {"code": "213", "name": "Thành phố Bắc Giang", "level": "district", "parent_code": "24"},
                    {"code": "07201", "name": "Phường Thọ Xương", "level": "commune", "parent_code": "213"}
                ])),
            )
            .await;
            let contact = send(
                reqwest::Method::POST,
                "/v1/contacts",
                Some(json!({"role": "citizen", "name": values[0], "commune_code": "07201",
                    "phone": "0936555777", "email": values[2]})),
            )
            .await;
            let id = contact["id"].as_str().unwrap().to_string();
            assert_eq!(
                found_in_sqlite_files(&db, &values).len(),
                3,
                "the values are stored before the erasure"
            );
            send(reqwest::Method::DELETE, &format!("/v1/contacts/{id}"), None).await;
            let found = found_in_sqlite_files(&db, &values);
            assert!(found.is_empty(), "after the erasure, while serve runs: {found:?}");
        });
    });
    let term = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let mut exit = None;
    for _ in 0..100 {
        exit = server.try_wait().unwrap();
        if exit.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let Some(exit) = exit else {
        let _ = server.kill();
        panic!("serve was still running 10 s after SIGTERM");
    };
    result.unwrap();
    assert!(exit.success(), "serve did not stop gracefully on SIGTERM: {exit}");
    let found = found_in_sqlite_files(&db, &values);
    assert!(found.is_empty(), "after serve stopped: {found:?}");
}

#[test]
fn a_price_table_that_cannot_be_right_stops_the_start_naming_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prices.db");
    let run = |prices: &str| {
        Command::new(env!("CARGO_BIN_EXE_outreach"))
            .args(["run", "planner", "--db", db.to_str().unwrap()])
            .current_dir(dir.path())
            .env_remove("OUTREACH_STORE")
            .env_remove("OUTREACH_PRICES_FILE")
            .env("OUTREACH_PRICES", prices)
            .env("RUST_LOG", "warn")
            .output()
            .expect("the outreach binary runs")
    };
    for (prices, field) in [
        (r#"{"usd_vnd": 0}"#, "usd_vnd"),
        (r#"{"zns_sms_fallback_share": 2}"#, "zns_sms_fallback_share"),
        (r#"{"sms_price": 250}"#, "sms_price"),
        ("not json", "OUTREACH_PRICES"),
    ] {
        let out = run(prices);
        assert!(!out.status.success(), "{prices} was accepted");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("OUTREACH_PRICES") && stderr.contains(field),
            "{prices}: {stderr}"
        );
    }
    let out = run(r#"{"zns_vnd_per_message": 250}"#);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
