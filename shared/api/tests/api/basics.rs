//! Health, the OpenAPI document, tokens and a viewer's reach.

use super::*;

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
