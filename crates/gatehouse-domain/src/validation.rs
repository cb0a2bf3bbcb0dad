use std::fmt;

/// A value that failed to parse, with the field it came from.
///
/// `field` is a JSON-pointer-like dotted path (`time_zone`, `metadata`), filled in
/// by whoever knows which field was being parsed; a bare value parser leaves it empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// A message with no field yet; the caller attaches one with [`ValidationError::at`].
    pub fn message(message: impl Into<String>) -> Self {
        Self { field: String::new(), message: message.into() }
    }

    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ValidationError {}
