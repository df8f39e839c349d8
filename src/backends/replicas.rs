//! One model served on several machines (`base_urls = [...]`, or `--base-url` given more than
//! once): vLLM or SGLang replicas, or their routers. Each request goes to the healthy replica
//! with the fewest requests in flight; a replica that cannot be reached (refused, reset, timed
//! out, 502–504) is set aside for a second, then twice as long after each further failure (at
//! most 30 s), and the first request after that probes it back. When every replica is set
//! aside, the one that comes back first is tried.
//!
//! The replicas answer as one model: the identity (and so every fingerprint and the store) is
//! the profile's `base_url`, or the first of `base_urls`, whichever replica answered.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use super::{ChatModel, ChatRequest, ChatResponse};
use crate::core::{CallError, Identity};

/// The longest a replica is set aside.
const LONGEST_REST: Duration = Duration::from_secs(30);

/// Replicas of one model.
pub struct Replicas {
    identity: Identity,
    members: Vec<Member>,
}

struct Member {
    model: Box<dyn ChatModel>,
    in_flight: AtomicUsize,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    failures: u32,
    resting_until: Option<Instant>,
}

impl Replicas {
    /// Replicas answering under `identity`.
    pub fn new(identity: Identity, models: Vec<Box<dyn ChatModel>>) -> Replicas {
        let members = models
            .into_iter()
            .map(|model| Member { model, in_flight: AtomicUsize::new(0), health: Mutex::default() })
            .collect();
        Replicas { identity, members }
    }

    /// The replica for the next request.
    fn pick(&self) -> Option<&Member> {
        let now = Instant::now();
        let resting = |m: &Member| m.health.lock().unwrap_or_else(|e| e.into_inner()).resting_until;
        let healthy = self.members.iter().filter(|m| resting(m).is_none_or(|t| t <= now));
        healthy
            .min_by_key(|m| m.in_flight.load(Ordering::Relaxed))
            .or_else(|| self.members.iter().min_by_key(|m| resting(m).unwrap_or(now)))
    }

    /// Requests in flight at each replica, in order (for tests and progress).
    pub fn in_flight(&self) -> Vec<usize> {
        self.members.iter().map(|m| m.in_flight.load(Ordering::Relaxed)).collect()
    }
}

impl Member {
    fn record(&self, result: &Result<ChatResponse, CallError>) {
        let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Err(e) if e.unreachable() => {
                let rest = Duration::from_secs(1).saturating_mul(1 << h.failures.min(5)).min(LONGEST_REST);
                h.failures += 1;
                h.resting_until = Some(Instant::now() + rest);
                tracing::warn!(
                    "{}: unreachable ({e}); sending to the other replicas for {:.0} s",
                    self.model.identity().endpoint,
                    rest.as_secs_f64()
                );
            }
            Ok(_) if h.failures > 0 => {
                tracing::info!("{}: answering again", self.model.identity().endpoint);
                *h = Health::default();
            }
            _ => {}
        }
    }
}

impl ChatModel for Replicas {
    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, CallError>> {
        Box::pin(async move {
            let Some(member) = self.pick() else {
                return Err(CallError::Request("no replica is configured".into()));
            };
            // Counted down however the request ends, an abandoned attempt included.
            struct InFlight<'m>(&'m AtomicUsize);
            impl Drop for InFlight<'_> {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, Ordering::Relaxed);
                }
            }
            member.in_flight.fetch_add(1, Ordering::Relaxed);
            let counted = InFlight(&member.in_flight);
            let result = member.model.chat(request).await;
            drop(counted);
            member.record(&result);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::Finish;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// A replica that answers, or refuses connections while `down`.
    struct Fake {
        identity: Identity,
        down: Arc<AtomicBool>,
        calls: Arc<AtomicUsize>,
    }

    impl ChatModel for Fake {
        fn identity(&self) -> &Identity {
            &self.identity
        }

        fn chat<'a>(&'a self, _: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, CallError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let down = self.down.load(Ordering::SeqCst);
            Box::pin(async move {
                if down {
                    return Err(CallError::Connect("connection refused".into()));
                }
                Ok(ChatResponse {
                    text: "ok".into(),
                    reasoning: None,
                    finish: Finish::Stop,
                    finish_raw: None,
                    usage: None,
                    raw: serde_json::Value::Null,
                })
            })
        }
    }

    #[tokio::test]
    async fn a_replica_that_fails_rests_and_is_probed_back() {
        let down = Arc::new(AtomicBool::new(true));
        let (first, second) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let fake = |url: &str, down: Arc<AtomicBool>, calls: Arc<AtomicUsize>| -> Box<dyn ChatModel> {
            Box::new(Fake { identity: Identity::new("openai", "m", url), down, calls })
        };
        let replicas = Replicas::new(
            Identity::new("openai", "m", "http://a"),
            vec![
                fake("http://a", down.clone(), first.clone()),
                fake("http://b", Arc::new(AtomicBool::new(false)), second.clone()),
            ],
        );
        let request = ChatRequest::greedy(vec![crate::sample::Message::user("q", None)], 5);
        assert!(replicas.chat(&request).await.is_err(), "the first try meets the replica that is down");
        for _ in 0..5 {
            assert!(replicas.chat(&request).await.is_ok());
        }
        assert_eq!((first.load(Ordering::SeqCst), second.load(Ordering::SeqCst)), (1, 5), "it rests");
        down.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1050)).await;
        assert!(replicas.chat(&request).await.is_ok());
        assert_eq!(first.load(Ordering::SeqCst), 2, "after its rest it is probed, and answers");
        assert_eq!(replicas.in_flight(), vec![0, 0]);
    }
}
