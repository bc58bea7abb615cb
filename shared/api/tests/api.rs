//! The real router on a real socket (127.0.0.1:0) over a SQLite file: every endpoint's
//! happy path and the bad inputs a caller can send, answered 4xx with a useful message.

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::{StepClock, t};
use outreach_api::auth::LOCAL_ISSUER;
use outreach_api::{AuthConfig, Role};
use outreach_core::jobs::run_planner;
use outreach_store::SqliteStore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &[u8] = b"an-api-test-secret-of-at-least-32-bytes";
const WEBHOOK_KEY: &str = "webhook-test-key";

struct Api {
    base: String,
    http: reqwest::Client,
    token: String,
    store: Arc<SqliteStore>,
    clock: Arc<StepClock>,
    auth: AuthConfig,
    _dir: tempfile::TempDir,
}

async fn spawn() -> Api {
    let auth = AuthConfig::hs256(SECRET, LOCAL_ISSUER).unwrap();
    let clock = StepClock::at("2026-09-01T03:00:00Z");
    let served = common::serve(auth.clone(), clock.clone(), Some(WEBHOOK_KEY)).await;
    let token = auth.mint("planner-1", Role::Admin, "24", Utc::now(), Duration::hours(1));
    Api {
        base: served.base,
        http: reqwest::Client::new(),
        token,
        store: served.store,
        clock,
        auth,
        _dir: served.dir,
    }
}

impl Api {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, String)>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            req = req.header("content-type", content_type).body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: {status} answered non-JSON {text:?}"));
        assert!(!status.is_server_error(), "{path}: {status} {value}");
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None, Some(&self.token)).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            Method::POST,
            path,
            Some(("application/json", body.to_string())),
            Some(&self.token),
        )
        .await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            Method::PUT,
            path,
            Some(("application/json", body.to_string())),
            Some(&self.token),
        )
        .await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            Method::PATCH,
            path,
            Some(("application/json", body.to_string())),
            Some(&self.token),
        )
        .await
    }

    async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> (StatusCode, Value) {
        self.send(
            Method::POST,
            path,
            Some((content_type, body.to_string())),
            Some(&self.token),
        )
        .await
    }

    /// A province, two districts and four communes.
    async fn seed_units(&self) {
        let units = json!([
            {"code": "24", "name": "Tỉnh Bắc Giang", "level": "province", "parent_code": null},
            {"code": "213", "name": "Thành phố Bắc Giang", "level": "district", "parent_code": "24"},
            {"code": "215", "name": "Huyện Yên Thế", "level": "district", "parent_code": "24"},
            {"code": "07201", "name": "Phường Thọ Xương", "level": "commune", "parent_code": "213"},
            {"code": "07228", "name": "Phường Đa Mai", "level": "commune", "parent_code": "213"},
            {"code": "07441", "name": "Xã Tân Dĩnh", "level": "commune", "parent_code": "213"},
            {"code": "07264", "name": "Thị trấn Cầu Gồ", "level": "commune", "parent_code": "215"}
        ]);
        let (status, body) = self.post("/v1/org-units:import", units).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn new_contact(&self, phone: &str, commune: &str, role: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/contacts",
                json!({"role": role, "name": "Nguyễn Văn An", "commune_code": commune, "phone": phone,
                       "consents": [{"channel": "sms", "method": "paper_form", "wording_version": "v1"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Activate campaign `id` and plan its sessions of the first week of October.
    async fn activate_and_plan(&self, id: &str) {
        let (status, body) = self.post(&format!("/v1/campaigns/{id}:activate"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        run_planner(self.store.as_ref(), t("2026-09-30T00:00:00Z"), Duration::days(7))
            .await
            .unwrap();
    }

    /// Dispatch the reminders due at `now` and send them into a fresh outbox (its folder is
    /// returned), the links of each signed by `links`.
    async fn send_due(
        &self,
        now: chrono::DateTime<Utc>,
        links: &dyn outreach_core::notify::UnsubscribeLinks,
    ) -> tempfile::TempDir {
        use outreach_core::jobs::{Channels, DispatchSettings, SenderSettings, run_dispatcher, run_sender};
        let queue = outreach_core::notify::MemoryQueue::default();
        run_dispatcher(self.store.as_ref(), &queue, now, DispatchSettings::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let outbox = outreach_notify::Outbox::new(dir.path()).unwrap();
        let channels = Channels {
            email: &outbox,
            sms: &outbox,
            zns: None,
            links,
        };
        run_sender(
            self.store.as_ref(),
            channels,
            &queue.drain(100),
            now,
            SenderSettings::default(),
        )
        .await;
        dir
    }

    async fn new_campaign(&self, cron: &str, targets: Value) -> Value {
        let (status, body) = self.post("/v1/campaigns", campaign_body(cron, targets)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

fn campaign_body(cron: &str, targets: Value) -> Value {
    json!({
        "name": "Thứ Bảy dịch vụ công",
        "period": {"start": "2026-10-01", "end": "2026-12-31"},
        "target_units": targets,
        "schedule": {"cron": cron},
        "default_venue": "Trụ sở UBND",
        "capacity": 40,
        "reminder_rules": [{"offset_minutes": 1440, "audience": "citizens", "channels": ["sms"]}]
    })
}

fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, field: Option<&str>, says: &str) {
    assert_eq!(status, want_status, "{body}");
    let error = &body["error"];
    assert!(error["code"].is_string(), "{body}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "message {message:?} lacks {says:?}");
    if let Some(field) = field {
        assert_eq!(error["field"].as_str(), Some(field), "{body}");
    }
}

#[tokio::test]
async fn health_and_openapi_need_no_token_and_document_every_route() {
    let api = spawn().await;
    let (status, body) = api.send(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, doc) = api.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/org-units",
        "/v1/org-units:import",
        "/v1/org-units/{code}",
        "/v1/contacts",
        "/v1/contacts:import",
        "/v1/contacts/{id}",
        "/v1/contacts/{id}/consents",
        "/v1/contacts/{id}/opt-out",
        "/v1/campaigns",
        "/v1/campaigns/{id}",
        "/v1/campaigns/{id}:{action}",
        "/v1/campaigns/{id}/sessions",
        "/v1/schedule:preview",
        "/v1/sessions/{id}",
        "/v1/sessions/{id}:{action}",
        "/v1/sessions/{id}/staff",
        "/v1/teams/{commune}",
        "/v1/deliveries",
        "/v1/inbound/sms",
        "/v1/inbound/email-events",
        "/v1/inbound/unsubscribe",
        "/v1/sessions/{id}/attendance",
        "/v1/sessions/{id}/outcomes",
        "/v1/statistics",
        "/v1/statistics:import",
        "/v1/targets/{year}/{org_code}",
        "/v1/reports/quarterly",
        "/v1/reports/quarterly:snapshot",
        "/v1/reports/quarterly/snapshots",
    ] {
        assert!(paths.contains_key(path), "{path} missing from /openapi.json");
    }
    assert!(doc["components"]["schemas"]["CampaignInput"].is_object());
    assert!(
        doc["paths"]["/v1/campaigns/{id}"]["patch"].is_object(),
        "the campaign's edit"
    );
    assert!(doc["components"]["schemas"]["CampaignPatch"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn missing_expired_foreign_and_malformed_tokens_are_401() {
    let api = spawn().await;
    let now = Utc::now();
    let expired = api
        .auth
        .mint("x", Role::Admin, "24", now - Duration::hours(3), Duration::hours(1));
    let not_yet = api
        .auth
        .mint("x", Role::Admin, "24", now + Duration::hours(1), Duration::hours(1));
    let other_key = AuthConfig::hs256(b"another-secret-that-is-32-bytes-long!!", LOCAL_ISSUER).unwrap();
    let forged = other_key.mint("x", Role::Admin, "24", now, Duration::hours(1));
    let other_issuer =
        AuthConfig::hs256(SECRET, "someone-else")
            .unwrap()
            .mint("x", Role::Admin, "24", now, Duration::hours(1));
    for token in [
        None,
        Some("garbage"),
        Some(expired.as_str()),
        Some(not_yet.as_str()),
        Some(forged.as_str()),
        Some(other_issuer.as_str()),
    ] {
        let (status, body) = api.send(Method::GET, "/v1/contacts", None, token).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, None, "token");
    }
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_change() {
    let api = spawn().await;
    api.seed_units().await;
    let viewer = api.auth.mint("v", Role::Viewer, "24", Utc::now(), Duration::hours(1));
    let (status, _) = api.send(Method::GET, "/v1/org-units", None, Some(&viewer)).await;
    assert_eq!(status, StatusCode::OK);
    let body = json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "0912345678"}).to_string();
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/contacts",
            Some(("application/json", body)),
            Some(&viewer),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, None, "viewer");
}

#[tokio::test]
async fn units_import_list_and_get_by_version() {
    let api = spawn().await;
    api.seed_units().await;
    let (status, page) = api.get("/v1/org-units?level=commune&limit=3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = api
        .get(&format!("/v1/org-units?level=commune&limit=3&cursor={cursor}"))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    let (_, children) = api.get("/v1/org-units?parent=213").await;
    assert_eq!(children["items"].as_array().unwrap().len(), 3);
    let (status, unit) = api.get("/v1/org-units/07201").await;
    assert_eq!(
        (status, unit["code"].as_str(), unit["level"].as_str()),
        (StatusCode::OK, Some("07201"), Some("commune"))
    );
    let (status, body) = api.get("/v1/org-units/99999").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "99999");

    // The post-reform version of a reused code sits beside the old one.
    let csv = "code,name,level,parent_code\n07201,Phường Bắc Giang,commune,24\n";
    let (status, body) = api
        .post_raw("/v1/org-units:import?valid_from=2025-07-01", "text/csv", csv)
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "overlaps the open-ended old version: {body}"
    );
    assert!(
        body["error"]["rows"][0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("overlaps")
    );
}

#[tokio::test]
async fn a_bad_unit_file_is_refused_row_by_row_and_nothing_is_stored() {
    let api = spawn().await;
    let units = json!([
        {"code": "24", "name": "Tỉnh Bắc Giang", "level": "province", "parent_code": null},
        {"code": "213", "name": "TP Bắc Giang", "level": "district", "parent_code": "24"},
        {"code": "07201", "name": "Thọ Xương", "level": "commune", "parent_code": "999"},
        {"code": "213", "name": "Again", "level": "district", "parent_code": "24"},
        {"code": "07204", "name": "Ngô Quyền", "level": "ward", "parent_code": "213"}
    ]);
    let (status, body) = api.post("/v1/org-units:import", units).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, None, "bad rows");
    let rows = body["error"]["rows"].as_array().unwrap();
    let reasons: Vec<(u64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["reasons"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].0 == 3 && reasons[0].1.contains("parent 999 does not exist"));
    assert!(reasons[1].0 == 4 && reasons[1].1.contains("duplicate code 213"));
    assert!(reasons[2].0 == 5 && reasons[2].1.contains("unknown level \"ward\""));
    let (_, page) = api.get("/v1/org-units").await;
    assert_eq!(page["items"], json!([]), "nothing half-imported");

    for (content_type, body, says) in [
        ("application/json", "{not json", "not a JSON array"),
        ("application/json", "{\"code\": \"24\"}", "not a JSON array"),
        ("text/csv", "code,name\n24,x\n", "lacks column"),
        ("text/csv", "", "lacks column"),
    ] {
        let (status, err) = api.post_raw("/v1/org-units:import", content_type, body).await;
        assert!(status.is_client_error(), "{body}: {status}");
        assert!(err["error"]["message"].as_str().unwrap().contains(says), "{err}");
    }
    let (status, body) = api
        .post_raw("/v1/org-units:import", "application/xml", "<units/>")
        .await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, None, "text/csv");
}

#[tokio::test]
async fn contacts_register_page_consent_and_opt_out() {
    let api = spawn().await;
    api.seed_units().await;
    let (status, c) = api
        .post(
            "/v1/contacts",
            json!({"role": "citizen", "name": "Trần Thị Bình", "commune_code": "07201", "phone": "0912 345 678",
                   "email": "binh@example.vn"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["phone"], json!({"e164": "+84912345678", "kind": "mobile"}));
    let id = c["id"].as_str().unwrap();
    let (status, got) = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!((status, &got), (StatusCode::OK, &c));

    let (status, body) = api
        .post(
            "/v1/contacts",
            json!({"role": "volunteer", "name": "X", "commune_code": "07228", "phone": "+84912345678"}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, None, "already exists");

    let (status, with_consent) = api
        .post(
            &format!("/v1/contacts/{id}/consents"),
            json!({"channel": "email", "method": "web_form", "wording_version": "2026-09"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{with_consent}");
    assert_eq!(with_consent["consents"][0]["recorded_by"], "planner-1");
    let (status, opted) = api
        .post_raw(&format!("/v1/contacts/{id}/opt-out"), "application/json", "")
        .await;
    assert_eq!(status, StatusCode::OK, "{opted}");
    assert_eq!(opted["opt_outs"].as_array().unwrap().len(), 2, "every channel");
    let (status, _) = api
        .post(&format!("/v1/contacts/{id}/opt-out"), json!({"channel": "sms"}))
        .await;
    assert_eq!(status, StatusCode::OK);

    for i in 0..5 {
        api.new_contact(
            &format!("09880000{i:02}"),
            "07228",
            if i % 2 == 0 { "volunteer" } else { "citizen" },
        )
        .await;
    }
    let (_, vols) = api.get("/v1/contacts?commune=07228&role=volunteer").await;
    assert_eq!(vols["items"].as_array().unwrap().len(), 3);
    let (_, first) = api.get("/v1/contacts?limit=4").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = api.get(&format!("/v1/contacts?limit=4&cursor={cursor}")).await;
    assert_eq!(
        first["items"].as_array().unwrap().len() + second["items"].as_array().unwrap().len(),
        6
    );
    assert_eq!(second["next_cursor"], Value::Null);

    let (status, body) = api.get("/v1/contacts/ct_nobody").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "ct_nobody");
    let (status, body) = api.post("/v1/contacts/ct_nobody/opt-out", json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "ct_nobody");
}

#[tokio::test]
async fn import_errors_name_the_line_an_editor_shows_and_the_value_unless_it_could_be_a_number() {
    let api = spawn().await;
    api.seed_units().await;
    // A BOM and CRLF line ends, as Excel saves a CSV; the bad rows are lines 4 and 5.
    let csv = "\u{feff}name,phone,role,commune_code\r\n\
               Nguyễn Văn An,0912345001,citizen,07201\r\n\
               Trần Thị Bình,0912345002,citizen,07201\r\n\
               Lê Minh Chi,12345,citizen,07201\r\n\
               Phạm Thu,0912345003,citizen,99999\r\n";
    let (status, report) = api.post_raw("/v1/contacts:import", "text/csv", csv).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["imported"], 2, "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    let lines: Vec<(u64, &str)> = rejected
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["key"].as_str().unwrap()))
        .collect();
    // 12345 cannot be anyone's number: shown so the user finds the row; a number is masked.
    assert_eq!(lines, [(4, "12345"), (5, "091*****03")], "{report}");
}

#[tokio::test]
async fn contact_csv_import_keeps_good_rows_and_reports_bad_ones() {
    let api = spawn().await;
    api.seed_units().await;
    let csv = "name,phone,role,commune_code,email,consent_sms,consent_method,consent_wording_version\n\
               Nguyễn Văn An,0912345678,citizen,07201,,yes,paper_form,v1\n\
               Trần Thị Bình,01662345678,citizen,07201,,yes,paper_form,v1\n\
               Lê Minh Chi,0987654321,volunteer,07228,chi@example.vn,no,,\n\
               Phạm Thu,0987654322,citizen,99999,,no,,\n\
               Hoàng Đức,0987654323,robot,07201,,no,,\n\
               Vũ Ngọc,0912345678,citizen,07201,,no,,\n\
               Đỗ Hùng,0204 3854 123,citizen,07441,,no,,\n";
    let (status, report) = api
        .post_raw("/v1/contacts:import", "text/csv; charset=utf-8", csv)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["imported"], 3, "{report}");
    let rejected: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["reasons"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Lines of the file as an editor or a spreadsheet numbers them: the header is line 1.
    assert_eq!(rejected.iter().map(|r| r.0).collect::<Vec<_>>(), [3, 5, 6, 7]);
    assert!(rejected[0].1.contains("036"), "{rejected:?}");
    assert!(rejected[1].1.contains("99999"));
    assert!(rejected[2].1.contains("robot"));
    assert!(rejected[3].1.contains("already exists"));
    assert!(
        !report.to_string().contains("0912345678"),
        "phone numbers are masked in reports"
    );
    let (_, landline) = api.get("/v1/contacts?commune=07441").await;
    assert_eq!(landline["items"][0]["phone"]["kind"], "landline");
    let (status, body) = api.post_raw("/v1/contacts:import", "application/json", "[]").await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, None, "text/csv");
}

impl Api {
    /// The audit entries of one action, as the admin of province 24 reads them.
    async fn audit_of(&self, action: &str) -> Vec<Value> {
        let (status, log) = self.get("/v1/audit?limit=500").await;
        assert_eq!(status, StatusCode::OK, "{log}");
        assert_eq!(log["next_cursor"], Value::Null, "one page holds the log");
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect()
    }
}

/// The `after` of the change of `field` in an audit entry.
fn changed(entry: &Value, field: &str) -> Value {
    entry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == field)
        .unwrap_or_else(|| panic!("no change of {field}: {entry}"))["after"]
        .clone()
}

#[tokio::test]
async fn a_contact_import_is_audited_batch_by_batch_and_a_repost_refuses_every_row_without_writing() {
    let api = spawn().await;
    api.seed_units().await;
    let phone = |i: usize| format!("0912{i:06}");
    let mut csv = String::from("name,phone,role,commune_code,consent_sms,consent_method,consent_wording_version\n");
    for i in 0..500 {
        csv.push_str(&format!(
            "Nguyễn Văn Số{i},{},citizen,07201,yes,paper_form,v1\n",
            phone(i)
        ));
    }
    let started = std::time::Instant::now();
    let (status, report) = api.post_raw("/v1/contacts:import", "text/csv", &csv).await;
    let first = started.elapsed();
    assert_eq!(
        (status, report["imported"].as_u64()),
        (StatusCode::OK, Some(500)),
        "{report}"
    );
    let started = std::time::Instant::now();
    let (status, again) = api.post_raw("/v1/contacts:import", "text/csv", &csv).await;
    let repost = started.elapsed();
    println!(
        "500-row CSV on SQLite through the API: imported in {first:.2?}, re-posted (every row refused) in {repost:.2?}"
    );
    assert_eq!(
        (status, again["imported"].as_u64()),
        (StatusCode::OK, Some(0)),
        "{again}"
    );
    let rejected = again["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 500);
    assert!(
        rejected
            .iter()
            .enumerate()
            .all(|(i, r)| r["row"] == i + 2 && r["reasons"][0].as_str().unwrap().contains("already exists")),
        "{again}"
    );

    // One entry per batch of 100 rows, none for the re-post, which created nothing.
    let entries = api.audit_of("POST /v1/contacts:import").await;
    assert_eq!(entries.len(), 5, "{entries:?}");
    let mut created: Vec<String> = Vec::new();
    for (n, entry) in entries.iter().enumerate() {
        assert_eq!(entry["entity"], "contact import", "{entry}");
        assert_eq!(entry["entity_id"], entries[0]["entity_id"], "one import, one id");
        assert_eq!(
            (changed(entry, "rows.first"), changed(entry, "rows.last")),
            (json!(n * 100 + 2), json!(n * 100 + 101))
        );
        let ids = changed(entry, "created");
        assert_eq!(ids.as_array().unwrap().len(), 100, "{entry}");
        created.extend(
            ids.as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_string()),
        );
    }
    let (_, page) = api.get("/v1/contacts?commune=07201&limit=500").await;
    let mut stored: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored.len(), 500, "the re-post wrote no contact");
    stored.sort();
    created.sort();
    assert_eq!(created, stored, "the entries name every contact created");
    let text = serde_json::to_string(&entries).unwrap();
    for i in [0, 99, 250, 499] {
        assert!(!text.contains(&phone(i)[1..]), "a number in the audit log: {text}");
        assert!(!text.contains(&format!("Số{i}")), "a name in the audit log: {text}");
    }
}

#[tokio::test]
async fn a_unit_import_is_audited_with_the_units_it_created_and_the_fields_it_changed() {
    let api = spawn().await;
    api.seed_units().await;
    let entries = api.audit_of("POST /v1/org-units:import").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["entity"], "unit import");
    assert_eq!(
        changed(&entries[0], "created"),
        json!(["24", "213", "215", "07201", "07228", "07441", "07264"])
    );
    // A commune moved to the other district, and a new one: the move field by field.
    let csv = "code,name,level,parent_code\n07441,Xã Tân Dĩnh,commune,215\n07270,Xã Mới,commune,215\n";
    let (status, body) = api.post_raw("/v1/org-units:import", "text/csv", csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = api.audit_of("POST /v1/org-units:import").await;
    let fields: Vec<&str> = entries[1]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["created", "units.07441.parent_code"], "{}", entries[1]);
    assert_eq!(changed(&entries[1], "created"), json!(["07270"]));
    let moved = &entries[1]["changes"][1];
    assert_eq!((&moved["before"], &moved["after"]), (&json!("213"), &json!("215")));
}

#[tokio::test]
async fn a_weekly_campaign_in_three_communes_yields_39_sessions_at_one_utc_with_5_or_6_fields() {
    let api = spawn().await;
    api.seed_units().await;
    for cron in ["0 8 * * 6", "0 0 8 * * Sat"] {
        // The district 213 expands to its three communes.
        let campaign = api.new_campaign(cron, json!(["213"])).await;
        assert_eq!(campaign["communes"], json!(["07201", "07228", "07441"]));
        assert_eq!(campaign["status"], "draft");
        let id = campaign["id"].as_str().unwrap();
        let (status, active) = api.post(&format!("/v1/campaigns/{id}:activate"), json!({})).await;
        assert_eq!(
            (status, active["status"].as_str()),
            (StatusCode::OK, Some("active")),
            "{active}"
        );
        // Materialise the whole quarter at once.
        let report = run_planner(api.store.as_ref(), t("2026-09-30T00:00:00Z"), Duration::days(100))
            .await
            .unwrap();
        assert_eq!(report.sessions_created, 39, "{cron}");
        let (status, page) = api.get(&format!("/v1/campaigns/{id}/sessions?limit=500")).await;
        assert_eq!(status, StatusCode::OK);
        let sessions = page["items"].as_array().unwrap();
        assert_eq!(sessions.len(), 39, "{cron}");
        for s in sessions {
            assert!(s["starts_at"].as_str().unwrap().ends_with("T01:00:00Z"), "{s}");
            assert_eq!(s["short_of_staff"], true);
        }
        let again = run_planner(api.store.as_ref(), t("2026-09-30T00:00:00Z"), Duration::days(100))
            .await
            .unwrap();
        assert_eq!(again.sessions_created, 0, "idempotent");
        let (status, done) = api.post(&format!("/v1/campaigns/{id}:cancel"), json!({})).await;
        assert_eq!((status, done["status"].as_str()), (StatusCode::OK, Some("cancelled")));
        let (_, left) = api.get(&format!("/v1/campaigns/{id}/sessions?status=scheduled")).await;
        assert_eq!(
            left["items"],
            json!([]),
            "cancelling the campaign cancels its sessions to come"
        );
    }
    let (_, cancelled) = api.get("/v1/campaigns?status=cancelled").await;
    assert_eq!(cancelled["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn campaign_lifecycle_refuses_invalid_transitions() {
    let api = spawn().await;
    api.seed_units().await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201", "07264"])).await;
    let id = campaign["id"].as_str().unwrap();
    let (status, body) = api.post(&format!("/v1/campaigns/{id}:pause"), json!({})).await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        None,
        "cannot pause a campaign that is draft",
    );
    for (action, want) in [
        ("activate", "active"),
        ("pause", "paused"),
        ("activate", "active"),
        ("complete", "completed"),
    ] {
        let (status, c) = api.post(&format!("/v1/campaigns/{id}:{action}"), json!({})).await;
        assert_eq!(
            (status, c["status"].as_str()),
            (StatusCode::OK, Some(want)),
            "{action}: {c}"
        );
    }
    let (status, body) = api.post(&format!("/v1/campaigns/{id}:activate"), json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, None, "completed");
    let (status, body) = api.post(&format!("/v1/campaigns/{id}:explode"), json!({})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("action"), "explode");
    let (status, body) = api.post("/v1/campaigns/cmp_nope:activate", json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "cmp_nope");
    let (status, body) = api.get("/v1/campaigns/cmp_nope/sessions").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "cmp_nope");
    let (status, got) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(
        (status, got["communes"].clone()),
        (StatusCode::OK, json!(["07201", "07264"]))
    );
}

#[tokio::test]
async fn a_draft_campaign_changes_anything_validated_as_a_new_one_at_the_version_read() {
    let api = spawn().await;
    api.seed_units().await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let id = campaign["id"].as_str().unwrap();
    let path = format!("/v1/campaigns/{id}");
    let (status, edited) = api
        .patch(
            &path,
            json!({"version": 1, "name": "Chủ Nhật dịch vụ công", "schedule": {"cron": "0 14 * * 0"},
                "target_units": ["213"], "description": "Hỗ trợ nộp hồ sơ trực tuyến"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(
        (
            edited["version"].as_u64(),
            edited["status"].as_str(),
            edited["name"].as_str()
        ),
        (Some(2), Some("draft"), Some("Chủ Nhật dịch vụ công"))
    );
    assert_eq!(edited["communes"], json!(["07201", "07228", "07441"]));
    assert_eq!(edited["schedule"]["cron"], "0 14 * * 0");
    assert_eq!(edited["capacity"], 40, "a field left out keeps its value");
    assert_eq!(edited["created_at"], campaign["created_at"]);
    // Validated as a new campaign.
    let (status, body) = api.patch(&path, json!({"version": 2, "capacity": 0})).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("capacity"),
        "between 1",
    );
    let (status, body) = api.patch(&path, json!({"version": 2, "default_venue": null})).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("venues"),
        "no venue",
    );
    // The version read is stale once another edit went through.
    let (status, body) = api.patch(&path, json!({"version": 1, "capacity": 30})).await;
    assert_error(status, &body, StatusCode::CONFLICT, None, "version 2, not 1");
    let (status, body) = api.patch(&path, json!({"capacity": 30})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, None, "missing field `version`");
    let (status, body) = api.patch("/v1/campaigns/cmp_nope", json!({"version": 1})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "cmp_nope");
    // Cancelled: no edit at all.
    api.post(&format!("/v1/campaigns/{id}:cancel"), json!({})).await;
    let (status, body) = api.patch(&path, json!({"version": 3, "name": "Khác"})).await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        None,
        "cannot edit a campaign that is cancelled",
    );
}

#[tokio::test]
async fn an_active_campaign_changes_venue_capacity_and_end_and_refuses_its_schedule_zone_start_and_units() {
    use outreach_core::ports::{ReminderStore, SessionStore};
    use outreach_core::reminder::{JobStatus, ReminderJob};
    let api = spawn().await;
    api.seed_units().await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let id = campaign["id"].as_str().unwrap();
    let path = format!("/v1/campaigns/{id}");
    api.post(&format!("/v1/campaigns/{id}:activate"), json!({})).await;
    run_planner(api.store.as_ref(), t("2026-09-30T00:00:00Z"), Duration::days(35))
        .await
        .unwrap();
    let (_, page) = api.get(&format!("{path}/sessions")).await;
    let sessions: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sessions.len(), 5, "3 Oct to 31 Oct: {page}");
    // The first is held; the second moved by hand keeps its venue.
    let (status, body) = api
        .post(
            &format!("/v1/sessions/{}:move", sessions[1]),
            json!({"starts_at": "2026-10-11T01:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.clock.set("2026-10-05T03:00:00Z");
    let (_, current) = api.get(&path).await;
    let version = current["version"].as_u64().unwrap();

    for (change, field) in [
        (json!({"schedule": {"cron": "0 9 * * 6"}}), "schedule.cron"),
        (
            json!({"schedule": {"cron": "0 8 * * 6", "time_zone": "Asia/Bangkok"}}),
            "schedule.time_zone",
        ),
        (
            json!({"period": {"start": "2026-10-02", "end": "2026-12-31"}}),
            "period.start",
        ),
        (json!({"target_units": ["213"]}), "target_units"),
    ] {
        let mut body = change.clone();
        body["version"] = version.into();
        let (status, answer) = api.patch(&path, body).await;
        assert_error(
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(field),
            "cannot change once the campaign is active; create a new campaign",
        );
    }
    let (status, body) = api
        .patch(
            &path,
            json!({"version": version, "period": {"start": "2026-10-01", "end": "2026-10-02"}}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("period.end"),
        "last session already held (2026-10-03)",
    );

    let (status, edited) = api
        .patch(
            &path,
            json!({"version": version, "name": "Thứ Bảy xanh", "default_venue": "Nhà văn hoá khu 3",
                "capacity": 60, "min_staff": 3, "period": {"start": "2026-10-01", "end": "2026-10-20"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["version"].as_u64(), Some(version + 1));
    assert_eq!(edited["status"], "active");
    let session = |i: usize| {
        let store = api.store.clone();
        let id = sessions[i].clone();
        async move { store.get_session(&id).await.unwrap().unwrap() }
    };
    let held = session(0).await;
    assert_eq!(
        (held.venue.as_str(), held.capacity),
        ("Trụ sở UBND", 40),
        "held: unchanged"
    );
    let moved = session(1).await;
    assert_eq!(
        (moved.venue.as_str(), moved.capacity),
        ("Trụ sở UBND", 60),
        "moved by hand: its venue kept"
    );
    let next = session(2).await;
    assert_eq!(
        (next.venue.as_str(), next.capacity, next.min_staff, next.status.as_str()),
        ("Nhà văn hoá khu 3", 60, 3, "scheduled")
    );
    // 24 and 31 October fall after the new end: cancelled with their reminders.
    for i in [3, 4] {
        let after = session(i).await;
        assert_eq!(after.status.as_str(), "cancelled", "{after:?}");
        let job = api
            .store
            .get_job(&ReminderJob::id_for(&after.id, "r1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.status, JobStatus::Cancelled);
    }
    let job = api
        .store
        .get_job(&ReminderJob::id_for(&next.id, "r1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.status, JobStatus::Pending);
    // The audit keeps what changed.
    let (_, log) = api.get("/v1/audit?limit=500").await;
    let entry = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "PATCH /v1/campaigns/{id}")
        .unwrap_or_else(|| panic!("no audit entry: {log}"))
        .clone();
    assert_eq!(changed(&entry, "capacity"), 60);
}

#[tokio::test]
async fn reminder_rules_edited_on_an_active_campaign_cancel_replan_and_add_its_reminders() {
    use outreach_core::notify::NoUnsubscribeLinks;
    use outreach_core::ports::ReminderStore;
    use outreach_core::reminder::{JobStatus, ReminderJob};
    let api = spawn().await;
    api.seed_units().await;
    let citizen = api.new_contact("0912345678", "07201", "citizen").await;
    let volunteer = api.new_contact("0912345679", "07201", "volunteer").await;
    let (status, body) = api
        .put("/v1/teams/07201", json!({"name": "Đội TN", "member_ids": [volunteer]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut body = campaign_body("0 8 * * 6", json!(["07201"]));
    body["reminder_rules"] = json!([
        {"id": "r1", "offset_minutes": 1440, "audience": "citizens", "channels": ["sms"]},
        {"id": "r2", "offset_minutes": 60, "audience": "citizens", "channels": ["sms"]}
    ]);
    let (_, campaign) = api.post("/v1/campaigns", body).await;
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let (_, page) = api.get(&format!("/v1/campaigns/{id}/sessions")).await;
    let session = page["items"][0]["id"].as_str().unwrap().to_string();
    api.put(
        &format!("/v1/sessions/{session}/staff"),
        json!({"volunteer_ids": [volunteer]}),
    )
    .await;

    // r1 removed, r2 three hours ahead instead of one, a volunteers' rule added.
    let (_, current) = api.get(&format!("/v1/campaigns/{id}")).await;
    let (status, edited) = api
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({"version": current["version"], "reminder_rules": [
                {"id": "r2", "offset_minutes": 180, "audience": "citizens", "channels": ["sms"]},
                {"offset_minutes": 120, "audience": "volunteers", "channels": ["sms"]}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let ids: Vec<&str> = edited["reminder_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r2", "r3"], "a new rule never takes a removed one's id");
    let job = |rule: &'static str| {
        let (store, session) = (api.store.clone(), session.clone());
        async move {
            store
                .get_job(&ReminderJob::id_for(&session, rule))
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(job("r1").await.status, JobStatus::Cancelled);
    // 08:00 on 3 October less three hours is 05:00, in quiet hours: 07:00 (00:00 UTC).
    let r2 = job("r2").await;
    assert_eq!((r2.status, r2.due_at), (JobStatus::Pending, t("2026-10-03T00:00:00Z")));
    let r3 = job("r3").await;
    assert_eq!(
        (r3.status, r3.audience, r3.due_at),
        (
            JobStatus::Pending,
            outreach_core::campaign::Audience::Volunteers,
            t("2026-10-03T00:00:00Z")
        )
    );

    // Everything due by then goes: nothing of r1.
    let now = t("2026-10-03T00:05:00Z");
    let _outbox = api.send_due(now, &NoUnsubscribeLinks).await;
    let (_, log) = api.get(&format!("/v1/deliveries?campaign={id}")).await;
    let mut sent: Vec<(String, String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["rule_id"].as_str().unwrap().to_string(),
                d["contact_id"].as_str().unwrap().to_string(),
                d["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            ("r2".to_string(), citizen.clone(), "sent".to_string()),
            ("r3".to_string(), volunteer.clone(), "sent".to_string())
        ],
        "{log}"
    );
}

#[tokio::test]
async fn schedule_preview_lists_the_next_sessions_in_local_time() {
    let api = spawn().await;
    let (status, preview) = api
        .post(
            "/v1/schedule:preview",
            json!({"cron": "30 7 * * 1,3", "after": "2026-11-29T00:00:00Z", "count": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["time_zone"], "Asia/Ho_Chi_Minh");
    let local: Vec<&str> = preview["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["local"].as_str().unwrap())
        .collect();
    assert_eq!(
        local,
        [
            "2026-11-30T07:30:00+07:00",
            "2026-12-02T07:30:00+07:00",
            "2026-12-07T07:30:00+07:00"
        ]
    );
    let (status, utc) = api
        .post(
            "/v1/schedule:preview",
            json!({"cron": "0 0 9 * * *", "time_zone": "UTC", "after": "2026-11-29T00:00:00Z", "count": 1}),
        )
        .await;
    assert_eq!(
        (status, utc["sessions"][0]["starts_at"].as_str()),
        (StatusCode::OK, Some("2026-11-29T09:00:00Z"))
    );
}

#[tokio::test]
async fn the_preview_of_a_campaign_across_1_july_2025_names_the_communes_that_end_and_their_successors() {
    let api = spawn().await;
    // Two wards of the city end on 30 June 2025 and make Phường Bắc Giang from 1 July;
    // Cầu Gồ ends with no successor.
    let units = json!([
        {"code": "24", "name": "Tỉnh Bắc Giang", "level": "province", "parent_code": null},
        {"code": "213", "name": "Thành phố Bắc Giang", "level": "district", "parent_code": "24", "valid_until": "2025-06-30"},
        {"code": "07201", "name": "Phường Thọ Xương", "level": "commune", "parent_code": "213", "valid_until": "2025-06-30"},
        {"code": "07207", "name": "Phường Ngô Quyền", "level": "commune", "parent_code": "213", "valid_until": "2025-06-30"},
        {"code": "07264", "name": "Thị trấn Cầu Gồ", "level": "commune", "parent_code": "213", "valid_until": "2025-06-30"},
        {"code": "07210", "name": "Phường Bắc Giang", "level": "commune", "parent_code": "24", "valid_from": "2025-07-01",
         "former_units": [{"code": "07201", "merge": "full"}, {"code": "07207", "merge": "full"}]}
    ]);
    let (status, body) = api.post("/v1/org-units:import", units).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let summer = json!({"cron": "0 8 * * 6", "period": {"start": "2025-06-01", "end": "2025-08-31"},
                        "target_units": ["213"], "count": 100});
    let (status, preview) = api.post("/v1/schedule:preview", summer.clone()).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(
        preview["sessions"].as_array().unwrap().len(),
        13,
        "the period's Saturdays"
    );
    assert_eq!(preview["sessions"][0]["local"], "2025-06-07T08:00:00+07:00");
    assert_eq!(
        preview["unit_changes"],
        json!([
            {"code": "07201", "name": "Phường Thọ Xương", "until": "2025-06-30",
             "replaced_by": [{"code": "07210", "name": "Phường Bắc Giang", "merge": "full"}],
             "message": "Từ ngày 01/07/2025, Phường Thọ Xương không còn là đơn vị hành chính: các buổi từ ngày này được lập tại Phường Bắc Giang."},
            {"code": "07207", "name": "Phường Ngô Quyền", "until": "2025-06-30",
             "replaced_by": [{"code": "07210", "name": "Phường Bắc Giang", "merge": "full"}],
             "message": "Từ ngày 01/07/2025, Phường Ngô Quyền không còn là đơn vị hành chính: các buổi từ ngày này được lập tại Phường Bắc Giang."},
            {"code": "07264", "name": "Thị trấn Cầu Gồ", "until": "2025-06-30", "replaced_by": [],
             "message": "Từ ngày 01/07/2025, Thị trấn Cầu Gồ không còn là đơn vị hành chính và không có đơn vị nào thay thế: các buổi từ ngày này sẽ không được lập."}
        ])
    );

    // A period that ends before the change meets none; without target units there is nothing to say.
    let mut june = summer.clone();
    june["period"]["end"] = json!("2025-06-30");
    let (status, preview) = api.post("/v1/schedule:preview", june).await;
    assert_eq!((status, preview["unit_changes"].clone()), (StatusCode::OK, json!([])));
    let (status, preview) = api
        .post(
            "/v1/schedule:preview",
            json!({"cron": "0 8 * * 6", "after": "2025-06-01T00:00:00Z", "count": 10}),
        )
        .await;
    assert_eq!((status, preview["unit_changes"].clone()), (StatusCode::OK, json!([])));
    // Without a period, the span of the sessions previewed: 7 June to 9 August.
    let (status, preview) = api
        .post(
            "/v1/schedule:preview",
            json!({"cron": "0 8 * * 6", "after": "2025-06-01T00:00:00Z", "count": 10, "target_units": ["07201"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["unit_changes"][0]["replaced_by"][0]["code"], "07210");
    let mut unknown = summer.clone();
    unknown["target_units"] = json!(["99999"]);
    let (status, body) = api.post("/v1/schedule:preview", unknown).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("target_units"),
        "99999",
    );

    // A campaign over the period may give the successor its own venue.
    let mut campaign = campaign_body("0 8 * * 6", json!(["213"]));
    campaign["period"] = json!({"start": "2025-06-01", "end": "2025-08-31"});
    campaign["venues"] = json!({"07210": "Nhà văn hoá phường Bắc Giang"});
    let (status, body) = api.post("/v1/campaigns", campaign).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (_, doc) = api.send(Method::GET, "/openapi.json", None, None).await;
    let preview_schema = &doc["components"]["schemas"]["Preview"]["properties"];
    assert!(preview_schema["unit_changes"].is_object(), "{preview_schema}");
    assert!(doc["components"]["schemas"]["UnitChange"]["properties"]["replaced_by"].is_object());
}

#[tokio::test]
async fn bad_inputs_are_4xx_naming_the_problem() {
    let api = spawn().await;
    api.seed_units().await;
    let good = campaign_body("0 8 * * 6", json!(["213"]));
    let with = |path: &str, value: Value| {
        let mut body = good.clone();
        let (head, last) = path.rsplit_once('/').map_or(("", path), |(h, l)| (h, l));
        let mut target = &mut body;
        for key in head.split('/').filter(|k| !k.is_empty()) {
            target = &mut target[key];
        }
        target[last] = value;
        body
    };
    let cases: Vec<(&str, Value, StatusCode, Option<&str>, &str)> = vec![
        (
            "period ends before it starts",
            with("period/end", json!("2026-09-01")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("period.end"),
            "before it starts",
        ),
        (
            "bad cron",
            with("schedule/cron", json!("every saturday")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("schedule.cron"),
            "cron",
        ),
        (
            "cron hour 25",
            with("schedule/cron", json!("0 25 * * 6")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("schedule.cron"),
            "invalid cron",
        ),
        (
            "unknown zone",
            with("schedule/time_zone", json!("Mars/Olympus")),
            StatusCode::BAD_REQUEST,
            Some("schedule.time_zone"),
            "",
        ),
        (
            "capacity as text",
            with("capacity", json!("forty")),
            StatusCode::BAD_REQUEST,
            Some("capacity"),
            "invalid type",
        ),
        (
            "negative capacity",
            with("capacity", json!(-1)),
            StatusCode::BAD_REQUEST,
            Some("capacity"),
            "",
        ),
        (
            "zero capacity",
            with("capacity", json!(0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("capacity"),
            "between",
        ),
        (
            "unknown field",
            with("colour", json!("red")),
            StatusCode::BAD_REQUEST,
            None,
            "unknown field `colour`",
        ),
        (
            "unknown unit",
            with("target_units", json!(["00000"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("target_units"),
            "00000",
        ),
        (
            "no units",
            with("target_units", json!([])),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("target_units"),
            "at least one",
        ),
        (
            "no channel",
            with(
                "reminder_rules",
                json!([{"offset_minutes": 60, "audience": "all", "channels": []}]),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("reminder_rules[0].channels"),
            "channel",
        ),
        (
            "unknown channel",
            with(
                "reminder_rules",
                json!([{"offset_minutes": 60, "audience": "all", "channels": ["fax"]}]),
            ),
            StatusCode::BAD_REQUEST,
            Some("reminder_rules[0].channels[0]"),
            "fax",
        ),
        (
            "bad placeholder",
            with(
                "reminder_rules",
                json!([{"offset_minutes": 60, "audience": "all", "channels": ["sms"], "sms_template": "Hẹn {gio}"}]),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("reminder_rules[0].sms_template"),
            "{gio}",
        ),
        (
            "no session in period",
            with("schedule/cron", json!("0 0 8 1 1 * 2030")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("schedule.cron"),
            "no session",
        ),
        (
            "name missing",
            {
                let mut b = good.clone();
                b.as_object_mut().unwrap().remove("name");
                b
            },
            StatusCode::BAD_REQUEST,
            None,
            "missing field `name`",
        ),
    ];
    for (what, body, status, field, says) in cases {
        let (got, answer) = api.post("/v1/campaigns", body).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_error(got, &answer, status, field, says);
    }

    let contact_cases = [
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "01662345678"}),
            Some("phone"),
            "036",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "12"}),
            Some("phone"),
            "not",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "+1 202 555 0143"}),
            Some("phone"),
            "Vietnamese",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "213", "phone": "0912345678"}),
            Some("commune_code"),
            "not a commune",
        ),
        (
            json!({"role": "citizen", "name": " ", "commune_code": "07201", "phone": "0912345678"}),
            Some("name"),
            "empty",
        ),
        (
            json!({"role": "citizen", "name": "A\u{0007}", "commune_code": "07201", "phone": "0912345678"}),
            Some("name"),
            "control",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "0912345678", "email": "a@b"}),
            Some("email"),
            "email",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "0912345678",
                "consents": [{"channel": "email", "method": "web", "wording_version": "v1"}]}),
            Some("consents"),
            "email address",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": 912345678}),
            Some("phone"),
            "invalid type",
        ),
        (
            json!({"role": "king", "name": "A", "commune_code": "07201", "phone": "0912345678"}),
            Some("role"),
            "king",
        ),
    ];
    for (body, field, says) in contact_cases {
        let (status, answer) = api.post("/v1/contacts", body.clone()).await;
        assert!(status.is_client_error(), "{body}: {status}");
        assert_error(status, &answer, status, field, says);
    }

    for (path, says) in [
        ("/v1/contacts?limit=0", "between 1 and 500"),
        ("/v1/contacts?limit=501", "between 1 and 500"),
        ("/v1/contacts?limit=ten", "invalid digit"),
        ("/v1/contacts?cursor=bm90LW91cnM", "cursor"),
        ("/v1/contacts?role=mayor", "mayor"),
        ("/v1/contacts?colour=red", "unknown field"),
        ("/v1/org-units?level=hamlet", "hamlet"),
        ("/v1/org-units/07201?on=yesterday", "input contains invalid characters"),
    ] {
        let (status, answer) = api.get(path).await;
        assert!(status.is_client_error(), "{path}: {status} {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(says),
            "{path}: {answer}"
        );
    }

    for (body, says) in [
        ("{\"name\": ", "malformed JSON"),
        ("[1, 2]", "invalid type"),
        ("", "empty"),
        ("null", "invalid type"),
    ] {
        let (status, answer) = api.post_raw("/v1/campaigns", "application/json", body).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, None, says);
    }
    let (status, answer) = api.post_raw("/v1/campaigns", "text/plain", "{}").await;
    assert_error(
        status,
        &answer,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        None,
        "application/json",
    );
    let (status, answer) = api
        .post("/v1/schedule:preview", json!({"cron": "0 8 * * *", "count": 0}))
        .await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, Some("count"), "between");
    let (status, answer) = api.get("/v1/nothing-here").await;
    assert_error(status, &answer, StatusCode::NOT_FOUND, None, "no such route");
    let (status, answer) = api.send(Method::DELETE, "/v1/campaigns", None, Some(&api.token)).await;
    assert_error(status, &answer, StatusCode::METHOD_NOT_ALLOWED, None, "method");
    let huge = format!("[{}]", vec!["1"; 6_000_000].join(","));
    let (status, answer) = api.post_raw("/v1/org-units:import", "application/json", &huge).await;
    assert_error(status, &answer, StatusCode::PAYLOAD_TOO_LARGE, None, "larger than");
}

#[tokio::test]
async fn hostile_bodies_never_cause_a_server_error() {
    let api = spawn().await;
    api.seed_units().await;
    let bodies = [
        "{}",
        "[]",
        "\"\"",
        "0",
        "true",
        "{\"a\":",
        "\u{0}",
        "{\"name\": \"\u{202e}\"}",
        "{\"period\": {\"start\": \"9999-99-99\"}}",
        "{\"capacity\": 1e309}",
        "{\"target_units\": [null]}",
        "{\"schedule\": {\"cron\": \"* * * * * * * * *\"}}",
        "{\"role\": \"citizen\", \"name\": \"A\", \"commune_code\": \"07201\", \"phone\": \"+84999999999999999999999\"}",
    ];
    let paths = [
        "/v1/campaigns",
        "/v1/contacts",
        "/v1/schedule:preview",
        "/v1/org-units:import",
        "/v1/contacts:import",
        "/v1/contacts/x/consents",
        "/v1/contacts/x/opt-out",
        "/v1/campaigns/x:activate",
        "/v1/sessions/x:move",
    ];
    for path in paths {
        for body in bodies {
            for content_type in ["application/json", "text/csv"] {
                let (status, answer) = api.post_raw(path, content_type, body).await;
                assert!(status.is_client_error(), "{path} {body:?}: {status} {answer}");
            }
        }
    }
}

#[tokio::test]
async fn sessions_are_cancelled_moved_and_staffed_from_the_commune_team() {
    let api = spawn().await;
    api.seed_units().await;
    let vols: Vec<String> = vec![
        api.new_contact("0981000001", "07201", "volunteer").await,
        api.new_contact("0981000002", "07201", "volunteer").await,
    ];
    let citizen = api.new_contact("0981000003", "07201", "citizen").await;
    let outsider = api.new_contact("0981000004", "07228", "volunteer").await;

    let (status, body) = api
        .put(
            "/v1/teams/07201",
            json!({"name": "Đội TN", "member_ids": [vols[0], citizen]}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("member_ids[1]"),
        "not a volunteer",
    );
    let (status, body) = api
        .put(
            "/v1/teams/07201",
            json!({"name": "Đội TN", "member_ids": [vols[0]], "leader_id": vols[1]}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("leader_id"),
        "members",
    );
    let (status, team) = api
        .put(
            "/v1/teams/07201",
            json!({"name": "Đội TN tri thức trẻ", "member_ids": vols, "leader_id": vols[0]}),
        )
        .await;
    assert_eq!((status, team["version"].as_u64()), (StatusCode::OK, Some(1)), "{team}");
    let (status, team) = api.get("/v1/teams/07201").await;
    assert_eq!(
        (status, team["member_ids"].as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );
    let (status, body) = api.get("/v1/teams/07228").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "07228");

    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let id = campaign["id"].as_str().unwrap();
    api.post(&format!("/v1/campaigns/{id}:activate"), json!({})).await;
    run_planner(api.store.as_ref(), t("2026-09-30T00:00:00Z"), Duration::days(14))
        .await
        .unwrap();
    let (_, page) = api.get(&format!("/v1/campaigns/{id}/sessions")).await;
    let sessions = page["items"].as_array().unwrap();
    assert_eq!(
        sessions.len(),
        2,
        "a 14-day horizon from 30 Sep holds two Saturdays: {page}"
    );
    let (first, second) = (sessions[0]["id"].as_str().unwrap(), sessions[1]["id"].as_str().unwrap());

    let (status, body) = api
        .put(
            &format!("/v1/sessions/{first}/staff"),
            json!({"volunteer_ids": [vols[0], outsider]}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("volunteer_ids[1]"),
        "not in the volunteer team",
    );
    let (status, staffed) = api
        .put(&format!("/v1/sessions/{first}/staff"), json!({"volunteer_ids": vols}))
        .await;
    assert_eq!(
        (status, staffed["short_of_staff"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{staffed}"
    );
    let (_, short) = api
        .get(&format!("/v1/campaigns/{id}/sessions?short_of_staff=true"))
        .await;
    assert_eq!(short["items"].as_array().unwrap().len(), 1);

    let (status, moved) = api
        .post(
            &format!("/v1/sessions/{first}:move"),
            json!({"starts_at": "2026-10-04T02:00:00Z", "venue": "Nhà văn hoá"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(
        (moved["id"].as_str(), moved["moved"].as_bool()),
        (Some(first), Some(true))
    );
    assert_eq!(moved["ends_at"], "2026-10-04T04:00:00Z", "the session keeps its length");
    let (status, body) = api.post(&format!("/v1/sessions/{first}:move"), json!({})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("starts_at"), "new start");
    let (status, cancelled) = api
        .post(&format!("/v1/sessions/{second}:cancel"), json!({"reason": "Mưa bão"}))
        .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (status, again) = api
        .post_raw(&format!("/v1/sessions/{second}:cancel"), "application/json", "")
        .await;
    assert_eq!(
        (status, again["cancel_reason"].as_str()),
        (StatusCode::OK, Some("Mưa bão")),
        "idempotent"
    );
    let (status, body) = api
        .post(
            &format!("/v1/sessions/{second}:move"),
            json!({"starts_at": "2026-10-20T01:00:00Z"}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, None, "cancelled");

    // Once a session has started it can no longer be changed.
    api.clock.set("2026-10-04T02:30:00Z");
    let (status, body) = api.post(&format!("/v1/sessions/{first}:cancel"), json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, None, "already started");
    let (status, body) = api.get("/v1/sessions/ses_nope").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "ses_nope");
}

#[tokio::test]
async fn an_sms_reply_with_an_opt_out_keyword_stops_sms_and_needs_the_webhook_key() {
    let api = spawn().await;
    api.seed_units().await;
    let id = api.new_contact("0912345678", "07201", "citizen").await;
    let reply = json!({"from": "+84912345678", "text": "Từ chối"}).to_string();
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/inbound/sms",
            Some(("application/json", reply.clone())),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, None, "webhook key");
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/inbound/sms?key=wrong-key-of-same-len",
            Some(("application/json", reply.clone())),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let path = format!("/v1/inbound/sms?key={WEBHOOK_KEY}");
    let (status, out) = api
        .send(Method::POST, &path, Some(("application/json", reply)), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out, json!({"opt_out": true, "contact_id": id}));
    let (_, contact) = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(contact["opt_outs"][0]["channel"], "sms");
    assert_eq!(contact["opt_outs"][0]["source"], "sms_reply");
    let chatter = json!({"from": "0912345678", "text": "Cảm ơn, tôi sẽ đến"}).to_string();
    let (_, out) = api
        .send(Method::POST, &path, Some(("application/json", chatter)), None)
        .await;
    assert_eq!(out["opt_out"], false);
    let unknown = json!({"from": "0987000000", "text": "STOP"}).to_string();
    let (_, out) = api
        .send(Method::POST, &path, Some(("application/json", unknown)), None)
        .await;
    assert_eq!(out, json!({"opt_out": true, "contact_id": null}));
    let bad = json!({"from": "01662345678", "text": "STOP"}).to_string();
    let (status, body) = api
        .send(Method::POST, &path, Some(("application/json", bad)), None)
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, Some("from"), "036");
}

fn sns(message: Value) -> String {
    json!({"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:ap-southeast-1:000000000000:ses-events",
           "Message": message.to_string(), "Timestamp": "2026-10-02T01:00:00.000Z"})
    .to_string()
}

#[tokio::test]
async fn ses_bounces_and_complaints_through_sns_stop_email_to_the_address() {
    let api = spawn().await;
    api.seed_units().await;
    let (_, a) = api
        .post("/v1/contacts", json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "0912345678", "email": "lan@example.vn"}))
        .await;
    let (_, b) = api
        .post("/v1/contacts", json!({"role": "citizen", "name": "B", "commune_code": "07201", "phone": "0912345679", "email": "Hoa@Example.VN"}))
        .await;
    let path = format!("/v1/inbound/email-events?key={WEBHOOK_KEY}");
    let bounce = sns(
        json!({"notificationType": "Bounce", "bounce": {"bounceType": "Permanent",
        "bouncedRecipients": [{"emailAddress": "lan@example.vn"}]}}),
    );
    // SNS posts JSON as text/plain.
    let (status, out) = api
        .send(Method::POST, &path, Some(("text/plain; charset=UTF-8", bounce)), None)
        .await;
    assert_eq!(
        (status, out.clone()),
        (StatusCode::OK, json!({"kind": "bounce", "suppressed_contacts": 1})),
        "{out}"
    );
    let (_, got) = api.get(&format!("/v1/contacts/{}", a["id"].as_str().unwrap())).await;
    assert_eq!(got["opt_outs"][0]["channel"], "email");
    assert_eq!(got["opt_outs"][0]["source"], "bounce");
    let transient = sns(
        json!({"notificationType": "Bounce", "bounce": {"bounceType": "Transient",
        "bouncedRecipients": [{"emailAddress": "hoa@example.vn"}]}}),
    );
    let (_, out) = api
        .send(Method::POST, &path, Some(("text/plain", transient)), None)
        .await;
    assert_eq!(out["kind"], "ignored", "a transient bounce stops nothing");
    let complaint = sns(
        json!({"eventType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "HOA@example.vn"}]}}),
    );
    let (_, out) = api
        .send(Method::POST, &path, Some(("text/plain", complaint)), None)
        .await;
    assert_eq!(out, json!({"kind": "complaint", "suppressed_contacts": 1}));
    let (_, got) = api.get(&format!("/v1/contacts/{}", b["id"].as_str().unwrap())).await;
    assert_eq!(got["opt_outs"][0]["source"], "complaint");
    let confirm =
        json!({"Type": "SubscriptionConfirmation", "SubscribeURL": "https://sns.example/confirm"}).to_string();
    let (_, out) = api.send(Method::POST, &path, Some(("text/plain", confirm)), None).await;
    assert_eq!(out["kind"], "subscription_confirmation");
    let (status, body) = api
        .send(Method::POST, &path, Some(("text/plain", "{not json".into())), None)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, None, "malformed JSON");
    let (status, body) = api
        .send(
            Method::POST,
            &path,
            Some(("text/plain", sns(json!("not an event")))),
            None,
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        Some("Message"),
        "not an SES notification",
    );
}

#[tokio::test]
async fn the_one_click_unsubscribe_link_stops_email_and_refuses_forged_tokens() {
    let api = spawn().await;
    api.seed_units().await;
    let (_, c) = api
        .post("/v1/contacts", json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "0912345678", "email": "lan@example.vn",
            "consents": [{"channel": "email", "method": "web_form", "wording_version": "v1"}]}))
        .await;
    let id = c["id"].as_str().unwrap();
    let token = api.auth.mint_unsubscribe(id, Utc::now());
    // Opening the link (a prefetcher, a mail scanner, a person) only asks: its button posts.
    let page = reqwest::get(format!("{}/v1/inbound/unsubscribe?token={token}", api.base))
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\"") && html.contains("Ngừng nhận email"),
        "{html}"
    );
    let (_, got) = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(got["opt_outs"], json!([]), "a GET opted the contact out");
    let res = reqwest::Client::new()
        .post(format!("{}/v1/inbound/unsubscribe?token={token}", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (_, got) = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(got["opt_outs"][0]["source"], "unsubscribe_link");
    // The button of the page: a browser gets a page back. Replayed, the link adds nothing.
    for _ in 0..30 {
        let res = reqwest::Client::new()
            .post(format!("{}/v1/inbound/unsubscribe?token={token}", api.base))
            .header("accept", "text/html")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("Bạn đã ngừng nhận email"));
    }
    let (_, got) = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(got["opt_outs"].as_array().unwrap().len(), 1, "{got}");
    // One audit entry, of the one change, with what changed.
    let admin = api
        .auth
        .mint("admin-1", Role::Admin, "24", Utc::now(), Duration::hours(1));
    let (_, log) = api.send(Method::GET, "/v1/audit?limit=500", None, Some(&admin)).await;
    let entries: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "POST /v1/inbound/unsubscribe")
        .collect();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(
        (entries[0]["entity"].as_str(), entries[0]["entity_id"].as_str()),
        (Some("contact"), Some(id))
    );
    // An API token is not an unsubscribe token, and a forged one is refused.
    let (status, body) = api
        .send(
            Method::POST,
            &format!("/v1/inbound/unsubscribe?token={}", api.token),
            None,
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("token"), "not valid");
    let other = AuthConfig::hs256(b"another-secret-that-is-32-bytes-long!!", LOCAL_ISSUER).unwrap();
    let forged = other.mint_unsubscribe(id, Utc::now());
    let (status, _) = api
        .send(
            Method::POST,
            &format!("/v1/inbound/unsubscribe?token={forged}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_delivery_log_lists_by_campaign_session_contact_and_status() {
    use outreach_core::notify::NoUnsubscribeLinks;
    let api = spawn().await;
    api.seed_units().await;
    let consenting = api.new_contact("0912345678", "07201", "citizen").await;
    let (_, silent) = api
        .post(
            "/v1/contacts",
            json!({"role": "citizen", "name": "B", "commune_code": "07201", "phone": "0912345679"}),
        )
        .await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let due = t("2026-10-02T01:00:00Z");
    let _outbox = api.send_due(due, &NoUnsubscribeLinks).await;

    let (status, all) = api.get(&format!("/v1/deliveries?campaign={id}")).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let (_, sent) = api.get(&format!("/v1/deliveries?campaign={id}&status=sent")).await;
    assert_eq!(sent["items"][0]["contact_id"], consenting.as_str());
    assert!(sent["items"][0]["message_id"].is_string());
    let (_, suppressed) = api
        .get(&format!("/v1/deliveries?contact={}", silent["id"].as_str().unwrap()))
        .await;
    assert_eq!(suppressed["items"][0]["status"], "suppressed");
    assert_eq!(suppressed["items"][0]["reason"], "no_consent");
    let session = sent["items"][0]["session_id"].as_str().unwrap();
    let (_, by_session) = api
        .get(&format!("/v1/deliveries?session={session}&status=suppressed"))
        .await;
    assert_eq!(by_session["items"].as_array().unwrap().len(), 1);
    let (status, body) = api.get("/v1/deliveries").await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("filter"),
        "name a campaign",
    );
    let (status, body) = api.get("/v1/deliveries?campaign=x&status=lost").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("status"), "lost");
}

#[tokio::test]
async fn attendance_outcomes_targets_and_quarterly_reports_over_http() {
    use outreach_core::ports::{CampaignStore, SessionStore};
    let api = spawn().await;
    api.seed_units().await;
    let citizen = api.new_contact("0981000101", "07201", "citizen").await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let campaign = api
        .store
        .get_campaign(campaign["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let session = outreach_core::session::Session::materialise(
        &campaign,
        "07201",
        t("2026-10-03T01:00:00Z"),
        t("2026-09-01T03:00:00Z"),
    );
    api.store
        .insert_sessions_if_absent(std::slice::from_ref(&session))
        .await
        .unwrap();
    let attendance = format!("/v1/sessions/{}/attendance", session.id);
    let outcomes = format!("/v1/sessions/{}/outcomes", session.id);
    let body = json!({"attendees": [{"contact_id": citizen}, {"phone": "0977 123 456", "name": "Khách vãng lai", "role": "citizen"}]});

    // Not before the session starts, and only for a session that exists.
    let (status, answer) = api.put(&attendance, body.clone()).await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("session"),
        "once it has started",
    );
    let (status, answer) = api
        .put(
            "/v1/sessions/nope/outcomes",
            json!({"metrics": {"dossiers_supported": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    api.clock.set("2026-10-03T04:00:00Z");
    // A walk-in listed twice, their number written two ways: refused, and nobody registered.
    let (status, answer) = api
        .put(
            &attendance,
            json!({"attendees": [{"phone": "0965000777", "name": "Hai Lần"}, {"phone": "096 500 0777", "name": "Hai Lần"}]}),
        )
        .await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("attendees[1]"),
        "already on the list (attendees[0])",
    );
    let (_, listed) = api.get("/v1/contacts?commune=07201").await;
    assert!(
        !listed.to_string().contains("Hai Lần"),
        "the refused list registered a walk-in: {listed}"
    );
    let (status, record) = api.put(&attendance, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["attendees"].as_array().unwrap().len(), 2);
    assert_eq!(record["attendees"][1]["walk_in"], json!(true));
    // The same list again changes nothing: the walk-in, registered now, stays a walk-in.
    let (status, again) = api.put(&attendance, body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["attendees"], record["attendees"]);
    use outreach_core::ports::OutcomeStore;
    let tallies = api.store.year_tallies(2026, 4).await.unwrap();
    let tally = |metric: &str| {
        tallies
            .iter()
            .find(|t| t.key.unit_code == "07201" && t.key.quarter.quarter == 4 && t.key.metric == metric)
            .map(|t| t.value)
    };
    assert_eq!(
        (tally("walk_ins"), tally("attendees")),
        (Some(1), Some(2)),
        "{tallies:?}"
    );
    let (status, record) = api
        .put(
            &outcomes,
            json!({"metrics": {"dossiers_supported": 12, "leaflets": 40}}),
        )
        .await;
    assert_eq!(
        (status, record["version"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{record}"
    );
    let (status, record) = api
        .put(
            &outcomes,
            json!({"metrics": {"dossiers_supported": 10, "leaflets": 40}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    let (status, answer) = api.put(&outcomes, json!({"metrics": {"dossiers_total": 5}})).await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("metrics.dossiers_total"),
        "official statistics",
    );
    let (status, got) = api.get(&attendance).await;
    assert_eq!(
        (status, got["outcomes"]["dossiers_supported"].as_u64()),
        (StatusCode::OK, Some(10))
    );

    // Official statistics: a bad row refuses them all.
    let (status, answer) = api
        .put(
            "/v1/statistics",
            json!({"statistics": [
                {"commune_code": "07201", "year": 2026, "quarter": 4, "dossiers_online": 30, "dossiers_total": 100, "services_publicized": 5, "services_total": 10},
                {"commune_code": "07228", "year": 2026, "quarter": 4, "dossiers_online": 300, "dossiers_total": 100, "services_publicized": 5, "services_total": 10}
            ]}),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("import_rejected")),
        "{answer}"
    );
    let csv = "commune_code,year,quarter,dossiers_online,dossiers_total,services_publicized,services_total\n07201,2026,4,30,100,5,10\n07228,2026,4,10,100,5,10\n";
    let (status, answer) = api.post_raw("/v1/statistics:import", "text/csv", csv).await;
    assert_eq!(
        (status, answer["imported"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{answer}"
    );

    // Targets, allocated equally to the districts.
    let (status, answer) = api
        .put(
            "/v1/targets/2026/24",
            json!({"targets": [
                {"metric": "dossiers_supported", "value": 15000, "allocate": {"method": "equal"}},
                {"metric": "online_dossier_ratio", "value": 40, "unit": "percent"}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let shares: Vec<(String, f64)> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["metric"] == "dossiers_supported")
        .map(|t| {
            (
                t["org_code"].as_str().unwrap().to_string(),
                t["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shares,
        vec![("24".into(), 15000.0), ("213".into(), 7500.0), ("215".into(), 7500.0)]
    );
    let (status, answer) = api
        .put(
            "/v1/targets/2026/24",
            json!({"targets": [{"metric": "online_dossier_ratio", "value": 40}]}),
        )
        .await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("targets[0].value"),
        "percentage",
    );
    let (status, got) = api.get("/v1/targets/2026/213").await;
    assert_eq!(
        (status, got["items"][0]["value"].as_f64()),
        (StatusCode::OK, Some(7500.0)),
        "{got}"
    );

    // The report, live, in three formats.
    let (status, report) = api.get("/v1/reports/quarterly?year=2026&quarter=4&org=24").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let row = |code: &str, metric: &str| report_row(&report, code, metric);
    assert_eq!(row("07201", "dossiers_supported")["ytd_value"].as_f64(), Some(10.0));
    assert_eq!(row("07201", "leaflets")["ytd_value"].as_f64(), Some(40.0));
    assert_eq!(row("07201", "attendees")["ytd_value"].as_f64(), Some(2.0));
    assert_eq!(row("213", "online_dossier_ratio")["ytd_value"].as_f64(), Some(0.2));
    assert_eq!(row("24", "dossiers_supported")["milestone"].as_f64(), Some(15000.0));
    for (format, content_type, magic) in [
        ("csv", "text/csv; charset=utf-8", &b"\xEF\xBB\xBF"[..]),
        (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &b"PK"[..],
        ),
    ] {
        let res = api
            .http
            .get(format!(
                "{}/v1/reports/quarterly?year=2026&quarter=4&org=24&format={format}",
                api.base
            ))
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], content_type);
        assert!(
            res.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(&format!("bao-cao-2026-Q4-24.{format}"))
        );
        let bytes = res.bytes().await.unwrap();
        assert!(bytes.starts_with(magic), "{format}");
    }
    let (status, answer) = api.get("/v1/reports/quarterly?year=2026&quarter=5&org=24").await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("quarter"),
        "1 to 4",
    );
    let (status, answer) = api.get("/v1/reports/quarterly?year=2026&quarter=4&org=99").await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("org"),
        "no unit 99",
    );

    // Snapshots: each run a new revision; the old ones stay readable.
    let (status, first) = api
        .post("/v1/reports/quarterly:snapshot?year=2026&quarter=4&org=24", json!({}))
        .await;
    assert_eq!(
        (status, first["revision"].as_u64()),
        (StatusCode::CREATED, Some(1)),
        "{first}"
    );
    let (status, answer) = api.put(&outcomes, json!({"metrics": {"dossiers_supported": 11}})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, second) = api
        .post("/v1/reports/quarterly:snapshot?year=2026&quarter=4&org=24", json!({}))
        .await;
    assert_eq!(
        (status, second["revision"].as_u64()),
        (StatusCode::CREATED, Some(2)),
        "{second}"
    );
    let (_, list) = api
        .get("/v1/reports/quarterly/snapshots?year=2026&quarter=4&org=24")
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    let (status, old) = api
        .get("/v1/reports/quarterly?year=2026&quarter=4&org=24&revision=1")
        .await;
    assert_eq!(status, StatusCode::OK);
    let old_row = report_row(&old, "07201", "dossiers_supported");
    assert_eq!(old_row["ytd_value"].as_f64(), Some(10.0));
    let (_, latest) = api
        .get("/v1/reports/quarterly?year=2026&quarter=4&org=24&revision=latest")
        .await;
    let new_row = report_row(&latest, "07201", "dossiers_supported");
    assert_eq!(new_row["ytd_value"].as_f64(), Some(11.0));
    let (status, _) = api
        .get("/v1/reports/quarterly?year=2026&quarter=3&org=24&revision=latest")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The row of a unit and metric in a report answered as JSON.
fn report_row(report: &Value, code: &str, metric: &str) -> Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == code && r["metric"] == metric)
        .cloned()
        .unwrap_or_else(|| panic!("no row {code} {metric} in {report}"))
}

#[tokio::test]
async fn a_campaign_estimate_matches_what_its_deliveries_record_within_rounding() {
    use outreach_core::jobs::{Channels, DispatchSettings, SenderSettings, run_dispatcher, run_sender};
    use outreach_core::notify::{MemoryQueue, NoUnsubscribeLinks};
    use outreach_core::ports::{DeliveryFilter, DeliveryStore, PageRequest};
    let api = spawn().await;
    api.seed_units().await;
    // Viettel, Vinaphone and Vietnamobile numbers (three brandname prices), one with email
    // too, one without any consent, and one in a commune whose name is longer.
    for (phone, commune) in [
        ("0983000001", "07201"),
        ("0913000002", "07201"),
        ("0923000003", "07441"),
    ] {
        api.new_contact(phone, commune, "citizen").await;
    }
    let (status, body) = api
        .post(
            "/v1/contacts",
            json!({"role": "citizen", "name": "Trần Thị Bích Ngọc", "commune_code": "07201", "phone": "0983000004",
                   "email": "ngoc@example.vn",
                   "consents": [{"channel": "sms", "method": "paper_form", "wording_version": "v1"},
                                {"channel": "email", "method": "paper_form", "wording_version": "v1"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    api.post(
        "/v1/contacts",
        json!({"role": "citizen", "name": "B", "commune_code": "07201", "phone": "0983000005"}),
    )
    .await;
    let mut body = campaign_body("0 8 * * 6", json!(["07201", "07441"]));
    body["reminder_rules"][0]["channels"] = json!(["sms", "email"]);
    let (status, campaign) = api.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().unwrap();

    // A draft is estimated before it is activated.
    let (status, estimate) = api.get(&format!("/v1/campaigns/{id}/estimate")).await;
    assert_eq!(status, StatusCode::OK, "{estimate}");
    // Thirteen Saturdays from October to December, in two communes.
    assert_eq!(estimate["sessions"], 26, "{estimate}");
    let channel = |name: &str| {
        estimate["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["channel"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {estimate}"))
    };
    let (sms, email) = (channel("sms"), channel("email"));
    assert_eq!(
        (sms["recipients"].as_u64(), sms["messages"].as_u64()),
        (Some(4), Some(52))
    );
    assert_eq!(
        (email["recipients"].as_u64(), email["messages"].as_u64()),
        (Some(1), Some(13))
    );
    assert_eq!(email["segments"], 13);
    let max = sms["max_segments_per_message"].as_u64().unwrap();
    assert!((1..=2).contains(&max), "{sms}");
    assert_eq!(
        estimate["total_cost_vnd"].as_u64(),
        Some(sms["cost_vnd"].as_u64().unwrap() + email["cost_vnd"].as_u64().unwrap())
    );
    assert_eq!(estimate["communes"].as_array().unwrap().len(), 2);
    assert_eq!(estimate["communes"][1]["name"], "Xã Tân Dĩnh");

    // Another province's planner is told it does not exist.
    let stranger = api
        .auth
        .mint("planner-9", Role::Planner, "99", Utc::now(), Duration::hours(1));
    let (status, _) = api
        .send(
            Method::GET,
            &format!("/v1/campaigns/{id}/estimate"),
            None,
            Some(&stranger),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.get("/v1/campaigns/cmp_nothing/estimate").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Run it through: every session's reminder dispatched and sent to the outbox.
    api.post(&format!("/v1/campaigns/{id}:activate"), json!({})).await;
    run_planner(api.store.as_ref(), t("2026-09-30T00:00:00Z"), Duration::days(100))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outbox = outreach_notify::Outbox::new(dir.path()).unwrap();
    let channels = Channels {
        email: &outbox,
        sms: &outbox,
        zns: None,
        links: &NoUnsubscribeLinks,
    };
    // Each Friday at 08:00 local, the day before each Saturday's sessions.
    let mut due = t("2026-10-02T01:00:00Z");
    while due < t("2027-01-01T00:00:00Z") {
        let queue = MemoryQueue::default();
        run_dispatcher(api.store.as_ref(), &queue, due, DispatchSettings::default())
            .await
            .unwrap();
        run_sender(
            api.store.as_ref(),
            channels,
            &queue.drain(1000),
            due,
            SenderSettings::default(),
        )
        .await;
        due += Duration::days(7);
    }
    let mut logged: std::collections::BTreeMap<String, (u64, u64, u64)> = Default::default();
    let filter = DeliveryFilter {
        campaign: Some(id.to_string()),
        ..DeliveryFilter::default()
    };
    let mut page = PageRequest::first(500);
    loop {
        let got = api.store.list_deliveries(&filter, &page).await.unwrap();
        for d in got.items.iter().filter(|d| d.status.may_have_arrived()) {
            let e = logged.entry(format!("{:?}", d.channel)).or_default();
            *e = (e.0 + 1, e.1 + u64::from(d.segments), e.2 + d.cost_milli_vnd);
        }
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    for (name, key) in [("sms", "Sms"), ("email", "Email")] {
        let estimated = channel(name);
        let (messages, segments, cost) = logged[key];
        assert_eq!(estimated["messages"].as_u64(), Some(messages), "{name}: {logged:?}");
        assert_eq!(estimated["segments"].as_u64(), Some(segments), "{name}: {logged:?}");
        let cost_vnd = cost as f64 / 1000.0;
        let off = (estimated["cost_vnd"].as_f64().unwrap() - cost_vnd).abs();
        assert!(off <= 1.0, "{name}: estimated {estimated}, recorded {cost_vnd} đ");
    }
    // The tallies hold the same, and the estimate of the campaign now reads them.
    let tallies = api
        .store
        .delivery_tallies(
            &["07201".to_string(), "07441".to_string()],
            "2026-10-01".parse().unwrap(),
            "2026-12-31".parse().unwrap(),
        )
        .await
        .unwrap();
    let sent_cost: u64 = tallies
        .iter()
        .filter(|t| t.key.status.may_have_arrived())
        .map(|t| t.cost_milli_vnd)
        .sum();
    assert_eq!(sent_cost, logged.values().map(|v| v.2).sum::<u64>());
}

#[tokio::test]
async fn sms_replies_answer_the_reminder_that_asked_and_make_the_session_headcount() {
    use outreach_core::notify::NoUnsubscribeLinks;
    let api = spawn().await;
    api.seed_units().await;
    let people: Vec<String> = (1..=4).map(|i| format!("091234567{i}")).collect::<Vec<_>>();
    let mut ids = Vec::new();
    for phone in &people {
        ids.push(api.new_contact(phone, "07201", "citizen").await);
    }
    // Registered without consent: never sent the question.
    let (_, unasked) = api
        .post(
            "/v1/contacts",
            json!({"role": "citizen", "name": "E", "commune_code": "07201", "phone": "0912345679"}),
        )
        .await;
    let mut body = campaign_body("0 8 * * 6", json!(["07201"]));
    body["reminder_rules"][0]["asks_answer"] = json!(true);
    let (status, campaign) = api.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    assert_eq!(campaign["reminder_rules"][0]["asks_answer"], true);
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let due = t("2026-10-02T01:00:00Z");
    let dir = api.send_due(due, &NoUnsubscribeLinks).await;
    let sms = outreach_notify::Outbox::read_sms(dir.path()).unwrap();
    assert_eq!(sms.len(), 4);
    assert!(
        sms.iter()
            .all(|m| m.text.ends_with(outreach_core::answer::SMS_ANSWER_PROMPT)),
        "{sms:?}"
    );
    let (_, sent) = api.get(&format!("/v1/deliveries?campaign={id}&status=sent")).await;
    let session = sent["items"][0]["session_id"].as_str().unwrap().to_string();

    let path = format!("/v1/inbound/sms?key={WEBHOOK_KEY}");
    let reply = |from: &str, text: &str| {
        let body = json!({"from": from, "text": text}).to_string();
        let path = path.clone();
        let api = &api;
        async move {
            let (status, out) = api
                .send(Method::POST, &path, Some(("application/json", body)), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{out}");
            out
        }
    };
    api.clock.set("2026-10-02T05:00:00Z");
    // A number no one registered, and a contact no reminder asked: nothing is recorded.
    let out = reply("0987000001", "1").await;
    assert_eq!(out, json!({"opt_out": false, "contact_id": null}));
    let out = reply("0912345679", "1").await;
    assert_eq!(out["answer"], json!({"answer": "coming", "result": "no_question"}));
    assert_eq!(out["contact_id"], unasked["id"]);
    // Answers in the spellings people use.
    let out = reply(&people[0], "Có, tôi sẽ đến").await;
    assert_eq!(
        out["answer"],
        json!({"answer": "coming", "result": "recorded", "session_id": session})
    );
    assert_eq!(reply("+84912345672", " 2 ").await["answer"]["answer"], "not_coming");
    assert_eq!(reply(&people[2], "ko.").await["answer"]["result"], "recorded");
    // Changed their mind: the latest answer counts.
    api.clock.set("2026-10-02T09:00:00Z");
    assert_eq!(reply(&people[2], "ĐẾN").await["answer"]["answer"], "coming");
    // An opt-out keyword as a reply opts out and answers nothing.
    let out = reply(&people[3], "TC").await;
    assert_eq!(out["opt_out"], true);
    assert!(out.get("answer").is_none(), "{out}");

    let (status, headcount) = api.get(&format!("/v1/sessions/{session}/headcount")).await;
    assert_eq!(status, StatusCode::OK, "{headcount}");
    assert_eq!(
        headcount["citizens"],
        json!({"asked": 4, "coming": 2, "not_coming": 1, "no_answer": 1})
    );
    assert_eq!(headcount["capacity"], 40);
    assert_eq!(headcount["over_capacity"], false);

    // Once the session has started, a reply changes nothing.
    api.clock.set("2026-10-03T01:30:00Z");
    let out = reply(&people[0], "2").await;
    assert_eq!(out["answer"]["result"], "session_started");
    let (_, after) = api.get(&format!("/v1/sessions/{session}/headcount")).await;
    assert_eq!(after["citizens"], headcount["citizens"]);

    // Answers are the contact's data: in their export, gone with their erasure.
    let (_, export) = api.get(&format!("/v1/contacts/{}/export", ids[0])).await;
    assert_eq!(export["answers"][0]["answer"], "coming");
    assert_eq!(export["answers"][0]["session_id"], session.as_str());
    let (status, _) = api
        .send(
            Method::DELETE,
            &format!("/v1/contacts/{}", ids[0]),
            None,
            Some(&api.token),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (_, erased) = api.get(&format!("/v1/sessions/{session}/headcount")).await;
    assert_eq!(
        erased["citizens"],
        json!({"asked": 4, "coming": 1, "not_coming": 1, "no_answer": 2})
    );
}

#[tokio::test]
async fn answers_and_check_ins_make_the_confirmation_no_show_and_walk_in_figures_of_the_report() {
    use outreach_core::notify::NoUnsubscribeLinks;
    let api = spawn().await;
    api.seed_units().await;
    let people: Vec<String> = (1..=4).map(|i| format!("091234567{i}")).collect();
    let mut ids = Vec::new();
    for phone in &people {
        ids.push(api.new_contact(phone, "07201", "citizen").await);
    }
    let mut body = campaign_body("0 8 * * 6", json!(["07201"]));
    body["reminder_rules"][0]["asks_answer"] = json!(true);
    let (status, campaign) = api.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    api.send_due(t("2026-10-02T01:00:00Z"), &NoUnsubscribeLinks).await;
    let (_, sent) = api.get(&format!("/v1/deliveries?campaign={id}&status=sent")).await;
    let session = sent["items"][0]["session_id"].as_str().unwrap().to_string();
    // Three of the four asked say they will come, one that they will not.
    api.clock.set("2026-10-02T05:00:00Z");
    for (phone, text) in people.iter().zip(["1", "có", "Đến", "2"]) {
        let body = json!({"from": phone, "text": text}).to_string();
        let (status, out) = api
            .send(
                Method::POST,
                &format!("/v1/inbound/sms?key={WEBHOOK_KEY}"),
                Some(("application/json", body)),
                None,
            )
            .await;
        assert_eq!(
            (status, out["answer"]["result"].clone()),
            (StatusCode::OK, json!("recorded"))
        );
    }
    // At the door: two of the confirmed, the one who said no, and a walk-in.
    api.clock.set("2026-10-03T00:45:00Z");
    let path = format!("/v1/sessions/{session}/check-ins");
    for who in [
        json!({"contact_id": ids[0]}),
        json!({"contact_id": ids[1]}),
        json!({"contact_id": ids[3]}),
    ] {
        let (status, out) = api.post(&path, who).await;
        assert_eq!(status, StatusCode::OK, "{out}");
    }
    let (status, out) = api
        .post(&path, json!({"phone": "0987654321", "name": "Lê Thị Mới"}))
        .await;
    assert_eq!((status, out["walk_in"].clone()), (StatusCode::OK, json!(true)), "{out}");
    let (_, record) = api.get(&format!("/v1/sessions/{session}/attendance")).await;
    assert_eq!(
        record["answers"],
        json!({"asked": 4, "confirmed": 3, "confirmed_present": 2}),
        "{record}"
    );

    let figures = |report: &Value, code: &str| {
        ["confirmation_rate", "no_show_rate", "walk_in_share"].map(|metric| {
            let row = report_row(report, code, metric);
            (row["quarter_numerator"].as_i64(), row["quarter_denominator"].as_i64())
        })
    };
    let (status, report) = api.get("/v1/reports/quarterly?year=2026&quarter=4&org=24").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    // 3 of 4 asked confirmed; 1 of the 3 confirmed did not come; 1 walk-in of 4 citizens.
    let expected = [(Some(3), Some(4)), (Some(1), Some(3)), (Some(1), Some(4))];
    assert_eq!(figures(&report, "07201"), expected);
    // The province adds up its communes, and the ratio is 0.75.
    assert_eq!(figures(&report, "24"), expected);
    assert_eq!(
        report_row(&report, "07201", "confirmation_rate")["ytd_value"].as_f64(),
        Some(0.75)
    );

    // The attendance typed in after, without one of the confirmed: the figures follow.
    api.clock.set("2026-10-03T05:00:00Z");
    let list: Vec<Value> = [&ids[0], &ids[3], out["contact_id"].as_str().unwrap()]
        .iter()
        .map(|id| json!({"contact_id": id}))
        .collect();
    let (status, record) = api
        .put(
            &format!("/v1/sessions/{session}/attendance"),
            json!({"attendees": list}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["answers"]["confirmed_present"], 1);
    let (_, report) = api.get("/v1/reports/quarterly?year=2026&quarter=4&org=24").await;
    assert_eq!(
        figures(&report, "07201"),
        [(Some(3), Some(4)), (Some(2), Some(3)), (Some(1), Some(3))]
    );
}

#[tokio::test]
async fn a_citizens_sms_carries_their_check_in_code_only_when_it_costs_no_segment() {
    use outreach_api::auth::SignedUnsubscribeLinks;
    use outreach_core::sms::count_segments;
    let api = spawn().await;
    api.seed_units().await;
    let contact = api.new_contact("0912345671", "07201", "citizen").await;
    // Two reminders: a short one, and a long one that a code would make a segment longer.
    let mut body = campaign_body("0 8 * * 6", json!(["07201"]));
    body["reminder_rules"] = json!([
        {"offset_minutes": 1440, "audience": "citizens", "channels": ["sms"],
         "sms_template": "Moi {name} den buoi ho tro dich vu cong {date} luc {time}."},
        {"offset_minutes": 1200, "audience": "citizens", "channels": ["sms"],
         "sms_template": format!("Nhac lai: {}", "x".repeat(130))}
    ]);
    let (status, campaign) = api.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let links = SignedUnsubscribeLinks {
        auth: api.auth.clone(),
        base_url: api.base.clone(),
    };
    let day_before = api.send_due(t("2026-10-02T01:00:00Z"), &links).await;
    let noon = api.send_due(t("2026-10-02T05:00:00Z"), &links).await;
    let (_, sent) = api.get(&format!("/v1/deliveries?campaign={id}&status=sent")).await;
    let session = sent["items"][0]["session_id"].as_str().unwrap();
    let code = api.auth.check_in_short_code(session, &contact);
    let first = outreach_notify::Outbox::read_sms(day_before.path()).unwrap().remove(0);
    assert!(
        first.text.ends_with(&format!(" Ma diem danh: {code}.")),
        "{}",
        first.text
    );
    assert_eq!(count_segments(&first.text).segments, 1, "{}", first.text);
    let second = outreach_notify::Outbox::read_sms(noon.path()).unwrap().remove(0);
    assert!(!second.text.contains("Ma diem danh"), "{}", second.text);
    let with_code = format!("{} Ma diem danh: {code}.", second.text);
    assert!(
        count_segments(&with_code).segments > count_segments(&second.text).segments,
        "{}",
        second.text
    );
}

#[tokio::test]
async fn the_links_of_an_email_that_asks_record_an_answer_only_when_posted_and_genuine() {
    use outreach_api::auth::SignedUnsubscribeLinks;
    let api = spawn().await;
    api.seed_units().await;
    let (status, contact) = api
        .post(
            "/v1/contacts",
            json!({"role": "citizen", "name": "Lê Thu", "commune_code": "07201", "phone": "0912345678",
                   "email": "thu@example.vn",
                   "consents": [{"channel": "email", "method": "web_form", "wording_version": "v1"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let mut body = campaign_body("0 8 * * 6", json!(["07201"]));
    body["reminder_rules"][0]["channels"] = json!(["email"]);
    body["reminder_rules"][0]["asks_answer"] = json!(true);
    let (status, campaign) = api.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let due = t("2026-10-02T01:00:00Z");
    let links = SignedUnsubscribeLinks {
        auth: api.auth.clone(),
        base_url: api.base.clone(),
    };
    let dir = api.send_due(due, &links).await;
    let email = outreach_notify::Outbox::read_email(dir.path()).unwrap().remove(0);
    let link_after = |label: &str| -> String {
        let at = email
            .body_text
            .find(label)
            .unwrap_or_else(|| panic!("{label}: {}", email.body_text));
        let rest = &email.body_text[at + label.len()..];
        rest.split_whitespace()
            .next()
            .unwrap()
            .trim_start_matches(&api.base)
            .to_string()
    };
    let (coming, not_coming) = (link_after("Sẽ đến: "), link_after("Không đến: "));
    // A citizen's email also carries their check-in code.
    assert!(email.body_text.contains("/ui/den/ma?token="), "{}", email.body_text);
    assert!(coming.starts_with("/v1/inbound/answer?token="), "{coming}");
    let (_, sent) = api.get(&format!("/v1/deliveries?campaign={id}&status=sent")).await;
    let session = sent["items"][0]["session_id"].as_str().unwrap().to_string();
    let headcount = || async {
        let (_, h) = api.get(&format!("/v1/sessions/{session}/headcount")).await;
        h["citizens"].clone()
    };
    let html = |method: Method, path: String| {
        let api = &api;
        async move {
            let response = api
                .http
                .request(method, format!("{}{path}", api.base))
                .header("accept", "text/html")
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };

    api.clock.set("2026-10-02T06:00:00Z");
    // Opening the link (a mail scanner does) shows the session and a button; nothing is recorded.
    let (status, page) = html(Method::GET, coming.clone()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Tôi sẽ đến") && page.contains("08:00 ngày 03/10/2026"),
        "{page}"
    );
    assert_eq!(headcount().await["coming"], 0);
    // The button posts it.
    let (status, page) = html(Method::POST, coming.clone()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Đã ghi nhận"), "{page}");
    assert_eq!(
        headcount().await,
        json!({"asked": 1, "coming": 1, "not_coming": 0, "no_answer": 0})
    );
    // Changed their mind by the other link.
    api.clock.set("2026-10-02T07:00:00Z");
    let (status, out) = api.send(Method::POST, &not_coming, None, None).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["result"], "recorded");
    assert_eq!(headcount().await["not_coming"], 1);
    // A link altered in one character, or signed by another key, is refused and records nothing.
    let mut forged = coming.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (status, body) = api.send(Method::POST, &forged, None, None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("token"), "not valid");
    let other = AuthConfig::hs256(b"another-secret-of-at-least-32-bytes!!", LOCAL_ISSUER).unwrap();
    let foreign = format!(
        "/v1/inbound/answer?token={}",
        other.mint_answer(
            id,
            sent["items"][0]["id"].as_str().unwrap(),
            outreach_core::answer::Answer::Coming,
            Utc::now(),
        )
    );
    let (status, _) = html(Method::GET, foreign.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.send(Method::POST, &foreign, None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headcount().await["not_coming"], 1, "the forged link changed nothing");
    // Replayed after the session started: refused, the answer stays.
    api.clock.set("2026-10-03T01:30:00Z");
    let (status, page) = html(Method::POST, coming.clone()).await;
    assert!(
        status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
    assert!(!page.contains("Đã ghi nhận"), "{page}");
    assert_eq!(headcount().await["not_coming"], 1);
}

#[tokio::test]
async fn check_ins_at_the_door_count_each_person_once_and_a_later_upload_agrees() {
    use outreach_core::ports::OutcomeStore;
    let api = spawn().await;
    api.seed_units().await;
    let a = api.new_contact("0912345671", "07201", "citizen").await;
    let b = api.new_contact("0912345672", "07201", "citizen").await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let (_, sessions) = api.get(&format!("/v1/campaigns/{id}/sessions")).await;
    let session = sessions["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/sessions/{session}/check-ins");
    // The door opens an hour before 08:00 local (01:00 UTC).
    api.clock.set("2026-10-02T23:30:00Z");
    let (status, body) = api.post(&path, json!({"contact_id": a})).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("session"),
        "check-in opens 60 minutes",
    );
    api.clock.set("2026-10-03T00:30:00Z");
    let (status, out) = api.post(&path, json!({"contact_id": a})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        out,
        json!({"contact_id": a, "added": true, "walk_in": false, "attendees": 1})
    );
    // Scanned again: counted once.
    let (_, again) = api.post(&path, json!({"contact_id": a})).await;
    assert_eq!(again["added"], false);
    assert_eq!(again["attendees"], 1);
    // A walk-in is registered in the commune, without consent; a registered number given as
    // a walk-in's is that contact.
    let (status, walk) = api
        .post(&path, json!({"phone": "0987 654 321", "name": "Đinh Văn Tới"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{walk}");
    assert_eq!(
        (walk["walk_in"].clone(), walk["attendees"].clone()),
        (json!(true), json!(2))
    );
    let (_, walker) = api
        .get(&format!("/v1/contacts/{}", walk["contact_id"].as_str().unwrap()))
        .await;
    assert_eq!(walker["commune_code"], "07201");
    assert!(walker["consents"].as_array().unwrap().is_empty(), "{walker}");
    let (_, by_phone) = api.post(&path, json!({"phone": "+84912345672", "name": "B"})).await;
    assert_eq!(
        (by_phone["contact_id"].as_str(), by_phone["walk_in"].clone()),
        (Some(b.as_str()), json!(false))
    );
    // Nobody unknown, and a walk-in needs a valid number.
    let (status, body) = api.post(&path, json!({"contact_id": "ct_nobody"})).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("contact_id"),
        "no contact",
    );
    let (status, body) = api.post(&path, json!({"phone": "01662345678", "name": "C"})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, Some("phone"), "036");

    // The attendance is what was checked in, and sending it back as read changes nothing.
    let (_, record) = api.get(&format!("/v1/sessions/{session}/attendance")).await;
    assert_eq!(record["attendees"].as_array().unwrap().len(), 3, "{record}");
    let list: Vec<Value> = record["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| json!({"contact_id": x["contact_id"]}))
        .collect();
    api.clock.set("2026-10-03T05:00:00Z");
    let (status, uploaded) = api
        .put(
            &format!("/v1/sessions/{session}/attendance"),
            json!({"attendees": list}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{uploaded}");
    assert_eq!(
        uploaded["attendees"], record["attendees"],
        "the walk-in stays a walk-in"
    );
    assert_eq!(uploaded["version"], record["version"], "nothing changed");
    let tallies = api.store.year_tallies(2026, 4).await.unwrap();
    let of = |metric: &str| {
        tallies
            .iter()
            .filter(|x| x.key.unit_code == "07201" && x.key.metric == metric)
            .map(|x| x.value)
            .sum::<i64>()
    };
    assert_eq!((of("attendees"), of("walk_ins")), (3, 1));
}
