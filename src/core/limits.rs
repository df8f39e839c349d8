//! How hard the engine may push one endpoint.

use std::time::Duration;

/// Concurrency, rate limits, timeouts, retries and the circuit breaker of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Estimated tokens per minute.
    pub tpm: Option<u32>,
    /// Time allowed for one attempt.
    pub timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The first retry's delay (doubling after each failure, with jitter).
    pub base_delay: Duration,
    /// The longest wait between attempts, including waits the server asks for.
    pub max_delay: Duration,
    /// The circuit breaker: after this many consecutive attempts that could not reach the
    /// endpoint (connection refused or reset, timeouts, 502/503/504), lasting at least
    /// [`Limits::breaker_window`], the engine stops sending to it. 0 turns it off.
    pub breaker_failures: u32,
    /// How long a run of failures must last before the breaker opens, so that a server that
    /// restarts for a moment does not end a run.
    pub breaker_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            concurrency: 16,
            rpm: None,
            tpm: None,
            timeout: Duration::from_secs(120),
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            breaker_failures: 10,
            breaker_window: Duration::from_secs(5),
        }
    }
}

/// The longest duration a configuration may give (one day): anything longer is a mistake.
pub const MAX_DURATION: Duration = Duration::from_secs(86_400);

/// A configured number that cannot be a limit; the message says what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidLimit {
    /// Not a finite number of seconds.
    #[error("{0} is not a number of seconds")]
    NotSeconds(f64),
    /// Zero or negative.
    #[error("{0} must be above 0 seconds")]
    NotPositive(f64),
    /// Longer than [`MAX_DURATION`].
    #[error("{0} s is more than a day (86400 s)")]
    TooLong(f64),
    /// A count below 1.
    #[error("{0} must be at least 1")]
    TooSmall(u64),
}

impl Limits {
    /// A duration in seconds from the configuration, checked: finite, above zero and at most
    /// a day.
    pub fn seconds(value: f64) -> Result<Duration, InvalidLimit> {
        if !value.is_finite() {
            return Err(InvalidLimit::NotSeconds(value));
        }
        if value <= 0.0 {
            return Err(InvalidLimit::NotPositive(value));
        }
        if value > MAX_DURATION.as_secs_f64() {
            return Err(InvalidLimit::TooLong(value));
        }
        Ok(Duration::from_secs_f64(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_seconds_are_checked() {
        assert_eq!(Limits::seconds(1.5), Ok(Duration::from_millis(1500)));
        for bad in [-1.0, 0.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(Limits::seconds(bad).is_err(), "{bad}");
        }
    }
}
