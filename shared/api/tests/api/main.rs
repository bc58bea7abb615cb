//! The real router on a real socket (127.0.0.1:0) over a SQLite file: every endpoint's
//! happy path and the bad inputs a caller can send, answered 4xx with a useful message.
//! One test binary, a module per resource; this file holds the harness they share (the
//! served API and its helpers).

#[path = "../common/mod.rs"]
mod common;

mod answers;
mod bad_input;
mod basics;
mod campaigns;
mod check_ins;
mod contacts;
mod inbound;
mod reports;
mod sessions;
mod units;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::{StepClock, t};
use outreach_api::auth::LOCAL_ISSUER;
use outreach_api::{AuthConfig, Role};
use outreach_core::ids::{CampaignId, SessionId};
use outreach_core::jobs::run_planner;
use outreach_core::quarter::Quarter;
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
