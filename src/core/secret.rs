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

/// Replaces the values of known secrets in a text with `[redacted]`, so that a server that
/// echoes a key (in an error, say) does not put it into the store, a log or an output.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    matcher: Option<aho_corasick::AhoCorasick>,
}

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

impl Scrubber {
    /// A scrubber of these values (values shorter than 6 characters are not scrubbed: they
    /// would replace ordinary words).
    pub fn new(values: &[String]) -> Scrubber {
        let values: Vec<&str> = values.iter().map(String::as_str).filter(|v| v.trim().len() >= 6).collect();
        if values.is_empty() {
            return Scrubber::default();
        }
        let matcher = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&values)
            .ok();
        Scrubber { matcher }
    }

    /// The text with every secret replaced.
    pub fn scrub<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        match &self.matcher {
            Some(m) if m.is_match(text) => {
                std::borrow::Cow::Owned(m.replace_all(text, &vec![REDACTED; m.patterns_len()]))
            }
            _ => std::borrow::Cow::Borrowed(text),
        }
    }
}

#[cfg(test)]
mod scrub_tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_short_values_left_alone() {
        let s = Scrubber::new(&["sk-live-123456".into(), "abc".into()]);
        assert_eq!(s.scrub("invalid key sk-live-123456 (abc)"), "invalid key [redacted] (abc)");
        assert!(matches!(s.scrub("nothing here"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(Scrubber::default().scrub("sk-live-123456"), "sk-live-123456");
    }
}
