//! Who may call what, what is kept of personal data, and what hostile input gets, over the
//! real router on a socket. The matrix walks
//! `outreach_api::endpoints()` — the table the router is built from — and calls every
//! endpoint as every role, about the caller's own area and about another province, with
//! and without a token; an endpoint without a case here fails the test.

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::{StepClock, t};
use outreach_api::auth::LOCAL_ISSUER;
use outreach_api::{Access, AuthConfig, Endpoint, Foreign, Role};
use outreach_core::contact::Channel;
use outreach_core::ids::{CampaignId, ContactId, SessionId};
use outreach_core::ports::{CampaignStore, Claim, Clock, ContactStore, DeliveryStore, SessionStore};
use outreach_core::reminder::Delivery;
use outreach_core::session::Session;
use outreach_store::SqliteStore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &[u8] = b"an-access-test-secret-of-32-bytes-or-more";
const WEBHOOK_KEY: &str = "access-test-webhook-key";

/// One area's data: a commune in a district in a province, with a citizen, a volunteer,
/// a team, an active campaign, a session that has started (with a record) and one to come.
struct Area {
    province: &'static str,
    commune: &'static str,
    citizen: String,
    citizen_phone: &'static str,
    volunteer: String,
    campaign: CampaignId,
    past_session: SessionId,
    next_session: SessionId,
}

struct Server {
    store: Arc<SqliteStore>,
    db: std::path::PathBuf,
    base: String,
    http: reqwest::Client,
    auth: AuthConfig,
    own: Area,
    foreign: Area,
    _dir: tempfile::TempDir,
}

/// Province 24 (district 213, commune 07201) is the callers' own; province 99 (district
/// 990, commune 09901) is foreign to every caller.
async fn server() -> Server {
    let auth = AuthConfig::hs256(SECRET, LOCAL_ISSUER).unwrap();
    let clock = StepClock::at("2026-09-01T03:00:00Z");
    let common::Served { base, store, db, dir } = common::serve(auth.clone(), clock.clone(), Some(WEBHOOK_KEY)).await;
    let http = reqwest::Client::new();
    // Each province's units imported by its own admin: an admin imports only their own.
    for (province, district, commune, names) in [
        (
            "24",
            "213",
            "07201",
            ["Tỉnh Bắc Giang", "Thành phố Bắc Giang", "Phường Thọ Xương"],
        ),
        ("99", "990", "09901", ["Tỉnh Khác", "Huyện Khác", "Xã Khác"]),
    ] {
        let admin = auth.mint("admin", Role::Admin, province, Utc::now(), Duration::hours(1));
        let units = json!([
            {"code": province, "name": names[0], "level": "province", "parent_code": null},
            {"code": district, "name": names[1], "level": "district", "parent_code": province},
            {"code": commune, "name": names[2], "level": "commune", "parent_code": district}
        ]);
        let (status, body) = call(
            &http,
            &base,
            Method::POST,
            "/v1/org-units:import",
            Some(&admin),
            Body::json(units),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut areas = Vec::new();
    for (province, commune, phones) in [
        ("24", "07201", ["0981000001", "0981000002"]),
        ("99", "09901", ["0982000001", "0982000002"]),
    ] {
        let admin = auth.mint("admin", Role::Admin, province, Utc::now(), Duration::hours(1));
        let request = |method: Method, path: String, body: Body| {
            let (http, base, admin) = (&http, &base, &admin);
            async move {
                let (status, value) = call(http, base, method, &path, Some(admin), body).await;
                assert!(status.is_success(), "fixture {path}: {status} {value}");
                value
            }
        };
        let contact = |phone: &str, role: &str| {
            Body::json(
                json!({"role": role, "name": "Nguyễn Văn An", "commune_code": commune, "phone": phone,
                "consents": [{"channel": "sms", "method": "paper_form", "wording_version": "v1"}]}),
            )
        };
        let citizen = request(Method::POST, "/v1/contacts".into(), contact(phones[0], "citizen")).await;
        let volunteer = request(Method::POST, "/v1/contacts".into(), contact(phones[1], "volunteer")).await;
        let volunteer = volunteer["id"].as_str().unwrap().to_string();
        request(
            Method::PUT,
            format!("/v1/teams/{commune}"),
            Body::json(json!({"name": "Đội TN", "member_ids": [volunteer]})),
        )
        .await;
        let campaign = request(Method::POST, "/v1/campaigns".into(), Body::json(campaign_body(commune))).await;
        let campaign = CampaignId::from(campaign["id"].as_str().unwrap());
        request(Method::POST, format!("/v1/campaigns/{campaign}:activate"), Body::None).await;
        let stored = store.get_campaign(&campaign).await.unwrap().unwrap();
        let now = clock.now();
        let past = Session::materialise(&stored, commune, t("2026-09-05T01:00:00Z"), now);
        let next = Session::materialise(&stored, commune, t("2026-10-03T01:00:00Z"), now);
        store
            .insert_sessions_if_absent(&[past.clone(), next.clone()])
            .await
            .unwrap();
        // The citizen's reminder of the next session, which answer links name.
        let citizen_id = citizen["id"].as_str().unwrap();
        let reminder = outreach_testkit::examples::claimed_delivery(
            &campaign,
            &next.id,
            "r1",
            &citizen_id.into(),
            Channel::Sms,
            now,
        );
        assert!(matches!(
            store.claim_delivery(&reminder, now).await.unwrap(),
            Claim::Claimed(_)
        ));
        areas.push((
            province,
            commune,
            phones[0],
            citizen["id"].as_str().unwrap().to_string(),
            volunteer,
            campaign,
            past.id,
            next.id,
        ));
    }
    // The first sessions have started; give each a record.
    clock.set("2026-09-05T03:00:00Z");
    for (province, _, _, _, _, _, past, _) in &areas {
        let admin = auth.mint("admin", Role::Admin, province, Utc::now(), Duration::hours(1));
        let (status, body) = call(
            &http,
            &base,
            Method::PUT,
            &format!("/v1/sessions/{past}/outcomes"),
            Some(&admin),
            Body::json(json!({"metrics": {"dossiers_supported": 2}})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut areas = areas.into_iter().map(
        |(province, commune, citizen_phone, citizen, volunteer, campaign, past_session, next_session)| Area {
            province,
            commune,
            citizen,
            citizen_phone,
            volunteer,
            campaign,
            past_session,
            next_session,
        },
    );
    let own = areas.next().unwrap();
    let foreign = areas.next().unwrap();
    Server {
        store,
        db,
        base,
        http,
        auth,
        own,
        foreign,
        _dir: dir,
    }
}

impl Server {
    fn token(&self, sub: &str, role: Role, org: &str) -> String {
        self.auth.mint(sub, role, org, Utc::now(), Duration::hours(1))
    }

    async fn send(&self, token: &str, method: Method, path: String, body: Body) -> (StatusCode, Value) {
        call(&self.http, &self.base, method, &path, Some(token), body).await
    }
}

fn campaign_body(commune: &str) -> Value {
    json!({
        "name": "Thứ Bảy dịch vụ công",
        "period": {"start": "2026-09-01", "end": "2026-12-31"},
        "target_units": [commune],
        "schedule": {"cron": "0 8 * * 6"},
        "default_venue": "Trụ sở UBND",
        "capacity": 40,
        "reminder_rules": [{"offset_minutes": 1440, "audience": "citizens", "channels": ["sms"]}]
    })
}

/// A request body and its content type.
enum Body {
    None,
    Typed(&'static str, String),
    /// A Zalo OA webhook event (JSON) and its `X-ZEvent-Signature`.
    Zalo(String, String),
}

impl Body {
    fn json(value: Value) -> Self {
        Body::Typed("application/json", value.to_string())
    }
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Body,
) -> (StatusCode, Value) {
    let mut request = http.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match body {
        Body::Typed(content_type, text) => request = request.header("content-type", content_type).body(text),
        Body::Zalo(text, signature) => {
            request = request
                .header("content-type", "application/json")
                .header("x-zevent-signature", signature)
                .body(text)
        }
        Body::None => {}
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// How to call one endpoint about an area: path with query, body; for a list that has no
/// area parameter, the field and value of an item it must show for the own area and hide
/// for a foreign one; and what a request about a foreign area gets where the endpoint's
/// access admits every area (an import of units outside the caller's province: 422).
struct Case {
    path: String,
    body: Body,
    lists: Option<(&'static str, String)>,
    refused: Option<StatusCode>,
}

fn case(endpoint: &Endpoint, server: &Server, area: &Area) -> Case {
    let Area {
        province,
        commune,
        citizen,
        citizen_phone,
        volunteer,
        campaign,
        past_session: past,
        next_session: next,
    } = area;
    let plain = |path: String| Case {
        path,
        body: Body::None,
        lists: None,
        refused: None,
    };
    let with = |path: String, body: Body| Case {
        path,
        body,
        lists: None,
        refused: None,
    };
    let json = Body::json;
    let csv = |text: String| Body::Typed("text/csv", text);
    let quarter = format!("year=2026&quarter=3&org={commune}");
    match (endpoint.method.as_str(), endpoint.path) {
        ("GET", "/healthz") | ("GET", "/openapi.json") => plain(endpoint.path.to_string()),
        ("GET", "/v1/org-units") => plain(format!("/v1/org-units?parent={province}")),
        // A new commune under the area's province, and the area's own commune renamed.
        ("POST", "/v1/org-units:import") => Case {
            refused: Some(StatusCode::UNPROCESSABLE_ENTITY),
            ..with(
                "/v1/org-units:import".into(),
                json(json!([
                    {"code": format!("{commune}9"), "name": "Xã Mới", "level": "commune", "parent_code": province},
                    {"code": commune, "name": "Xã Đổi Tên", "level": "commune", "parent_code": province}
                ])),
            )
        },
        ("GET", "/v1/org-units/{code}") => plain(format!("/v1/org-units/{commune}")),
        ("GET", "/v1/contacts") => plain(format!("/v1/contacts?commune={commune}")),
        ("POST", "/v1/contacts") => with(
            "/v1/contacts".into(),
            json(json!({"role": "citizen", "name": "Lê Thị Hoa", "commune_code": commune, "phone": "0983777001"})),
        ),
        ("POST", "/v1/contacts:import") => with(
            "/v1/contacts:import".into(),
            csv(format!(
                "name,phone,role,commune_code\nLê Thị Hoa,0983777002,citizen,{commune}\n"
            )),
        ),
        ("GET", "/v1/contacts/{id}") => plain(format!("/v1/contacts/{citizen}")),
        ("POST", "/v1/contacts/{id}/consents") => with(
            format!("/v1/contacts/{citizen}/consents"),
            json(json!({"channel": "sms", "method": "paper_form", "wording_version": "v2"})),
        ),
        ("POST", "/v1/contacts/{id}/opt-out") => with(format!("/v1/contacts/{citizen}/opt-out"), json(json!({}))),
        ("DELETE", "/v1/contacts/{id}") => plain(format!("/v1/contacts/{citizen}")),
        ("GET", "/v1/contacts/{id}/export") => plain(format!("/v1/contacts/{citizen}/export")),
        ("GET", "/v1/campaigns") => Case {
            lists: Some(("id", campaign.to_string())),
            ..plain("/v1/campaigns".into())
        },
        ("POST", "/v1/campaigns") => with("/v1/campaigns".into(), json(campaign_body(commune))),
        ("GET", "/v1/campaigns/{id}") => plain(format!("/v1/campaigns/{campaign}")),
        // Created (version 1), then activated (2).
        ("PATCH", "/v1/campaigns/{id}") => with(
            format!("/v1/campaigns/{campaign}"),
            json(json!({"version": 2, "name": "Thứ Bảy dịch vụ công (sửa)", "capacity": 60})),
        ),
        ("POST", "/v1/campaigns/{id}:{action}") => plain(format!("/v1/campaigns/{campaign}:pause")),
        ("GET", "/v1/campaigns/{id}/sessions") => plain(format!("/v1/campaigns/{campaign}/sessions")),
        ("GET", "/v1/campaigns/{id}/estimate") => plain(format!("/v1/campaigns/{campaign}/estimate")),
        ("POST", "/v1/schedule:preview") => with("/v1/schedule:preview".into(), json(json!({"cron": "0 8 * * 6"}))),
        ("GET", "/v1/sessions") => plain(format!("/v1/sessions?commune={commune}")),
        ("GET", "/v1/sessions/{id}") => plain(format!("/v1/sessions/{next}")),
        ("POST", "/v1/sessions/{id}:{action}") => with(
            format!("/v1/sessions/{next}:cancel"),
            json(json!({"reason": "Mưa bão"})),
        ),
        ("PUT", "/v1/sessions/{id}/staff") => with(
            format!("/v1/sessions/{next}/staff"),
            json(json!({"volunteer_ids": [volunteer]})),
        ),
        ("GET", "/v1/teams/{commune}") => plain(format!("/v1/teams/{commune}")),
        ("PUT", "/v1/teams/{commune}") => with(
            format!("/v1/teams/{commune}"),
            json(json!({"name": "Đội TN tri thức trẻ", "member_ids": [volunteer]})),
        ),
        ("GET", "/v1/sessions/{id}/headcount") => plain(format!("/v1/sessions/{next}/headcount")),
        ("GET", "/v1/sessions/{id}/attendance") => plain(format!("/v1/sessions/{past}/attendance")),
        ("GET", "/v1/sessions/{id}/outcomes") => plain(format!("/v1/sessions/{past}/outcomes")),
        ("POST", "/v1/sessions/{id}/check-ins") => with(
            format!("/v1/sessions/{past}/check-ins"),
            json(json!({"contact_id": citizen})),
        ),
        ("PUT", "/v1/sessions/{id}/attendance") => with(
            format!("/v1/sessions/{past}/attendance"),
            json(json!({"attendees": [{"contact_id": citizen}]})),
        ),
        ("PUT", "/v1/sessions/{id}/outcomes") => with(
            format!("/v1/sessions/{past}/outcomes"),
            json(json!({"metrics": {"dossiers_supported": 5}})),
        ),
        ("PUT", "/v1/statistics") => with(
            "/v1/statistics".into(),
            json(
                json!({"statistics": [{"commune_code": commune, "year": 2026, "quarter": 3, "dossiers_online": 30,
                "dossiers_total": 100, "services_publicized": 5, "services_total": 10}]}),
            ),
        ),
        ("POST", "/v1/statistics:import") => with(
            "/v1/statistics:import".into(),
            csv(format!(
                "commune_code,year,quarter,dossiers_online,dossiers_total,services_publicized,services_total\n{commune},2026,3,30,100,5,10\n"
            )),
        ),
        ("GET", "/v1/targets/{year}/{org_code}") => plain(format!("/v1/targets/2026/{commune}")),
        ("PUT", "/v1/targets/{year}/{org_code}") => with(
            format!("/v1/targets/2026/{commune}"),
            json(json!({"targets": [{"metric": "dossiers_supported", "value": 100}]})),
        ),
        ("GET", "/v1/reports/quarterly") => plain(format!("/v1/reports/quarterly?{quarter}")),
        ("POST", "/v1/reports/quarterly:snapshot") => plain(format!("/v1/reports/quarterly:snapshot?{quarter}")),
        ("GET", "/v1/reports/quarterly/snapshots") => plain(format!("/v1/reports/quarterly/snapshots?{quarter}")),
        ("GET", "/v1/deliveries") => plain(format!("/v1/deliveries?campaign={campaign}")),
        // The area's admin set it up: their entries carry its province.
        ("GET", "/v1/audit") => Case {
            lists: Some(("org", province.to_string())),
            ..plain("/v1/audit?year=2026&limit=500".into())
        },
        ("POST", "/v1/inbound/sms") => with(
            format!("/v1/inbound/sms?key={WEBHOOK_KEY}"),
            json(json!({"from": citizen_phone, "text": "Cảm ơn"})),
        ),
        ("POST", "/v1/inbound/email-events") => with(
            format!("/v1/inbound/email-events?key={WEBHOOK_KEY}"),
            Body::Typed(
                "text/plain",
                json!({"Type": "Notification", "MessageId": "m-1", "Timestamp": "2026-10-02T01:00:00.000Z",
                    "Message": json!({"notificationType": "Bounce", "bounce": {"bounceType": "Permanent",
                        "bouncedRecipients": [{"emailAddress": "nobody@example.vn"}]}}).to_string()})
                .to_string(),
            ),
        ),
        ("POST", "/v1/inbound/zns-events") => with("/v1/inbound/zns-events".into(), zalo_event("2026-09-05T03:00:00Z")),
        ("GET", "/v1/inbound/answer") | ("POST", "/v1/inbound/answer") => plain(format!(
            "/v1/inbound/answer?token={}",
            server.auth.mint_answer(
                campaign,
                &Delivery::id_for(next, "r1", &ContactId::from(citizen), Channel::Sms),
                outreach_core::answer::Answer::Coming,
                Utc::now(),
            )
        )),
        ("GET", "/v1/inbound/unsubscribe") => plain(format!(
            "/v1/inbound/unsubscribe?token={}",
            server.auth.mint_unsubscribe(&ContactId::from(citizen), Utc::now())
        )),
        ("POST", "/v1/inbound/unsubscribe") => with(
            format!(
                "/v1/inbound/unsubscribe?token={}",
                server.auth.mint_unsubscribe(&ContactId::from(citizen), Utc::now())
            ),
            Body::Typed("application/x-www-form-urlencoded", "List-Unsubscribe=One-Click".into()),
        ),
        (method, path) => panic!("no access case for {method} {path}: add one to shared/api/tests/access.rs"),
    }
}

/// A ZNS delivery event for no delivery of ours, at `at`, signed as Zalo signs it.
fn zalo_event(at: &str) -> Body {
    use sha2::{Digest, Sha256};
    let timestamp = common::t(at).timestamp_millis().to_string();
    let body = json!({"app_id": common::ZALO_APP_ID, "event_name": "user_received_message", "timestamp": timestamp,
        "message": {"msg_id": "m-1", "tracking_id": "s-1|r-1|c-1|zns"}})
    .to_string();
    let mac = Sha256::digest(format!(
        "{}{body}{timestamp}{}",
        common::ZALO_APP_ID,
        common::ZALO_OA_SECRET_KEY
    ));
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    Body::Zalo(body, format!("mac={hex}"))
}

/// What a request should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Success,
    Status(StatusCode),
}

fn expect(access: Access, role: Option<Role>, own: bool) -> Expect {
    let Some(role) = role else {
        return match access {
            Access::Public => Expect::Success,
            _ => Expect::Status(StatusCode::UNAUTHORIZED),
        };
    };
    match access {
        _ if !access.admits(role) => Expect::Status(StatusCode::FORBIDDEN),
        Access::Public | Access::Anywhere(_) => Expect::Success,
        Access::InArea(..) if own => Expect::Success,
        Access::InArea(_, Foreign::Forbidden) => Expect::Status(StatusCode::FORBIDDEN),
        Access::InArea(_, Foreign::NotFound) => Expect::Status(StatusCode::NOT_FOUND),
    }
}

/// The callers: every role over the own area (a district for planners and viewers, the
/// commune for its officer, the province for admins).
fn callers() -> [(Role, &'static str); 4] {
    [
        (Role::Admin, "24"),
        (Role::Planner, "213"),
        (Role::CommuneOfficer, "07201"),
        (Role::Viewer, "213"),
    ]
}

#[tokio::test]
async fn every_endpoint_as_every_role_in_its_own_area_and_a_foreign_one() {
    let endpoints = outreach_api::endpoints();
    assert!(endpoints.len() >= 38, "the table lost endpoints: {}", endpoints.len());
    // Requests that are refused change nothing, so they share one server; a request that
    // succeeds may change what the next one sees, so each gets a fresh one.
    let shared = server().await;
    let mut failures = Vec::new();
    let mut calls = 0;
    for endpoint in &endpoints {
        for own in [true, false] {
            let mut callers: Vec<(Option<Role>, &str)> = callers().iter().map(|(r, o)| (Some(*r), *o)).collect();
            callers.push((None, ""));
            for (role, org) in callers {
                let probe = case(endpoint, &shared, &shared.foreign);
                // A list without an area parameter answers every caller it admits, showing
                // only their area's items.
                let mut want = expect(endpoint.access, role, own || probe.lists.is_some());
                if let (false, Some(refused), Expect::Success) = (own, probe.refused, want) {
                    want = Expect::Status(refused);
                }
                let fresh;
                let server = if want == Expect::Success && endpoint.method != Method::GET {
                    fresh = server().await;
                    &fresh
                } else {
                    &shared
                };
                let area = if own { &server.own } else { &server.foreign };
                let Case { path, body, lists, .. } = case(endpoint, server, area);
                let token = role.map(|r| server.auth.mint("caller", r, org, Utc::now(), Duration::hours(1)));
                let (status, answer) = call(
                    &server.http,
                    &server.base,
                    endpoint.method.clone(),
                    &path,
                    token.as_deref(),
                    body,
                )
                .await;
                calls += 1;
                let who = format!(
                    "{} {} as {} ({} area)",
                    endpoint.method,
                    endpoint.path,
                    role.map_or("no token", Role::as_str),
                    if own { "own" } else { "foreign" }
                );
                let ok = match want {
                    Expect::Success => status.is_success(),
                    Expect::Status(want) => status == want,
                };
                if !ok {
                    failures.push(format!("{who}: want {want:?}, got {status} {answer}"));
                    continue;
                }
                if let (Some((field, value)), true) = (lists, status.is_success()) {
                    let shown = answer["items"]
                        .as_array()
                        .is_some_and(|items| items.iter().any(|i| i[field] == value.as_str()));
                    if shown != own {
                        failures.push(format!(
                            "{who}: an item with {field} {value} {}",
                            if own { "missing" } else { "shown" }
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{calls} calls over {} endpoints, each as expected", endpoints.len());
}

#[tokio::test]
async fn the_table_and_the_openapi_document_name_the_same_endpoints() {
    let doc = outreach_api::openapi();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in &doc.paths.paths {
        let value = serde_json::to_value(item).unwrap();
        for method in value.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let mut table: Vec<(String, String)> = outreach_api::endpoints()
        .iter()
        .filter(|e| e.path != "/openapi.json")
        .map(|e| (e.method.to_string(), e.path.to_string()))
        .collect();
    documented.sort();
    table.sort();
    assert_eq!(table, documented);
}

#[tokio::test]
async fn changes_are_audited_for_admins_with_personal_fields_masked() {
    let server = server().await;
    let planner = server.token("planner-7", Role::Planner, "213");
    let admin = server.token("admin-1", Role::Admin, "24");
    let server = &server;
    let send = |method, path, token: String, body| async move { server.send(&token, method, path, body).await };
    let (status, contact) = send(
        Method::POST,
        "/v1/contacts".into(),
        planner.clone(),
        Body::json(
            json!({"role": "citizen", "name": "Trần Thị Mai", "commune_code": "07201",
            "phone": "0987654321", "email": "mai.tran@example.vn"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let id = contact["id"].as_str().unwrap();
    let (status, _) = send(
        Method::POST,
        format!("/v1/contacts/{id}/opt-out"),
        planner.clone(),
        Body::json(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A refused change is not a change.
    let (status, _) = send(
        Method::POST,
        format!("/v1/contacts/{}/opt-out", server.foreign.citizen),
        planner.clone(),
        Body::None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = send(
        Method::GET,
        "/v1/audit?year=2026&limit=500".into(),
        planner.clone(),
        Body::None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, log) = send(Method::GET, "/v1/audit?limit=500".into(), admin.clone(), Body::None).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let text = log.to_string();
    for personal in ["987654321", "0987654321", "mai.tran", "Thị Mai"] {
        assert!(!text.contains(personal), "{personal} in the audit log: {text}");
    }
    let mine: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "planner-7")
        .collect();
    assert_eq!(mine.len(), 2, "{text}");
    let created = mine[0];
    assert_eq!(created["action"], "POST /v1/contacts");
    assert_eq!(
        (created["role"].as_str(), created["org"].as_str()),
        (Some("planner"), Some("213"))
    );
    assert_eq!(
        (created["entity"].as_str(), created["entity_id"].as_str()),
        (Some("contact"), Some(id))
    );
    let field = |entry: &Value, name: &str| {
        entry["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["field"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no change of {name}: {entry}"))
    };
    assert_eq!(field(created, "phone.e164")["after"], "+84*******21");
    assert_eq!(field(created, "name")["after"], "T***");
    assert_eq!(field(created, "email")["after"], "m***@***.vn");
    let opted_out = mine[1];
    assert_eq!(opted_out["action"], "POST /v1/contacts/{id}/opt-out");
    assert_eq!(opted_out["target"], format!("/v1/contacts/{id}/opt-out"));
    let opt_outs = field(opted_out, "opt_outs");
    assert_eq!(
        (opt_outs["before"].clone(), opt_outs["after"][0]["source"].clone()),
        (json!([]), json!("planner"))
    );
}

#[tokio::test]
async fn an_admin_of_another_province_can_neither_annex_its_communes_nor_read_its_audit() {
    let server = server().await;
    let intruder = server.token("admin-99", Role::Admin, "99");
    let planner = server.token("planner-213", Role::Planner, "213");
    let own = &server.own;
    // The commune of province 24 moved under district 990 of province 99, and a new unit
    // hung under 24's district: both rows refused, nothing written.
    let (status, body) = server
        .send(
            &intruder,
            Method::POST,
            "/v1/org-units:import".into(),
            Body::json(json!([
                {"code": "09902", "name": "Xã Mới", "level": "commune", "parent_code": "990"},
                {"code": own.commune, "name": "Phường Thọ Xương", "level": "commune", "parent_code": "990"},
                {"code": "07299", "name": "Xã Lạ", "level": "commune", "parent_code": "213"},
                {"code": "98", "name": "Tỉnh Mới", "level": "province"}
            ])),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let rows: Vec<(u64, String)> = body["error"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["reasons"].to_string()))
        .collect();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 3, 4], "{body}");
    assert!(rows[0].1.contains("unit 07201 lies outside your province 99"), "{body}");
    assert!(rows[1].1.contains("parent 213 lies outside your province 99"), "{body}");
    assert!(
        rows[2].1.contains("unit 98 would lie outside your province 99"),
        "{body}"
    );
    for code in ["09902", "07299", "98"] {
        let (status, _) = server
            .send(&intruder, Method::GET, format!("/v1/org-units/{code}"), Body::None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{code} was written");
    }
    let (_, unit) = server
        .send(
            &planner,
            Method::GET,
            format!("/v1/org-units/{}", own.commune),
            Body::None,
        )
        .await;
    assert_eq!(unit["parent_code"], "213", "{unit}");
    // The rightful planner still reads the citizen; the intruder does not.
    let path = format!("/v1/contacts/{}", own.citizen);
    assert_eq!(
        server.send(&planner, Method::GET, path.clone(), Body::None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.send(&intruder, Method::GET, path, Body::None).await.0,
        StatusCode::NOT_FOUND
    );
    // Each admin reads the audit of their own province only.
    for (admin, province, other) in [("99", "99", "24"), ("24", "24", "99")] {
        let token = server.token("admin", Role::Admin, admin);
        let (status, log) = server
            .send(&token, Method::GET, "/v1/audit?limit=500".into(), Body::None)
            .await;
        assert_eq!(status, StatusCode::OK, "{log}");
        let orgs: Vec<&str> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["org"].as_str())
            .collect();
        assert!(orgs.contains(&province), "admin of {admin} misses their entries: {log}");
        assert!(
            !orgs.contains(&other),
            "admin of {admin} reads province {other}'s entries: {log}"
        );
    }
}

#[tokio::test]
async fn webhook_changes_are_audited_under_the_contacts_commune_for_its_provinces_admins_only() {
    let server = server().await;
    // One address shared by a citizen of each province.
    let mut sharing = Vec::new();
    for (area, phone) in [(&server.own, "0983000001"), (&server.foreign, "0983000002")] {
        let admin = server.token("admin", Role::Admin, area.province);
        let (status, contact) = server
            .send(
                &admin,
                Method::POST,
                "/v1/contacts".into(),
                Body::json(
                    json!({"role": "citizen", "name": "Lê Thị Hoa", "commune_code": area.commune,
                    "phone": phone, "email": "hoa.le@example.vn"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{contact}");
        sharing.push(contact["id"].as_str().unwrap().to_string());
    }
    let webhook = |path: &'static str, body: Value| {
        let server = &server;
        async move {
            let path = format!("{path}?key={WEBHOOK_KEY}");
            let (status, answer) = call(&server.http, &server.base, Method::POST, &path, None, Body::json(body)).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
        }
    };
    webhook(
        "/v1/inbound/sms",
        json!({"from": server.own.citizen_phone, "text": "STOP"}),
    )
    .await;
    let bounce = json!({"notificationType": "Bounce", "bounce": {"bounceType": "Permanent",
        "bouncedRecipients": [{"emailAddress": "hoa.le@example.vn"}]}});
    webhook(
        "/v1/inbound/email-events",
        json!({"Type": "Notification", "MessageId": "m-1", "Message": bounce.to_string()}),
    )
    .await;

    for (area, contact, sms_entries) in [(&server.own, &sharing[0], 1), (&server.foreign, &sharing[1], 0)] {
        let admin = server.token("admin", Role::Admin, area.province);
        let (status, log) = server
            .send(&admin, Method::GET, "/v1/audit?limit=500".into(), Body::None)
            .await;
        assert_eq!(status, StatusCode::OK, "{log}");
        let text = log.to_string();
        for personal in ["981000001", "983000001", "983000002", "hoa.le", "Thị Hoa"] {
            assert!(!text.contains(personal), "{personal} in the audit log: {text}");
        }
        let of = |action: &str| -> Vec<Value> {
            log["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["action"] == action)
                .cloned()
                .collect()
        };
        let stop = of("POST /v1/inbound/sms");
        let bounced = of("POST /v1/inbound/email-events");
        assert_eq!(
            (stop.len(), bounced.len()),
            (sms_entries, 1),
            "admin of {}: {text}",
            area.province
        );
        for (entry, id, source) in stop
            .iter()
            .map(|e| (e, &area.citizen, "sms_reply"))
            .chain(bounced.iter().map(|e| (e, contact, "bounce")))
        {
            assert_eq!(entry["actor"], "webhook");
            assert_eq!(
                (
                    entry["entity"].as_str(),
                    entry["entity_id"].as_str(),
                    entry["unit"].as_str()
                ),
                (Some("contact"), Some(id.as_str()), Some(area.commune)),
                "{entry}"
            );
            let opt_outs = entry["changes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["field"] == "opt_outs")
                .unwrap_or_else(|| panic!("no opt-out in {entry}"));
            assert_eq!(
                (&opt_outs["before"], &opt_outs["after"][0]["source"]),
                (&json!([]), &json!(source))
            );
        }
    }
}

#[tokio::test]
async fn a_commune_officer_token_that_names_no_commune_is_refused() {
    let server = server().await;
    for org in ["213", "24", "00000"] {
        let token = server.token("officer", Role::CommuneOfficer, org);
        let (status, body) = server
            .send(&token, Method::GET, "/v1/contacts?commune=07201".into(), Body::None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{org}: {body}");
        assert!(body.to_string().contains("must name a commune"), "{body}");
    }
    let token = server.token("officer", Role::CommuneOfficer, "07201");
    let (status, body) = server
        .send(&token, Method::GET, "/v1/contacts?commune=07201".into(), Body::None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_delivery_log_tells_a_foreign_contact_from_no_unknown_one() {
    let server = server().await;
    let planner = server.token("planner", Role::Planner, "213");
    let foreign = server.foreign.citizen.clone();
    let unknown = "ct_00000000000000000000000000000000".to_string();
    let mut answers = Vec::new();
    for id in [&foreign, &unknown] {
        let (status, body) = server
            .send(
                &planner,
                Method::GET,
                format!("/v1/deliveries?contact={id}"),
                Body::None,
            )
            .await;
        answers.push((status, body.to_string().replace(id.as_str(), "ID")));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, StatusCode::NOT_FOUND);
}

/// Every endpoint that takes a contact id (in its path, its query or its body) answers a
/// contact of another province exactly as an unknown id, and writes nothing about it.
#[tokio::test]
async fn a_foreign_contact_id_is_answered_as_an_unknown_one_on_every_endpoint_that_takes_one() {
    let server = server().await;
    let planner = server.token("planner", Role::Planner, "213");
    let officer = server.token("officer", Role::CommuneOfficer, "07201");
    let foreign = server.foreign.citizen.clone();
    let foreign_volunteer = server.foreign.volunteer.clone();
    let before = server.store.get_contact(&ContactId::from(&foreign)).await.unwrap();
    let unknown = "ct_0192f0c4a1b27d3e8f00112233445566".to_string();
    let (past, next) = (&server.own.past_session, &server.own.next_session);
    type Call<'a> = (&'static str, Method, Box<dyn Fn(&str) -> (String, Body) + 'a>);
    let json = Body::json;
    let calls: Vec<Call<'_>> = vec![
        (
            "planner",
            Method::GET,
            Box::new(move |id| (format!("/v1/contacts/{id}"), Body::None)),
        ),
        (
            "planner",
            Method::GET,
            Box::new(move |id| (format!("/v1/contacts/{id}/export"), Body::None)),
        ),
        (
            "planner",
            Method::DELETE,
            Box::new(move |id| (format!("/v1/contacts/{id}"), Body::None)),
        ),
        (
            "officer",
            Method::POST,
            Box::new(move |id| {
                (
                    format!("/v1/contacts/{id}/consents"),
                    json(json!({"channel": "email", "method": "paper_form", "wording_version": "v1"})),
                )
            }),
        ),
        (
            "officer",
            Method::POST,
            Box::new(move |id| (format!("/v1/contacts/{id}/opt-out"), json(json!({})))),
        ),
        (
            "planner",
            Method::GET,
            Box::new(move |id| (format!("/v1/deliveries?contact={id}"), Body::None)),
        ),
        (
            "officer",
            Method::PUT,
            Box::new(move |id| {
                (
                    format!("/v1/sessions/{past}/attendance"),
                    json(json!({"attendees": [{"contact_id": id}]})),
                )
            }),
        ),
        (
            "planner",
            Method::PUT,
            Box::new(move |id| {
                (
                    "/v1/teams/07201".to_string(),
                    json(json!({"name": "Đội TN", "member_ids": [id]})),
                )
            }),
        ),
        (
            "planner",
            Method::PUT,
            Box::new(move |id| {
                (
                    format!("/v1/sessions/{next}/staff"),
                    json(json!({"volunteer_ids": [id]})),
                )
            }),
        ),
    ];
    for (who, method, call) in &calls {
        let token = if *who == "planner" { &planner } else { &officer };
        let mut answers = Vec::new();
        for id in [&foreign, &foreign_volunteer, &unknown] {
            let (path, body) = call(id);
            let (status, value) = server.send(token, method.clone(), path.clone(), body).await;
            answers.push((status, value.to_string().replace(id.as_str(), "ID")));
        }
        let (path, _) = call("ID");
        assert_eq!(
            answers[0], answers[2],
            "{method} {path}: a foreign contact and an unknown one"
        );
        assert_eq!(
            answers[1], answers[2],
            "{method} {path}: a foreign volunteer and an unknown one"
        );
        assert!(answers[2].0.is_client_error(), "{method} {path}: {:?}", answers[2]);
    }
    assert_eq!(
        server.store.get_contact(&ContactId::from(&foreign)).await.unwrap(),
        before,
        "nothing was written about the foreign contact"
    );
}

/// A walk-in whose phone is registered in another province is counted at the session as a
/// walk-in, answered exactly as one whose phone is unknown, and registered in neither commune;
/// the same list sent again changes nothing.
#[tokio::test]
async fn a_walk_in_registered_elsewhere_is_answered_as_a_new_one_and_registered_nowhere() {
    let server = server().await;
    let officer = server.token("officer", Role::CommuneOfficer, "07201");
    let foreign_phone = server.foreign.citizen_phone;
    let unknown_phone = "0389000123";
    let path = format!("/v1/sessions/{}/attendance", server.own.past_session);
    let attend = |phone: &str, name: Option<&str>| {
        let mut a = json!({"phone": phone});
        if let Some(name) = name {
            a["name"] = json!(name);
        }
        Body::json(json!({"attendees": [a]}))
    };
    // Without a name: the same refusal for both.
    let (s1, b1) = server
        .send(&officer, Method::PUT, path.clone(), attend(foreign_phone, None))
        .await;
    let (s2, b2) = server
        .send(&officer, Method::PUT, path.clone(), attend(unknown_phone, None))
        .await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(s1, StatusCode::UNPROCESSABLE_ENTITY, "{b1}");

    let foreign_before = server
        .store
        .get_contact(&ContactId::from(&server.foreign.citizen))
        .await
        .unwrap();
    let (status, foreign) = server
        .send(
            &officer,
            Method::PUT,
            path.clone(),
            attend(foreign_phone, Some("Trần Thị Bình")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{foreign}");
    let (status, again) = server
        .send(
            &officer,
            Method::PUT,
            path.clone(),
            attend(foreign_phone, Some("Trần Thị Bình")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, foreign, "the same list again changes nothing");
    let (status, new) = server
        .send(
            &officer,
            Method::PUT,
            path.clone(),
            attend(unknown_phone, Some("Lê Văn Cường")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{new}");

    // The same shape: one walk-in citizen under an id shaped like a new contact's.
    let shape = |record: &Value| {
        let a = &record["attendees"][0];
        let id = a["contact_id"].as_str().unwrap().to_string();
        assert!(
            id.len() == 35
                && id.starts_with("ct_")
                && id[3..].chars().all(|c| c.is_ascii_hexdigit())
                && &id[15..16] == "7",
            "{id}"
        );
        let mut keys: Vec<String> = a.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        (
            keys,
            a["role"].clone(),
            a["walk_in"].clone(),
            record["attendees"].as_array().unwrap().len(),
        )
    };
    assert_eq!(shape(&foreign), shape(&new));
    let unlinked = foreign["attendees"][0]["contact_id"].as_str().unwrap();
    assert_ne!(unlinked, server.foreign.citizen, "the other registration is not named");
    assert!(
        server.store.get_contact(&unlinked.into()).await.unwrap().is_none(),
        "registered nowhere"
    );
    assert_eq!(
        server
            .store
            .get_contact(&ContactId::from(&server.foreign.citizen))
            .await
            .unwrap(),
        foreign_before,
        "the other registration is untouched"
    );
    let walk_in = new["attendees"][0]["contact_id"].as_str().unwrap();
    let registered = server
        .store
        .get_contact(&walk_in.into())
        .await
        .unwrap()
        .expect("an unknown phone is registered");
    assert_eq!(registered.commune_code, "07201");
}

/// A campaign of the whole province: a district planner's delivery log of it keeps only the
/// deliveries of sessions in their district; the province's admin sees them all.
#[tokio::test]
async fn a_campaign_delivery_log_keeps_only_the_callers_area() {
    use outreach_core::contact::Channel;
    use outreach_core::ports::{Claim, DeliveryStore, OrgUnitStore};
    let server = server().await;
    // A second district of province 24, with a commune and a session of the same campaign.
    let admin = server.token("admin", Role::Admin, "24");
    let units = json!([
        {"code": "214", "name": "Huyện Yên Thế", "level": "district", "parent_code": "24"},
        {"code": "07300", "name": "Xã Đồng Tâm", "level": "commune", "parent_code": "214"}
    ]);
    let (status, body) = server
        .send(&admin, Method::POST, "/v1/org-units:import".into(), Body::json(units))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!server.store.org_unit_versions("07300").await.unwrap().is_empty());
    let campaign = server.store.get_campaign(&server.own.campaign).await.unwrap().unwrap();
    let now = t("2026-09-04T01:00:00Z");
    let elsewhere = Session::materialise(&campaign, "07300", t("2026-09-05T01:00:00Z"), now);
    server
        .store
        .insert_sessions_if_absent(std::slice::from_ref(&elsewhere))
        .await
        .unwrap();
    for (session, contact) in [(&server.own.past_session, "ct_a"), (&elsewhere.id, "ct_b")] {
        let claim = outreach_testkit::examples::claimed_delivery(
            &campaign.id,
            session,
            "r1",
            &contact.into(),
            Channel::Sms,
            now,
        );
        assert!(matches!(
            server.store.claim_delivery(&claim, now).await.unwrap(),
            Claim::Claimed(_)
        ));
    }
    let sessions_listed = |token: String| {
        let path = format!("/v1/deliveries?campaign={}", campaign.id);
        let server = &server;
        async move {
            let (status, body) = server.send(&token, Method::GET, path, Body::None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let mut sessions: Vec<String> = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["session_id"].as_str().unwrap().to_string())
                .collect();
            sessions.sort();
            sessions
        }
    };
    assert_eq!(
        sessions_listed(server.token("planner", Role::Planner, "213")).await,
        // The fixture's reminder of the next session is one of them.
        vec![server.own.past_session.clone(), server.own.next_session.clone()],
        "a planner of district 213 sees only its sessions' deliveries"
    );
    let mut all = vec![
        server.own.past_session.clone(),
        server.own.next_session.clone(),
        elsewhere.id.clone(),
    ];
    all.sort();
    assert_eq!(sessions_listed(admin).await, all, "the province's admin sees both");
}

/// Every text and number stored in any row of any table of the SQLite file.
fn every_stored_value(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut all = String::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        all.push_str(&String::from_utf8_lossy(t));
                    }
                    rusqlite::types::ValueRef::Integer(n) => all.push_str(&n.to_string()),
                    _ => {}
                }
                all.push('\n');
            }
        }
    }
    all
}

#[tokio::test]
async fn erasure_removes_personal_data_everywhere_and_keeps_counts_and_evidence() {
    use outreach_core::contact::Channel;
    use outreach_core::ports::{Claim, DeliveryStore};
    use outreach_core::reminder::DeliveryStatus;

    let server = server().await;
    let admin = server.token("admin-1", Role::Admin, "24");
    let send = |method, path, body| server.send(&admin, method, path, body);
    let (status, contact) = send(
        Method::POST,
        "/v1/contacts".into(),
        Body::json(
            json!({"role": "citizen", "name": "Phạm Thu Trang", "commune_code": "07201",
            "phone": "0936111222", "email": "trang.pham@example.vn",
            "consents": [{"channel": "sms", "method": "paper_form", "wording_version": "v1"},
                         {"channel": "email", "method": "paper_form", "wording_version": "v1"}]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let id = contact["id"].as_str().unwrap().to_string();
    let past = server.own.past_session.clone();
    let (status, body) = send(
        Method::PUT,
        format!("/v1/sessions/{past}/attendance"),
        Body::json(json!({"attendees": [{"contact_id": id}, {"contact_id": server.own.citizen}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A reminder was sent to them.
    let now = t("2026-09-04T01:00:00Z");
    let claim = outreach_testkit::examples::claimed_delivery(
        &server.own.campaign,
        &past,
        "r1",
        &ContactId::from(&id),
        Channel::Sms,
        now,
    );
    let Claim::Claimed(mut delivery) = server.store.claim_delivery(&claim, now).await.unwrap() else {
        panic!("the delivery was not claimed");
    };
    delivery.status = DeliveryStatus::Sent;
    delivery.message_id = Some("msg-1".into());
    delivery.version += 1;
    server.store.record_delivery(&delivery).await.unwrap();
    let (status, _) = send(
        Method::POST,
        format!("/v1/contacts/{id}/opt-out"),
        Body::json(json!({"channel": "email"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, export) = send(Method::GET, format!("/v1/contacts/{id}/export"), Body::None).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["contact"]["phone"]["e164"], "+84936111222");
    assert_eq!(export["deliveries"].as_array().unwrap().len(), 1, "{export}");
    assert_eq!(export["attendance"][0]["session_id"], past.as_str(), "{export}");
    let report = format!("/v1/reports/quarterly?year=2026&quarter=3&org={}", server.own.commune);
    let (_, before) = send(Method::GET, report.clone(), Body::None).await;

    let (status, erased) = send(Method::DELETE, format!("/v1/contacts/{id}"), Body::None).await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(
        (erased["name"].clone(), erased["phone"].clone(), erased["email"].clone()),
        (json!(""), Value::Null, Value::Null)
    );
    assert!(erased["erased_at"].is_string(), "{erased}");
    // The evidence of consent and refusal stays.
    assert_eq!(erased["consents"].as_array().unwrap().len(), 2, "{erased}");
    assert_eq!(erased["opt_outs"][0]["channel"], "email", "{erased}");
    let (status, again) = send(Method::DELETE, format!("/v1/contacts/{id}"), Body::None).await;
    assert_eq!((status, again), (StatusCode::OK, erased.clone()));
    // No consent can be recorded for someone erased.
    let (status, _) = send(
        Method::POST,
        format!("/v1/contacts/{id}/consents"),
        Body::json(json!({"channel": "sms", "method": "paper_form", "wording_version": "v2"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The counts stay: the report and the delivery log are unchanged.
    let (_, after) = send(Method::GET, report, Body::None).await;
    assert_eq!(after, before);
    let (_, export) = send(Method::GET, format!("/v1/contacts/{id}/export"), Body::None).await;
    assert_eq!(export["deliveries"].as_array().unwrap().len(), 1, "{export}");
    assert_eq!(export["attendance"].as_array().unwrap().len(), 1, "{export}");
    assert_eq!(export["contact"], erased);

    // Nothing personal is left in any row of any table, the audit log included.
    let stored = every_stored_value(&server.db);
    assert!(stored.contains(&id), "the dump reads the data");
    for personal in ["0936111222", "936111222", "trang.pham", "Thu Trang", "Phạm"] {
        assert!(!stored.contains(personal), "{personal} is still stored");
    }
    // The number is free again.
    let (status, body) = send(
        Method::POST,
        "/v1/contacts".into(),
        Body::json(json!({"role": "citizen", "name": "Người khác", "commune_code": "07201", "phone": "0936111222"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn hostile_input_is_refused_with_a_4xx_naming_the_problem() {
    let server = server().await;
    let admin = server.token("admin-1", Role::Admin, "24");
    let send = |method, path: &str, body| server.send(&admin, method, path.to_string(), body);
    let contact = |name: String| {
        Body::json(json!({"role": "citizen", "name": name, "commune_code": "07201", "phone": "0983111444"}))
    };
    let cases = [
        (
            "a bell in a name",
            Method::POST,
            "/v1/contacts",
            contact("An\u{7}".into()),
            400,
            "name",
        ),
        (
            "a NUL in a name",
            Method::POST,
            "/v1/contacts",
            contact("An\u{0}x".into()),
            400,
            "name",
        ),
        (
            "a C1 control",
            Method::POST,
            "/v1/contacts",
            contact("An\u{85}".into()),
            400,
            "name",
        ),
        (
            "a 10,001-character string",
            Method::POST,
            "/v1/contacts",
            contact("a".repeat(10_001)),
            400,
            "name",
        ),
        (
            "a name over its own limit",
            Method::POST,
            "/v1/contacts",
            contact("a".repeat(201)),
            422,
            "name",
        ),
        (
            "JSON nested 10,000 deep",
            Method::POST,
            "/v1/contacts",
            Body::Typed("application/json", "[".repeat(10_000) + &"]".repeat(10_000)),
            400,
            "",
        ),
        (
            "a SOH character in a CSV",
            Method::POST,
            "/v1/contacts:import",
            Body::Typed(
                "text/csv",
                String::from_utf8_lossy(b"name,phone\n\xff\xfe").replace('\u{FFFD}', "\u{1}"),
            ),
            400,
            "file",
        ),
        (
            "a control character in a CSV line",
            Method::POST,
            "/v1/contacts:import",
            Body::Typed(
                "text/csv",
                "name,phone,role,commune_code\nAn\u{1b}[31m,0983111445,citizen,07201\n".into(),
            ),
            400,
            "file",
        ),
        (
            "a CSV of 50,001 lines",
            Method::POST,
            "/v1/contacts:import",
            Body::Typed(
                "text/csv",
                "name,phone,role,commune_code\n".to_string() + &"x,1,citizen,07201\n".repeat(50_001),
            ),
            400,
            "file",
        ),
        (
            "a body over 10 MiB",
            Method::POST,
            "/v1/contacts:import",
            Body::Typed("text/csv", "x".repeat(10 * 1024 * 1024 + 1)),
            413,
            "",
        ),
        (
            "a control character in a query",
            Method::GET,
            "/v1/contacts?commune=07201%07",
            Body::None,
            400,
            "commune",
        ),
        (
            "a 2,000-character query value",
            Method::GET,
            &format!("/v1/contacts?cursor={}", "c".repeat(2000)),
            Body::None,
            400,
            "cursor",
        ),
    ];
    for (what, method, path, body, want, field) in cases {
        let (status, answer) = send(method, path, body).await;
        assert_eq!(status.as_u16(), want, "{what}: {answer}");
        if !field.is_empty() {
            assert_eq!(answer["error"]["field"], field, "{what}: {answer}");
        }
    }
    let (status, _) = call(&server.http, &server.base, Method::GET, "/healthz", None, Body::None).await;
    assert_eq!(status, StatusCode::OK, "the server is still up");
}
