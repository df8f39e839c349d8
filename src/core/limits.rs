//! How hard the engine may push one endpoint.

use std::time::Duration;

/// How many requests a profile keeps in flight: a fixed number, or `adaptive` (the engine
/// finds the endpoint's capacity, up to `max_concurrency`). Written as a number or the word
/// in configuration files and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// This many at once.
    Fixed(usize),
    /// Additive increase while the endpoint keeps up, multiplicative decrease on 429s, bursts
    /// of 5xx and rising latency.
    Adaptive,
}

impl std::str::FromStr for Concurrency {
    type Err = String;

    fn from_str(text: &str) -> Result<Concurrency, String> {
        if text.trim().eq_ignore_ascii_case("adaptive") {
            return Ok(Concurrency::Adaptive);
        }
        match text.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Concurrency::Fixed(n)),
            _ => Err(format!("{text:?}: concurrency is a number of requests (at least 1) or `adaptive`")),
        }
    }
}

impl serde::Serialize for Concurrency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Concurrency::Fixed(n) => s.serialize_u64(*n as u64),
            Concurrency::Adaptive => s.serialize_str("adaptive"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Concurrency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Concurrency, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Word(String),
        }
        match Raw::deserialize(d)? {
            // Checked where the limits are built, which names the field (0 is refused there).
            Raw::Number(n) => Ok(Concurrency::Fixed(usize::try_from(n).unwrap_or(usize::MAX))),
            Raw::Word(w) => w.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Concurrency, rate limits, timeouts, retries and the circuit breaker of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Requests in flight at once (with `adaptive`, at most).
    pub concurrency: usize,
    /// Whether the engine adapts the requests in flight to what the endpoint takes (between
    /// one and `concurrency`), rather than keeping `concurrency` in flight.
    pub adaptive: bool,
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
            adaptive: false,
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

/// How large an image may be before it is decoded: both are checked from the file's header
/// when the data is loaded (an image beyond them makes its sample unscorable, kind `image`)
/// and enforced again by the decoder, so that a small file that expands to gigabytes (a
/// decompression bomb) is refused instead of exhausting memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageLimits {
    /// The longest side, in pixels.
    pub max_side: u32,
    /// The most memory the decoded pixels may take, in bytes.
    pub max_decoded_bytes: u64,
}

impl Default for ImageLimits {
    /// 16384 pixels a side and 256 MiB decoded (a 64-megapixel RGBA picture): every image of
    /// the benchmark is far below (its largest photographs are a few thousand pixels a side).
    fn default() -> Self {
        ImageLimits { max_side: 16_384, max_decoded_bytes: 256 << 20 }
    }
}

impl ImageLimits {
    /// Why an image of this size and decoded size is beyond the limits, or `None` when it is
    /// within them. The reason says which setting to raise.
    pub fn refuse(&self, width: u32, height: u32, decoded_bytes: u64) -> Option<String> {
        if width.max(height) > self.max_side {
            return Some(format!(
                "{width}x{height} pixels is beyond the limit of {} a side ([images] max_side)",
                self.max_side
            ));
        }
        if decoded_bytes > self.max_decoded_bytes {
            return Some(format!(
                "{width}x{height} pixels would take {} MiB decoded, beyond the limit of {} MiB \
                 ([images] max_decoded_mib)",
                decoded_bytes.div_ceil(1 << 20),
                self.max_decoded_bytes >> 20
            ));
        }
        None
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
    fn images_beyond_either_limit_are_refused_with_the_setting_to_raise() {
        let limits = ImageLimits { max_side: 1000, max_decoded_bytes: 3 << 20 };
        assert_eq!(limits.refuse(1000, 1000, 3 << 20), None);
        assert!(limits.refuse(1001, 10, 30).unwrap().contains("max_side"));
        assert!(limits.refuse(1000, 1000, (3 << 20) + 1).unwrap().contains("max_decoded_mib"));
    }

    #[test]
    fn configured_seconds_are_checked() {
        assert_eq!(Limits::seconds(1.5), Ok(Duration::from_millis(1500)));
        for bad in [-1.0, 0.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(Limits::seconds(bad).is_err(), "{bad}");
        }
    }
}
