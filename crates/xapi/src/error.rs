//! The validation error type.

/// A validation failure: the JSON property path that is wrong and a human readable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display(.path, .message))]
pub struct ValidationError {
    path: String,
    message: String,
}

fn display(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

impl ValidationError {
    /// Creates an error for the property at `path` (empty for the whole document).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError { path: path.into(), message: message.into() }
    }

    /// The property path, e.g. `actor.mbox` or `context.contextActivities.parent[0].id`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The human readable message, without the path.
    pub fn message(&self) -> &str {
        &self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_path() {
        assert_eq!(
            ValidationError::new("actor.mbox", "must be a \"mailto:\" IRI").to_string(),
            "actor.mbox: must be a \"mailto:\" IRI"
        );
        assert_eq!(ValidationError::new("", "oops").to_string(), "oops");
        let e = ValidationError::new("a", "b");
        assert_eq!(e.path(), "a");
        assert_eq!(e.message(), "b");
    }
}
