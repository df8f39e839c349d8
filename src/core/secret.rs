//! Secrets such as API keys.

use std::fmt;

/// A secret such as an API key: never printed, never serialized.
#[derive(Clone, Default)]
pub struct Secret(Option<String>);

impl Secret {
    /// A secret value (empty strings count as none).
    pub fn new(value: Option<String>) -> Secret {
        Secret(value.filter(|v| !v.trim().is_empty()))
    }

    /// The value, to put in a header.
    pub fn expose(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Secret(***)" } else { "Secret(none)" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new(Some("sk-very-secret".into()));
        assert!(!format!("{s:?}").contains("sk-"));
        assert!(Secret::new(Some("  ".into())).expose().is_none());
    }
}
