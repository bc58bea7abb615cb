//! The stylesheet and the script, compiled into the binary and served under names that
//! carry a digest of their content, so a browser may keep them a year and a new build is
//! fetched at once. Nothing is loaded from another host.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::ui::UiError;

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

fn fingerprinted(stem: &str, ext: &str, content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("/ui/tai-nguyen/{stem}-{hex}.{ext}")
}

static CSS_URL: LazyLock<String> = LazyLock::new(|| fingerprinted("app", "css", CSS));
static JS_URL: LazyLock<String> = LazyLock::new(|| fingerprinted("app", "js", JS));

/// Where the stylesheet is served.
pub fn css_url() -> &'static str {
    CSS_URL.as_str()
}

/// Where the script is served.
pub fn js_url() -> &'static str {
    JS_URL.as_str()
}

/// `GET /ui/tai-nguyen/{file}`: the current stylesheet or script; an old name is gone.
pub async fn serve(Path(file): Path<String>) -> Result<Response, UiError> {
    let path = format!("/ui/tai-nguyen/{file}");
    let (content_type, body) = if path == css_url() {
        ("text/css; charset=utf-8", CSS)
    } else if path == js_url() {
        ("text/javascript; charset=utf-8", JS)
    } else {
        return Err(UiError::NotFound);
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response())
}
