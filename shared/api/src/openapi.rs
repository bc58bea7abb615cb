//! The OpenAPI document, generated from the handlers' annotations and the types' schemas.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "outreach", description = "Outreach-campaign scheduler of a provincial Youth Union: units, contacts, campaigns, sessions, volunteer teams, reminders, attendance, targets and quarterly reports."),
    paths(
        routes::healthz,
        routes::units::list, routes::units::get_one, routes::units::import,
        routes::contacts::list, routes::contacts::create, routes::contacts::get_one, routes::contacts::import,
        routes::contacts::add_consent, routes::contacts::opt_out, routes::contacts::erase, routes::contacts::export,
        routes::campaigns::list, routes::campaigns::create, routes::campaigns::get_one, routes::campaigns::update, routes::campaigns::action,
        routes::campaigns::sessions, routes::campaigns::preview, routes::campaigns::estimate,
        routes::sessions::list, routes::sessions::get_one, routes::sessions::action, routes::sessions::assign_staff,
        routes::sessions::headcount,
        routes::sessions::get_team, routes::sessions::put_team,
        routes::deliveries::list, routes::audit::list,
        routes::reports::put_attendance, routes::reports::check_in, routes::reports::put_outcomes, routes::reports::get_attendance, routes::reports::get_outcomes,
        routes::reports::put_statistics, routes::reports::import_statistics,
        routes::reports::put_targets, routes::reports::get_targets,
        routes::reports::quarterly, routes::reports::snapshot, routes::reports::snapshots,
        routes::inbound::sms, routes::inbound::email_events, routes::inbound::zns_events, routes::inbound::unsubscribe,
        routes::inbound::unsubscribe_page, routes::inbound::answer_page, routes::inbound::answer,
    ),
    components(schemas(outreach_core::campaign::CampaignAction)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
