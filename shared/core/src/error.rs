//! The domain's error type: what went wrong in the caller's terms.

use serde::Serialize;

/// One rejected row of an import, with every reason it was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// Where the row is in the file: for CSV the line it starts on, as an editor or a
    /// spreadsheet numbers it (the header is line 1); for JSON its 1-based place in the array.
    pub row: usize,
    /// The row's key (a unit code or a phone number, masked) when it could be read.
    pub key: Option<String>,
    /// Every problem found in this row.
    pub reasons: Vec<String>,
}

/// Errors of the domain and its ports.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The caller sent a value that breaks a rule; `field` names it.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// The referenced entity does not exist.
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    /// An entity with the same identity already exists.
    #[error("{entity} {id} already exists")]
    AlreadyExists { entity: &'static str, id: String },
    /// A concurrent change won, or the entity is in a state that forbids this change.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A lifecycle transition that the rules do not allow.
    #[error("cannot {action} a campaign that is {from}")]
    InvalidTransition { action: &'static str, from: String },
    /// An import whose rows were all refused because some were bad; nothing was written.
    #[error("import refused: {} bad rows", .0.len())]
    ImportRejected(Vec<RowError>),
    /// The storage backend failed (an outage or a bug, never bad input).
    #[error("storage failure: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl CoreError {
    /// A validation error on `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A not-found error for `entity` with `id`.
    pub fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { entity, id: id.into() }
    }
}

/// Result alias for the domain.
pub type CoreResult<T> = Result<T, CoreError>;

/// The lines of a CSV text, for numbering its records as an editor or a spreadsheet does
/// (the header is line 1). From the reader's byte offsets: its own line count is off by one
/// with CRLF line ends. Records are asked for in order, so each count goes on from the last.
pub(crate) struct CsvLines<'a> {
    text: &'a [u8],
    byte: usize,
    line: usize,
}

impl<'a> CsvLines<'a> {
    /// Lines of `text`, exactly as the reader was given it.
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            byte: 0,
            line: 1,
        }
    }

    /// The line a record at `position` starts on; from its place after the header when the
    /// reader gave no position.
    pub(crate) fn of(&mut self, position: Option<&csv::Position>, index: usize) -> usize {
        let Some(position) = position else { return index + 2 };
        let mut byte = (position.byte() as usize).min(self.text.len());
        // After CRLF the reader places a record at the LF it has yet to skip (and blank
        // lines before a record are skipped too): the record starts past them.
        while byte < self.text.len() && matches!(self.text[byte], b'\r' | b'\n') {
            byte += 1;
        }
        if byte < self.byte {
            self.byte = 0;
            self.line = 1;
        }
        // A line ends at LF, CRLF or a CR alone, as the reader's records do.
        self.line += (self.byte..byte)
            .filter(|&i| match self.text[i] {
                b'\n' => true,
                b'\r' => self.text.get(i + 1) != Some(&b'\n'),
                _ => false,
            })
            .count();
        self.byte = byte;
        self.line
    }
}
