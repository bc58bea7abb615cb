//! Extractors that turn every malformed request into an `ApiError` naming the field,
//! instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body; wrong syntax, types or unknown fields are a 400 naming the path.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !is_json(&content_type) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as application/json".into(),
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Read the whole body, mapping the size limit to 413.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(crate::MAX_BODY_BYTES)
        } else {
            ApiError::BadRequest {
                field: None,
                message: format!("unreadable request body: {e}"),
            }
        }
    })
}

/// An uploaded file: its content type (lower case) and its text, which must be UTF-8.
pub struct TextUpload {
    pub content_type: String,
    pub text: String,
}

/// Read an uploaded text file (CSV or JSON) whole.
pub async fn text_upload<S: Send + Sync>(req: Request, state: &S) -> Result<TextUpload, ApiError> {
    let content_type = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bytes = body_bytes(req, state).await?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad("file", "the file is not UTF-8 text"))?;
    check_upload(&text)?;
    Ok(TextUpload { content_type, text })
}

/// Read an uploaded CSV file; anything but `text/csv` is a 415 saying what to send.
pub async fn csv_upload<S: Send + Sync>(req: Request, state: &S, what: &str) -> Result<String, ApiError> {
    let upload = text_upload(req, state).await?;
    if !upload.content_type.starts_with("text/csv") {
        return Err(ApiError::UnsupportedMediaType(format!("send {what} as text/csv")));
    }
    Ok(upload.text)
}

/// Parse JSON, naming the path of the first bad field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::BadRequest {
            field: None,
            message: "the request body is empty; send JSON".into(),
        });
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest {
        field: None,
        message: format!("malformed JSON: {e}"),
    })?;
    check_strings(&value, &mut String::new())?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ApiError::BadRequest {
            field: (path != ".").then_some(path),
            message: e.into_inner().to_string(),
        }
    })
}

/// Longest text a single JSON string may hold (templates are the longest fields there are).
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Most lines an uploaded file may have.
pub const MAX_UPLOAD_LINES: usize = 50_000;

/// Whether `c` is a control character that has no place in text people type: every C0 and
/// C1 control but tab, line feed and carriage return.
fn is_stray_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Refuse strings (values and keys) that are too long or hold stray control characters,
/// naming the field.
fn check_strings(value: &serde_json::Value, path: &mut String) -> Result<(), ApiError> {
    let check = |text: &str, path: &str| {
        let field = if path.is_empty() {
            "body".to_string()
        } else {
            path.to_string()
        };
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(ApiError::bad(field, format!("longer than {MAX_TEXT_CHARS} characters")));
        }
        if let Some(c) = text.chars().find(|c| is_stray_control(*c)) {
            return Err(ApiError::bad(
                field,
                format!("holds the control character U+{:04X}", c as u32),
            ));
        }
        Ok(())
    };
    match value {
        serde_json::Value::String(text) => check(text, path),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_strings(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                check(key, path)?;
                check_strings(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Refuse an uploaded file with too many lines or stray control characters, naming the line.
pub(crate) fn check_upload(text: &str) -> Result<(), ApiError> {
    for (i, line) in text.lines().enumerate() {
        if i >= MAX_UPLOAD_LINES {
            return Err(ApiError::bad(
                "file",
                format!("more than {MAX_UPLOAD_LINES} lines: split the file"),
            ));
        }
        if let Some(c) = line.chars().find(|c| is_stray_control(*c)) {
            return Err(ApiError::bad(
                "file",
                format!("line {} holds the control character U+{:04X}", i + 1, c as u32),
            ));
        }
    }
    Ok(())
}

/// A query string; bad values are a 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        for (key, value) in form_urlencoded_parse(query) {
            if value.chars().count() > 1024 {
                return Err(ApiError::bad(key, "longer than 1024 characters"));
            }
            if let Some(c) = value.chars().find(|c| c.is_control()) {
                return Err(ApiError::bad(
                    key,
                    format!("holds the control character U+{:04X}", c as u32),
                ));
            }
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let path = e.path().to_string();
            ApiError::BadRequest {
                field: (path != ".").then_some(path),
                message: e.into_inner().to_string(),
            }
        })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// A JSON body that may be left out entirely (then `T::default()`).
pub struct ApiJsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for ApiJsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if !is_json(&content_type) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as application/json".into(),
            ));
        }
        parse_json(&bytes).map(ApiJsonOrEmpty)
    }
}
