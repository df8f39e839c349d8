//! Primitives every layer shares, with no dependency on any other module of the crate: who a
//! service is ([`Identity`]), how hard it may be pushed ([`Limits`]), how a call fails
//! ([`CallError`]), keys that never print ([`Secret`]), why a sample cannot be scored
//! ([`Unscorable`]), what a task needs configured ([`Need`]) and which scorer answers it
//! ([`ScorerProfile`]), the seeded random generator
//! ([`Rng`]) and hashing helpers.

mod error;
mod hash;
mod identity;
mod limits;
mod need;
mod outcome;
pub mod parallel;
pub mod rng;
mod scorers;
mod secret;

pub use error::{CallError, error_chain};
pub use hash::{Sha256Writer, hex, push_hex, sha256_hex};
pub use identity::Identity;
pub use limits::{Concurrency, ImageLimits, InvalidLimit, Limits};
pub use need::Need;
pub use outcome::{Unscorable, UnscorableKind};
pub use rng::Rng;
pub use scorers::{ScorerProfile, StepSource};
pub use secret::{REDACTED, Scrubber, Secret};
