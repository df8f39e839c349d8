//! How a call to a service fails, classified so that the engine knows whether to retry and the
//! outcome knows its kind.

use std::time::Duration;

use super::outcome::UnscorableKind;

/// A failed call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// No complete answer within the per-attempt limit (`timeout_s`).
    #[error("no answer within {} s (the endpoint's timeout_s)", .0.as_secs_f64())]
    Timeout(Duration),
    /// The connection could not be opened within the connect limit.
    #[error("could not connect within {} s", .0.as_secs_f64())]
    ConnectTimeout(Duration),
    /// The connection failed (refused, reset, DNS), or broke while the answer was read; the
    /// text is the whole cause chain.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The server answered with an error status.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The provider's error message.
        message: String,
        /// How long the server asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The answer could not be understood.
    #[error("unexpected response: {0}")]
    Decode(String),
    /// An image of the request could not be read or decoded.
    #[error("{0}")]
    Image(String),
    /// The request could not be built.
    #[error("{0}")]
    Request(String),
    /// The endpoint's circuit breaker is open.
    #[error("{0}")]
    EndpointDown(String),
    /// The run was interrupted.
    #[error("interrupted")]
    Cancelled,
}

impl CallError {
    /// Whether trying again may help: timeouts, connection errors (a body cut short
    /// included), answers that are not the API's shape (truncated or invalid JSON, an HTML page
    /// or an error object with status 200, no choices), 408, 409, 425, 429 and 5xx.
    pub fn retryable(&self) -> bool {
        match self {
            CallError::Timeout(_)
            | CallError::ConnectTimeout(_)
            | CallError::Connect(_)
            | CallError::Decode(_) => true,
            CallError::Status { status, .. } => matches!(status, 408 | 409 | 425 | 429) || *status >= 500,
            CallError::Image(_)
            | CallError::Request(_)
            | CallError::EndpointDown(_)
            | CallError::Cancelled => false,
        }
    }

    /// Whether the failure says the endpoint cannot be reached at all (what the circuit
    /// breaker counts): no connection, no answer in time, or a gateway saying its upstream is
    /// down (502, 503, 504).
    pub fn unreachable(&self) -> bool {
        match self {
            CallError::Timeout(_) | CallError::ConnectTimeout(_) | CallError::Connect(_) => true,
            CallError::Status { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The same failure with every message passed through `f` (to scrub secrets from it).
    pub fn map_text(self, f: impl Fn(&str) -> String) -> CallError {
        match self {
            CallError::Connect(m) => CallError::Connect(f(&m)),
            CallError::Status { status, message, retry_after } => {
                CallError::Status { status, message: f(&message), retry_after }
            }
            CallError::Decode(m) => CallError::Decode(f(&m)),
            CallError::Image(m) => CallError::Image(f(&m)),
            CallError::Request(m) => CallError::Request(f(&m)),
            CallError::EndpointDown(m) => CallError::EndpointDown(f(&m)),
            other => other,
        }
    }

    /// The kind of unscorable outcome this failure gives.
    pub fn kind(&self) -> UnscorableKind {
        match self {
            CallError::Timeout(_)
            | CallError::ConnectTimeout(_)
            | CallError::Connect(_)
            | CallError::Cancelled => UnscorableKind::Transport,
            CallError::Status { .. } => UnscorableKind::Provider,
            CallError::Decode(_) => UnscorableKind::Decode,
            CallError::Image(_) => UnscorableKind::Image,
            CallError::Request(_) => UnscorableKind::Data,
            CallError::EndpointDown(_) => UnscorableKind::EndpointDown,
        }
    }
}

/// An error and its sources, outermost first, joined with ": " (a source whose text the outer
/// message already holds is left out), so that "error sending request" says why.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classification() {
        let status = |s| CallError::Status { status: s, message: String::new(), retry_after: None };
        assert!(status(429).retryable());
        assert!(status(500).retryable());
        assert!(status(529).retryable());
        assert!(!status(400).retryable());
        assert!(!status(401).retryable());
        assert!(!status(404).retryable());
        assert!(CallError::Timeout(Duration::from_secs(1)).retryable());
        assert!(!CallError::Image("x".into()).retryable());
        assert!(CallError::Decode("the body is not JSON".into()).retryable());
        assert!(status(503).unreachable() && !status(500).unreachable());
    }

    #[test]
    fn timeouts_say_the_limit() {
        assert_eq!(
            CallError::Timeout(Duration::from_secs(120)).to_string(),
            "no answer within 120 s (the endpoint's timeout_s)"
        );
        assert_eq!(
            CallError::ConnectTimeout(Duration::from_millis(2500)).to_string(),
            "could not connect within 2.5 s"
        );
    }

    #[test]
    fn chains_keep_every_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        assert_eq!(error_chain(&e), "error sending request: Connection refused (os error 111)");
    }
}
