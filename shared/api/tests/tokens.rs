//! Tokens from an identity provider (RS256, checked with its JWKS document) and local HS256
//! ones, over the real router on a socket: only a genuine, current token for this API's
//! audience and issuer passes; everything else is 401.

mod common;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use outreach_api::auth::LOCAL_ISSUER;
use outreach_api::{AuthConfig, Role};
use outreach_core::ports::SystemClock;
use reqwest::StatusCode;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};

const SECRET: &[u8] = b"a-token-test-secret-of-32-bytes-or-more";
const ISSUER: &str = "https://cognito-idp.ap-southeast-1.amazonaws.com/ap-southeast-1_TEST";
const AUDIENCE: &str = "client-outreach";

/// An RSA key pair: the private key signs (as the identity provider does), the public one
/// goes into the JWKS document.
struct Signer {
    kid: &'static str,
    key: EncodingKey,
    public: RsaPublicKey,
}

impl Signer {
    fn new(kid: &'static str) -> Self {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = private.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
        Self {
            kid,
            key: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            public: private.to_public_key(),
        }
    }

    fn jwk(&self) -> Value {
        json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(self.public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(self.public.e().to_bytes_be())})
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.to_string());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

/// Claims as Cognito puts them in an ID token: the role and unit are custom attributes,
/// and there is no `nbf`.
fn cognito_claims(now: i64) -> Value {
    json!({"sub": "0b7f-planner", "iss": ISSUER, "aud": AUDIENCE, "token_use": "id",
        "custom:role": "planner", "custom:org": "24", "iat": now, "exp": now + 3600})
}

async fn serve(auth: AuthConfig) -> String {
    let served = common::serve(auth, Arc::new(SystemClock), None).await;
    // The directory lives as long as the test process: the server outlives this function.
    std::mem::forget(served.dir);
    served.base
}

async fn status_of(base: &str, token: &str) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/org-units"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn identity_provider_tokens_are_checked_with_its_jwks() {
    let signer = Signer::new("key-1");
    let impostor = Signer::new("key-1");
    let jwks = json!({"keys": [signer.jwk()]}).to_string();
    let hs256 = AuthConfig::hs256(SECRET, LOCAL_ISSUER).unwrap();
    let auth = hs256.clone().with_jwks(&jwks, ISSUER, AUDIENCE).unwrap();
    let base = serve(auth).await;
    let now = Utc::now().timestamp();

    let (status, body) = status_of(&base, &signer.sign(&cognito_claims(now))).await;
    assert_eq!(status, StatusCode::OK, "a genuine token: {body}");

    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = cognito_claims(now);
        change(&mut claims);
        claims
    };
    let refused = [
        ("expired", signer.sign(&with(&|c| c["exp"] = json!(now - 120)))),
        ("not yet valid", signer.sign(&with(&|c| c["nbf"] = json!(now + 3600)))),
        (
            "another audience",
            signer.sign(&with(&|c| c["aud"] = json!("another-client"))),
        ),
        (
            "another issuer",
            signer.sign(&with(&|c| c["iss"] = json!("https://evil.example"))),
        ),
        (
            "no role",
            signer.sign(&with(&|c| c["custom:role"] = json!("superuser"))),
        ),
        (
            "signed by another key with the same kid",
            impostor.sign(&cognito_claims(now)),
        ),
        (
            "a local HS256 token",
            hs256.mint("x", Role::Admin, "24", Utc::now(), Duration::hours(1)),
        ),
        (
            "HS256 signed with the public key's bytes",
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &cognito_claims(now),
                &EncodingKey::from_secret(jwks.as_bytes()),
            )
            .unwrap(),
        ),
        ("alg none", unsigned(&cognito_claims(now))),
        ("garbage", "not.a.token".to_string()),
    ];
    for (what, token) in refused {
        let (status, body) = status_of(&base, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert!(body.contains("token"), "{what}: {body}");
    }
}

/// A token with `"alg": "none"` and no signature.
fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.")
}

#[tokio::test]
async fn local_hs256_tokens_are_refused_when_expired_early_foreign_or_forged() {
    let auth = AuthConfig::hs256(SECRET, LOCAL_ISSUER).unwrap();
    let base = serve(auth.clone()).await;
    let now = Utc::now();
    let (status, body) = status_of(&base, &auth.mint("x", Role::Viewer, "24", now, Duration::hours(1))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let forged = AuthConfig::hs256(b"another-secret-that-is-32-bytes-long!!", LOCAL_ISSUER).unwrap();
    let refused = [
        (
            "expired",
            auth.mint("x", Role::Admin, "24", now - Duration::hours(3), Duration::hours(1)),
        ),
        (
            "not yet valid",
            auth.mint("x", Role::Admin, "24", now + Duration::hours(1), Duration::hours(1)),
        ),
        ("forged", forged.mint("x", Role::Admin, "24", now, Duration::hours(1))),
        (
            "another issuer",
            AuthConfig::hs256(SECRET, "someone-else")
                .unwrap()
                .mint("x", Role::Admin, "24", now, Duration::hours(1)),
        ),
        ("an unsubscribe token", auth.mint_unsubscribe(&"ct_1".into(), now)),
    ];
    for (what, token) in refused {
        let (status, body) = status_of(&base, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    }
}

#[test]
fn a_jwks_without_public_keys_or_with_a_shared_key_is_refused() {
    let hs256 = AuthConfig::hs256(SECRET, LOCAL_ISSUER).unwrap();
    for (what, jwks) in [
        ("not JSON", "{".to_string()),
        ("no keys", json!({"keys": []}).to_string()),
        (
            "a shared key",
            json!({"keys": [{"kty": "oct", "alg": "HS256", "k": "c2VjcmV0"}]}).to_string(),
        ),
    ] {
        assert!(hs256.clone().with_jwks(&jwks, ISSUER, AUDIENCE).is_err(), "{what}");
    }
}

/// The dashboard's sign-in through the provider: its ID token is checked as an API token
/// and must carry the sign-in's nonce; the flow cookie is this server's, unaltered.
#[test]
fn id_tokens_need_the_sign_in_nonce_and_flows_cannot_be_altered() {
    let signer = Signer::new("key-1");
    let jwks = json!({"keys": [signer.jwk()]}).to_string();
    let auth = AuthConfig::hs256(SECRET, LOCAL_ISSUER)
        .unwrap()
        .with_jwks(&jwks, ISSUER, AUDIENCE)
        .unwrap();
    let now = Utc::now().timestamp();
    let mut claims = cognito_claims(now);
    claims["nonce"] = json!("n-1");
    let token = signer.sign(&claims);
    let verified = auth.verify_id_token(&token, "n-1").unwrap();
    assert_eq!((verified.role, verified.org.as_str()), (Role::Planner, "24"));
    assert!(auth.verify_id_token(&token, "n-2").is_err(), "another sign-in's nonce");
    assert!(
        auth.verify_id_token(&signer.sign(&cognito_claims(now)), "n-1").is_err(),
        "no nonce"
    );
    let mut roleless = claims.clone();
    roleless.as_object_mut().unwrap().remove("custom:role");
    assert_eq!(
        auth.verify_id_token(&signer.sign(&roleless), "n-1").unwrap_err(),
        outreach_api::auth::TokenError::Claims
    );

    let flow = outreach_auth::OidcFlow {
        state: "s".into(),
        nonce: "n".into(),
        verifier: "v".repeat(43),
        redirect_uri: "https://example.gov.vn/ui/dang-nhap/oidc".into(),
    };
    let cookie = auth.mint_oidc_flow(&flow, Utc::now());
    assert_eq!(auth.verify_oidc_flow(&cookie).unwrap(), flow);
    let (head, rest) = cookie.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let altered = URL_SAFE_NO_PAD.encode(
        json!({"state": "s2", "nonce": "n", "verifier": "v", "redirect_uri": "x",
            "iss": LOCAL_ISSUER, "aud": outreach_auth::OIDC_FLOW_AUDIENCE, "exp": now + 600})
        .to_string(),
    );
    assert!(auth.verify_oidc_flow(&format!("{head}.{altered}.{signature}")).is_err());
    let expired = auth.mint_oidc_flow(&flow, Utc::now() - Duration::minutes(11));
    assert!(auth.verify_oidc_flow(&expired).is_err());
    assert!(auth.verify(&cookie).is_err(), "a flow is no API token");
}
