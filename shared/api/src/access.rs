//! Who may call what. Every endpoint declares in the router's table the roles it admits;
//! its guard authenticates the caller and refuses other roles before the handler runs, and
//! the handler checks the unit the request is about against the caller's area.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::audit::{self, AuditChange, AuditChanges, AuditRecorded};
use crate::auth::{Caller, Role, authenticate};
use crate::error::ApiError;

/// What an endpoint needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token: liveness, the API document, and the webhooks (which check their own key).
    Public,
    /// A valid token of one of these roles, whatever its area: reference data (the unit
    /// tree), schedule previews, the audit log.
    Anywhere(&'static [Role]),
    /// A valid token of one of these roles, and a request about the caller's own area;
    /// `Foreign` says how a request about another area is answered.
    InArea(&'static [Role], Foreign),
}

/// The answer to a request about another area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    /// 403: the resource's existence is not a secret (a session, a report).
    Forbidden,
    /// 404, as if it did not exist: personal data (a contact).
    NotFound,
}

/// Roles of the endpoints that change or read operational data of an area.
pub const PLANNERS: &[Role] = &[Role::Admin, Role::Planner];
/// ... plus commune officers: a commune's contacts, attendance and outcomes.
pub const OFFICERS: &[Role] = &[Role::Admin, Role::Planner, Role::CommuneOfficer];
/// Every role: reports and targets.
pub const READERS: &[Role] = &[Role::Admin, Role::Planner, Role::CommuneOfficer, Role::Viewer];
/// The province's administrators only.
pub const ADMINS: &[Role] = &[Role::Admin];

/// One endpoint: its method, its path (as in the OpenAPI document) and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

impl Access {
    /// Whether a caller of `role` may call the endpoint at all.
    pub fn admits(self, role: Role) -> bool {
        match self {
            Access::Public => true,
            Access::Anywhere(roles) | Access::InArea(roles, _) => roles.contains(&role),
        }
    }
}

/// The guard of one endpoint: authenticate, refuse roles it does not admit, hand the
/// handler its `Caller`, and write the audit entry of a change that succeeded.
pub async fn guard(
    State((state, endpoint)): State<(AppState, Endpoint)>,
    mut request: Request,
    next: Next,
) -> Response {
    let target = request.uri().path().to_string();
    let claims = match endpoint.access {
        Access::Public => None,
        Access::Anywhere(_) | Access::InArea(..) => {
            let foreign = match endpoint.access {
                Access::InArea(_, foreign) => foreign,
                _ => Foreign::Forbidden,
            };
            let claims = match authenticate(request.headers(), &state.auth) {
                Ok(claims) => claims,
                Err(e) => return e.into_response(),
            };
            if !endpoint.access.admits(claims.role) {
                return ApiError::Forbidden(format!(
                    "a {} may not {} {target}",
                    claims.role.as_str(),
                    endpoint.method
                ))
                .into_response();
            }
            // An officer's area is one commune: a token naming a district or a province (or no
            // unit at all) for one is refused, not read as that whole area.
            if claims.role == Role::CommuneOfficer {
                match state.store.org_unit_versions(&claims.org).await {
                    Ok(versions) if versions.iter().any(|u| u.level == outreach_core::org::Level::Commune) => {}
                    Ok(_) => {
                        return ApiError::Forbidden(format!(
                            "a commune_officer token must name a commune, and {} is none",
                            claims.org
                        ))
                        .into_response();
                    }
                    Err(e) => return ApiError::from(e).into_response(),
                }
            }
            request.extensions_mut().insert(Caller {
                claims: claims.clone(),
                foreign,
                area: Default::default(),
            });
            Some(claims)
        }
    };
    let stamp = audit::stamp(&endpoint, &target, claims.as_ref());
    request.extensions_mut().insert(stamp.clone());
    let response = next.run(request).await;
    let extensions = response.extensions();
    if audit::changes(&endpoint.method) && response.status().is_success() && extensions.get::<AuditRecorded>().is_none()
    {
        let mut changes = extensions.get::<AuditChanges>().cloned().unwrap_or_default().0;
        changes.extend(extensions.get::<AuditChange>().cloned());
        audit::record(&state, &stamp, response.status().as_u16(), &changes).await;
    }
    response
}
