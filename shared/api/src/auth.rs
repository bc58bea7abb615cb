//! The caller of a request: its bearer token checked (see `outreach-auth`), its area, and
//! how an endpoint answers a request about another area. On AWS the HTTP API's authorizer
//! has verified the token already; the router still checks signature and claims.

use std::collections::HashSet;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use outreach_core::CoreError;
use outreach_core::ids::UnitCode;
use outreach_core::ports::Store;

pub use outreach_auth::{
    AUDIENCE, AuthConfig, Claims, LOCAL_ISSUER, Role, SignedUnsubscribeLinks, TokenError, UNSUBSCRIBE_AUDIENCE,
};

use crate::AppState;
use crate::access::Foreign;
use crate::error::{ApiError, ApiResult};

/// The authenticated caller of a request, and how their endpoint answers a request about
/// another area.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: Claims,
    pub(crate) foreign: Foreign,
    /// The caller's area, read once a request however many checks need it.
    pub(crate) area: std::sync::Arc<tokio::sync::OnceCell<HashSet<String>>>,
}

impl Caller {
    /// A caller authenticated outside an endpoint's guard (a dashboard session), answering
    /// requests about another area as `foreign` says.
    pub fn new(claims: Claims, foreign: Foreign) -> Self {
        Self {
            claims,
            foreign,
            area: Default::default(),
        }
    }

    pub fn role(&self) -> Role {
        self.claims.role
    }

    /// The actor of a change, for the records that keep evidence of it.
    pub fn actor(&self) -> outreach_core::usecases::Actor {
        outreach_core::usecases::Actor::named(&self.claims.sub)
    }

    /// The actor of a change that names contacts: those outside the caller's area are
    /// answered as unknown ones by the use case.
    pub async fn actor_in_area(&self, store: &dyn Store) -> ApiResult<outreach_core::usecases::Actor> {
        Ok(outreach_core::usecases::Actor {
            area: outreach_core::usecases::Area::Units(std::sync::Arc::new(self.area(store).await?)),
            ..self.actor()
        })
    }

    /// Whether unit `code` is in the caller's area: their own unit, or (except for a commune
    /// officer) any unit under it in any version of the unit tree. A code no unit has is
    /// let through, for the use case to answer that it is unknown.
    pub async fn covers(&self, store: &dyn Store, code: &str) -> ApiResult<bool> {
        let area = self.claims.org.as_str();
        if code == area {
            return Ok(true);
        }
        if self.claims.role == Role::CommuneOfficer {
            return Ok(false);
        }
        let mut seen = HashSet::new();
        let mut pending = vec![UnitCode::from(code)];
        while let Some(unit) = pending.pop() {
            if !seen.insert(unit.clone()) {
                continue;
            }
            let versions = store.org_unit_versions(unit.as_str()).await?;
            if versions.is_empty() && unit == code {
                // A unit that does not exist holds nothing: the use case says it is unknown.
                return Ok(true);
            }
            for version in versions {
                match version.parent_code {
                    Some(parent) if parent == area => return Ok(true),
                    Some(parent) => pending.push(parent),
                    None => {}
                }
            }
        }
        Ok(false)
    }

    /// Every unit in the caller's area: their unit and everything under it in any version of
    /// the unit tree (a commune officer: their commune).
    pub async fn area(&self, store: &dyn Store) -> ApiResult<HashSet<String>> {
        let area = self
            .area
            .get_or_try_init(|| async {
                let mut area = HashSet::from([self.claims.org.clone()]);
                if self.claims.role != Role::CommuneOfficer {
                    area.extend(
                        store
                            .org_unit_descendants(&self.claims.org)
                            .await?
                            .into_iter()
                            .map(|u| u.code.into_string()),
                    );
                }
                Ok::<_, ApiError>(area)
            })
            .await?;
        Ok(area.clone())
    }

    /// Refuse a request about `entity` `id`, which lies in unit `code`, unless the unit is
    /// in the caller's area.
    pub async fn require_area(
        &self,
        store: &dyn Store,
        code: &str,
        entity: &'static str,
        id: impl AsRef<str>,
    ) -> ApiResult<()> {
        if self.covers(store, code).await? {
            return Ok(());
        }
        Err(self.outside(entity, id.as_ref()))
    }

    /// The answer to a request about `entity` `id` outside the caller's area: 403, or,
    /// where the endpoint hides what exists, the same 404 as for a missing one.
    pub fn outside(&self, entity: &'static str, id: &str) -> ApiError {
        match self.foreign {
            Foreign::NotFound => ApiError::Core(CoreError::not_found(entity, id)),
            Foreign::Forbidden => ApiError::Forbidden(format!(
                "{entity} {id} is outside your area ({} {})",
                self.claims.role.as_str(),
                self.claims.org
            )),
        }
    }

    /// The first of `codes` (by position) naming a unit outside the caller's area; codes no
    /// unit has are left for the use case to call unknown. Reads the area once.
    pub async fn first_outside(&self, store: &dyn Store, codes: &[&str]) -> ApiResult<Option<usize>> {
        let area = self.area(store).await?;
        for (i, code) in codes.iter().enumerate() {
            if !area.contains(*code) && !store.org_unit_versions(code).await?.is_empty() {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Refuse unless every unit of `codes` is in the caller's area (403, naming the first).
    pub async fn require_all(&self, store: &dyn Store, codes: &[impl AsRef<str>], field: &str) -> ApiResult<()> {
        for code in codes.iter().map(AsRef::as_ref) {
            if !self.covers(store, code).await? {
                return Err(ApiError::Forbidden(format!(
                    "{field}: unit {code} is outside your area ({} {})",
                    self.claims.role.as_str(),
                    self.claims.org
                )));
            }
        }
        Ok(())
    }
}

/// The caller of a request, read from its bearer token.
pub fn authenticate(headers: &HeaderMap, auth: &AuthConfig) -> ApiResult<Claims> {
    let header = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("send a bearer token (Authorization: Bearer …)".into()))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header is not a bearer token".into()))?;
    Ok(auth.verify(token)?)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// The caller the endpoint's guard authenticated (see `access`).
    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("send a bearer token (Authorization: Bearer …)".into()))
    }
}
