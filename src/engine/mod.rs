//! The engine: sends requests to a [`Service`] (a chat model, a judge, a classifier) with bounded
//! concurrency, rate limits, retries and timeouts, and records every answer in the [`Store`].
//!
//! A request is identified by its fingerprint: the SHA-256 of the service identity and the
//! canonical request JSON (images as content hashes, never the key). The engine looks the store
//! up first and sends only what is missing, so running a command again sends nothing.
//!
//! Every request ends with an answer or [`Unscorable`] with a reason; an error text never
//! reaches an evaluator.

pub mod adaptive;
pub mod batch;
pub mod store;

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::core::{CallError, Identity, Limits, Rng, Scrubber, Sha256Writer, Unscorable, UnscorableKind};
pub use store::{Claim, Record, Store, StoreError};

/// Something the engine can call: a chat model, a judge, a classifier.
pub trait Service: Send + Sync + 'static {
    /// The request; its JSON form is canonical and enters the fingerprint.
    type Request: Serialize + Send + Sync + 'static;
    /// The answer, stored as JSON.
    type Reply: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    /// Provider, model and endpoint.
    fn identity(&self) -> &Identity;
    /// Concurrency, rate limits, timeout and retries.
    fn limits(&self) -> &Limits;
    /// Estimated tokens of a request, for tokens-per-minute limits.
    fn estimate_tokens(&self, _request: &Self::Request) -> u32 {
        1
    }
    /// Drops what need not stay in memory once an answer is stored (the raw provider body, say).
    fn compact(_reply: &mut Self::Reply) {}

    /// The provider's batch API, when the profile asks for one (`batch = true`): what the
    /// store lacks is then submitted as batches (see [`batch`]) instead of sent one by one.
    fn batch(&self) -> Option<&dyn batch::BatchApi<Self::Request, Self::Reply>> {
        None
    }

    /// Sends one request (one attempt).
    fn call(&self, request: &Self::Request) -> impl Future<Output = Result<Self::Reply, CallError>> + Send;
}

/// An answer with the fingerprint of its request.
#[derive(Debug, Clone)]
pub struct Answer<R> {
    /// The answer.
    pub reply: R,
    /// The request fingerprint.
    pub fingerprint: String,
    /// Whether it came from the store.
    pub cached: bool,
}

/// The result of one request.
pub type Outcome<R> = Result<Answer<R>, Unscorable>;

/// Why the engine stopped before every request of a batch was answered. What was answered is
/// stored; running the same command again continues.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Stop {
    /// Ctrl-C.
    #[error("interrupted: {answered} of {total} requests of this batch answered and stored")]
    Interrupted {
        /// Requests answered (from the store or sent) before the stop.
        answered: usize,
        /// Requests in the batch.
        total: usize,
    },
    /// An endpoint's circuit breaker opened: it failed too many times in a row.
    #[error("{endpoint} is not answering: {cause}")]
    EndpointDown {
        /// The service (`provider:model`) and its URL.
        endpoint: String,
        /// The failures that opened the breaker, with the last error's full cause.
        cause: String,
    },
}

/// Counters over the engine's life.
#[derive(Debug, Default)]
pub struct Stats {
    /// Answers found in the store.
    pub cached: AtomicU64,
    /// Answers received from services.
    pub answered: AtomicU64,
    /// Requests that ended in an error after their attempts.
    pub failed: AtomicU64,
    /// Attempts beyond the first.
    pub retries: AtomicU64,
}

impl Stats {
    /// A snapshot: (cached, answered, failed, retries).
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.cached.load(Ordering::Relaxed),
            self.answered.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
        )
    }
}

/// A finished answer, shared between the batches that asked for it (the service's reply type).
type Shareable = Arc<dyn std::any::Any + Send + Sync>;

/// The future of one request.
type FlightFuture = BoxFuture<'static, Result<Shareable, CallError>>;

/// One request on its way, shared by every batch that asks the same thing.
type Flight = Shared<FlightFuture>;

/// Sends requests and keeps their answers.
pub struct Engine {
    store: Option<Arc<Store>>,
    offline: bool,
    cancel: CancellationToken,
    gates: Mutex<HashMap<Identity, Arc<Gate>>>,
    /// Requests in flight by fingerprint, weakly held; an entry goes when its last awaiter has
    /// its answer ([`Engine::landed`]), and the answer is in the store.
    flights: Mutex<HashMap<String, WeakShared<FlightFuture>>>,
    progress: MultiProgress,
    scrubber: Arc<Scrubber>,
    /// What happened so far.
    pub stats: Arc<Stats>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("store", &self.store).field("offline", &self.offline).finish()
    }
}

impl Engine {
    /// An engine with a store (or none), sending what the store lacks.
    pub fn new(store: Option<Arc<Store>>) -> Engine {
        Engine {
            store,
            offline: false,
            cancel: CancellationToken::new(),
            gates: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            progress: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            scrubber: Arc::new(Scrubber::default()),
            stats: Arc::new(Stats::default()),
        }
    }

    /// Scrubs the values of these secrets (the configured keys) from every answer and error
    /// before it is stored or returned, so a server that echoes a key does not leak it.
    pub fn scrubbing(mut self, secrets: &[String]) -> Engine {
        self.scrubber = Arc::new(Scrubber::new(secrets));
        self
    }

    /// An engine that only reads the store: a request without a stored answer ends unscorable.
    pub fn store_only(store: Arc<Store>) -> Engine {
        Engine { offline: true, ..Engine::new(Some(store)) }
    }

    /// Hides the progress bars (for tests and machine output).
    pub fn quiet(self) -> Engine {
        self.progress.set_draw_target(ProgressDrawTarget::hidden());
        self
    }

    /// The token that stops the engine (Ctrl-C cancels it).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Whether the engine sends requests (false in store-only mode).
    pub fn online(&self) -> bool {
        !self.offline
    }

    /// The store, if any.
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Waits until every answer received so far is committed to the store.
    pub fn flush(&self) -> Result<(), StoreError> {
        match &self.store {
            Some(store) => store.flush(),
            None => Ok(()),
        }
    }

    fn gate(&self, identity: &Identity, limits: &Limits) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(identity.clone()).or_insert_with(|| Arc::new(Gate::new(limits))).clone()
    }

    /// Answers a batch of requests, in order: from the store where it has them, by sending
    /// the rest. Returns [`Stop`] if the run was stopped (Ctrl-C, or the endpoint's circuit
    /// breaker opened); what was answered is stored.
    pub async fn run<S: Service>(
        &self,
        service: &Arc<S>,
        requests: Vec<S::Request>,
        label: &str,
    ) -> Result<Vec<Outcome<S::Reply>>, Stop> {
        let identity = service.identity().clone();
        let total = requests.len();
        let t0 = Instant::now();
        let fingerprints: Vec<String> = requests.iter().map(|r| fingerprint(&identity, r)).collect();
        let mut outcomes: Vec<Option<Outcome<S::Reply>>> = (0..total).map(|_| None).collect();

        if let Some(store) = &self.store {
            let store = store.clone();
            let fps = fingerprints.clone();
            let hits = tokio::task::spawn_blocking(move || store.lookup(&fps)).await;
            match hits {
                Ok(Ok(hits)) => {
                    for (i, fp) in fingerprints.iter().enumerate() {
                        if let Some(mut reply) = hits.get(fp).and_then(|j| serde_json::from_str(j).ok()) {
                            S::compact(&mut reply);
                            outcomes[i] = Some(Ok(Answer { reply, fingerprint: fp.clone(), cached: true }));
                        }
                    }
                }
                Ok(Err(e)) => tracing::warn!("{e}; sending every request"),
                Err(e) => tracing::warn!("store lookup failed: {e}; sending every request"),
            }
        }
        let cached = outcomes.iter().filter(|o| o.is_some()).count();
        self.stats.cached.fetch_add(cached as u64, Ordering::Relaxed);
        let misses: Vec<usize> = (0..total).filter(|&i| outcomes[i].is_none()).collect();

        if self.offline {
            for &i in &misses {
                outcomes[i] = Some(Err(Unscorable::new(
                    UnscorableKind::NotStored,
                    format!(
                        "no stored answer from {} (nothing is sent when rescoring; configure it \
                     to request missing answers)",
                        identity.label()
                    ),
                )));
            }
            return Ok(outcomes.into_iter().flatten().collect());
        }

        tracing::debug!("{label}: {total} fingerprints and store lookup in {:?}", t0.elapsed());
        if let Some(api) = service.batch()
            && !misses.is_empty()
        {
            self.run_batched(service, api, requests, &fingerprints, misses, &mut outcomes, label).await?;
            return Ok(outcomes.into_iter().flatten().collect());
        }
        let bar = self.bar(label, total, cached);
        let limits = service.limits().clone();
        let gate = self.gate(&identity, &limits);
        let mut requests: Vec<Option<S::Request>> = requests.into_iter().map(Some).collect();
        let flights = misses.into_iter().filter_map(|i| {
            let request = requests[i].take()?;
            let fingerprint = fingerprints[i].clone();
            let flight = self.join_or_start(&fingerprint, |recheck| {
                let job = Job {
                    service: service.clone(),
                    gate: gate.clone(),
                    cancel: self.cancel.clone(),
                    store: self.store.clone(),
                    stats: self.stats.clone(),
                    scrubber: self.scrubber.clone(),
                    fingerprint: fingerprint.clone(),
                };
                async move {
                    let stored = match recheck {
                        true => job.stored_answer().await,
                        false => None,
                    };
                    // Another process sharing the store may be sending it: wait for its answer.
                    let stored = match stored {
                        Some(json) => Some(json),
                        None => job.wait_turn().await?,
                    };
                    if let Some(json) = stored
                        && let Ok(mut reply) = serde_json::from_str::<S::Reply>(&json)
                    {
                        S::compact(&mut reply);
                        return Ok(Arc::new(reply) as Shareable);
                    }
                    let reply = job.execute(request).await?;
                    Ok(Arc::new(reply) as Shareable)
                }
                .boxed()
            });
            Some(async move { (i, flight.await) })
        });
        // Twice the endpoint's concurrency in progress: while `concurrency` requests are in
        // flight (the gate's semaphore), as many more take their claim in the store, so that
        // the claim's commit is never on the path of a free slot.
        let ahead = limits.concurrency.max(1).saturating_mul(2);
        let mut stream = futures::stream::iter(flights).buffer_unordered(ahead);
        while let Some((i, result)) = stream.next().await {
            self.landed(&fingerprints[i]);
            let outcome = match result {
                Ok(shared) => match shared.downcast_ref::<S::Reply>() {
                    Some(reply) => Ok(Answer {
                        reply: reply.clone(),
                        fingerprint: fingerprints[i].clone(),
                        cached: false,
                    }),
                    None => Err(Unscorable::new(
                        UnscorableKind::Decode,
                        format!("{}: the shared answer has another type", identity.label()),
                    )),
                },
                Err(CallError::Cancelled) => continue,
                Err(e) => Err(Unscorable::new(
                    e.kind(),
                    format!("{} at {}: {e}", identity.label(), identity.endpoint),
                )),
            };
            outcomes[i] = Some(outcome);
            bar.inc(1);
            if gate.level.adaptive() {
                bar.set_message(format!("{} in flight at most (adaptive)", gate.level.current()));
            }
        }
        bar.finish_and_clear();
        self.progress.remove(&bar);
        if self.cancel.is_cancelled() {
            let _ = self.flush();
            let answered = outcomes.iter().filter(|o| matches!(o, Some(Ok(_)))).count();
            return Err(Stop::Interrupted { answered, total });
        }
        if let Some(cause) = gate.breaker.cause() {
            let _ = self.flush();
            return Err(Stop::EndpointDown {
                endpoint: format!("{} at {}", identity.label(), identity.endpoint),
                cause,
            });
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Err(Unscorable::new(UnscorableKind::Transport, "the request task failed"))
                })
            })
            .collect())
    }

    /// How many of these requests have no stored answer (all of them without a store): what
    /// a run would send.
    pub async fn missing<S: Service>(&self, service: &S, requests: &[S::Request]) -> usize {
        self.lacking(service, requests).await.len()
    }

    /// The positions of the requests that have no stored answer (all of them without a store).
    pub async fn lacking<S: Service>(&self, service: &S, requests: &[S::Request]) -> Vec<usize> {
        let fingerprints: Vec<String> = requests.iter().map(|r| fingerprint(service.identity(), r)).collect();
        let Some(store) = self.store.clone() else { return (0..fingerprints.len()).collect() };
        let fps = fingerprints.clone();
        match tokio::task::spawn_blocking(move || store.lookup(&fps)).await {
            Ok(Ok(hits)) => {
                (0..fingerprints.len()).filter(|&i| !hits.contains_key(&fingerprints[i])).collect()
            }
            _ => (0..fingerprints.len()).collect(),
        }
    }

    /// Joins the request already in flight for a fingerprint, or starts it. `start(recheck)`
    /// builds the request's future; `recheck` says an earlier flight for it finished, so its
    /// answer may be in the store.
    fn join_or_start(&self, fingerprint: &str, start: impl FnOnce(bool) -> FlightFuture) -> Flight {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        let earlier = flights.get(fingerprint);
        if let Some(flight) = earlier.and_then(WeakShared::upgrade) {
            return flight;
        }
        let flight = start(earlier.is_some()).shared();
        if let Some(weak) = flight.downgrade() {
            flights.insert(fingerprint.to_string(), weak);
        }
        // Whoever awaits a flight drives it; a separate task would double the wake-ups.
        flight
    }

    /// Forgets a fingerprint's flight once nobody awaits it any more, so that the map holds
    /// only what is in flight (a hundred thousand finished entries held 18 MB); a later request
    /// for it finds its answer in the store when it claims the fingerprint.
    fn landed(&self, fingerprint: &str) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights.get(fingerprint).is_some_and(|weak| weak.upgrade().is_none()) {
            flights.remove(fingerprint);
        }
    }

    /// Requests in flight now, by fingerprint (a test's view of the map).
    #[cfg(test)]
    fn flights_held(&self) -> usize {
        self.flights.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn bar(&self, label: &str, total: usize, done: usize) -> ProgressBar {
        let bar = self.progress.add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>24.bold} [{bar:30}] {pos}/{len} {per_sec:>9} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(label.chars().take(24).collect::<String>());
        bar.set_position(done as u64);
        bar
    }
}

/// One request's journey: gate, attempts with backoff, store.
struct Job<S: Service> {
    service: Arc<S>,
    gate: Arc<Gate>,
    cancel: CancellationToken,
    store: Option<Arc<Store>>,
    stats: Arc<Stats>,
    scrubber: Arc<Scrubber>,
    fingerprint: String,
}

impl<S: Service> Job<S> {
    /// The stored answer for this request, if any (as JSON).
    async fn stored_answer(&self) -> Option<String> {
        let store = self.store.clone()?;
        let fp = self.fingerprint.clone();
        let hits =
            tokio::task::spawn_blocking(move || store.lookup(std::slice::from_ref(&fp))).await.ok()?.ok()?;
        hits.into_values().next()
    }

    /// Claims the fingerprint in the store before sending. While another process holds it,
    /// waits (checking again with a growing pause, up to a second) until its answer is stored
    /// or its claim lapses; gives the stored answer, or `None` once this process may send.
    async fn wait_turn(&self) -> Result<Option<String>, CallError> {
        let Some(store) = &self.store else { return Ok(None) };
        let mut pause = Duration::from_millis(50);
        loop {
            match store.claim(&self.fingerprint).await {
                Claim::Claimed => return Ok(None),
                Claim::Answered(json) => return Ok(Some(json)),
                Claim::Held => {
                    tokio::select! {
                        _ = self.cancel.cancelled() => return Err(CallError::Cancelled),
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    async fn execute(self, request: S::Request) -> Result<S::Reply, CallError> {
        let (mut result, attempts, latency) = self.attempts(&request).await;
        if matches!(result, Err(CallError::Cancelled | CallError::EndpointDown(_))) {
            return result;
        }
        match &result {
            Ok(_) => self.stats.answered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.stats.failed.fetch_add(1, Ordering::Relaxed),
        };
        // Nothing that reaches the store or the caller keeps a configured key's value.
        let mut stored = None;
        result = match result {
            Ok(reply) => {
                let json = serde_json::to_string(&reply).unwrap_or_default();
                match self.scrubber.scrub(&json) {
                    std::borrow::Cow::Owned(clean) => {
                        let reply = serde_json::from_str(&clean).unwrap_or(reply);
                        stored = Some(clean);
                        Ok(reply)
                    }
                    std::borrow::Cow::Borrowed(_) => {
                        stored = Some(json);
                        Ok(reply)
                    }
                }
            }
            Err(e) => Err(e.map_text(|t| self.scrubber.scrub(t).into_owned())),
        };
        if let Some(store) = &self.store {
            let reply = stored;
            let error = result.as_ref().err().map(|e| e.to_string());
            store.put(Record {
                fingerprint: self.fingerprint.clone(),
                service: self.service.identity().label(),
                request: serde_json::to_string(&request).unwrap_or_default(),
                reply,
                error,
                attempts,
                latency_ms: latency.as_millis() as u64,
            });
        }
        if let Ok(reply) = &mut result {
            S::compact(reply);
        }
        result
    }

    /// Sends the request, retrying what may heal; gives the result, the attempts made and
    /// how long the last attempt took once admitted (the endpoint's latency, without the wait
    /// for a free slot).
    async fn attempts(&self, request: &S::Request) -> (Result<S::Reply, CallError>, u32, Duration) {
        let limits = self.service.limits();
        let tokens = self.service.estimate_tokens(request);
        let mut rng = Rng::keyed(0, &["retry", &self.fingerprint]);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut latency = Duration::ZERO;
            let result = tokio::select! {
                _ = self.cancel.cancelled() => Err(CallError::Cancelled),
                r = async {
                    let _permit = self.gate.admit(tokens).await;
                    // Checked once admitted: requests queued behind the gate stop as soon as
                    // the breaker opens.
                    if let Some(cause) = self.gate.breaker.cause() {
                        return Err(CallError::EndpointDown(cause));
                    }
                    let admitted = Instant::now();
                    let r = match tokio::time::timeout(limits.timeout, self.service.call(request)).await {
                        Ok(r) => r,
                        Err(_) => Err(CallError::Timeout(limits.timeout)),
                    };
                    latency = admitted.elapsed();
                    r
                } => r,
            };
            self.gate.breaker.record(&result, limits);
            // What the answer says about the endpoint's load moves an adaptive level; 429s
            // then do not use up the attempts (the level falls until they stop), up to four
            // times as many.
            let mut budget = limits.max_attempts;
            if self.gate.level.adaptive() {
                match &result {
                    Ok(_) => self.gate.level.answered(latency),
                    Err(CallError::Status { status: 429, retry_after, .. }) => {
                        self.gate.level.overloaded(*retry_after);
                        budget = limits.max_attempts.saturating_mul(4);
                    }
                    Err(CallError::Status { status, .. }) if *status >= 500 => self.gate.level.failed(),
                    Err(_) => {}
                }
            }
            let error = match result {
                Ok(reply) => return (Ok(reply), attempt, latency),
                Err(CallError::EndpointDown(cause)) => {
                    return (Err(CallError::EndpointDown(cause)), attempt, latency);
                }
                Err(e) if e.retryable() && attempt < budget => e,
                Err(e) => return (Err(with_attempts(e, attempt)), attempt, latency),
            };
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            let mut delay = backoff(&error, attempt, limits, &mut rng);
            // Under an adaptive level a 429 without a wait has already lowered the level: the
            // request comes back after about one latency (when a slot at the endpoint frees),
            // instead of sitting out a backoff that leaves the endpoint idle at the end of a run.
            if self.gate.level.adaptive()
                && matches!(error, CallError::Status { status: 429, retry_after: None, .. })
            {
                delay = delay.min(self.gate.level.pace().mul_f64(0.5 + 0.5 * rng.unit()) * attempt);
            }
            tracing::debug!(
                "{}: {}; retrying in {delay:?}",
                self.service.identity().label(),
                self.scrubber.scrub(&error.to_string())
            );
            tokio::select! {
                _ = self.cancel.cancelled() => return (Err(CallError::Cancelled), attempt, Duration::ZERO),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}

fn with_attempts(error: CallError, attempts: u32) -> CallError {
    if attempts <= 1 {
        return error;
    }
    match error {
        CallError::Status { status, message, retry_after } => CallError::Status {
            status,
            message: format!("{message} (after {attempts} attempts)"),
            retry_after,
        },
        CallError::Connect(m) => CallError::Connect(format!("{m} (after {attempts} attempts)")),
        CallError::Decode(m) => CallError::Decode(format!("{m} (after {attempts} attempts)")),
        other => other,
    }
}

/// The wait before the next attempt: the server's Retry-After when it gave one, else an
/// exponential delay with jitter; both capped at `max_delay`.
pub fn backoff(error: &CallError, attempt: u32, limits: &Limits, rng: &mut Rng) -> Duration {
    if let Some(wait) = error.retry_after() {
        return wait.min(limits.max_delay);
    }
    let exp = limits.base_delay.saturating_mul(1u32 << (attempt - 1).min(16));
    let capped = exp.min(limits.max_delay);
    capped.mul_f64(0.5 + 0.5 * rng.unit())
}

/// Concurrency, rate limits and the circuit breaker of one endpoint, shared by every batch
/// sent to it.
#[derive(Debug)]
struct Gate {
    level: adaptive::Level,
    rpm: Option<DefaultDirectRateLimiter>,
    tpm: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
    breaker: Breaker,
}

/// Counts consecutive attempts that could not reach the endpoint; opens (for good: the run
/// ends with the cause) after `breaker_failures` of them spanning at least `breaker_window`.
#[derive(Debug, Default)]
struct Breaker {
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    failures: u32,
    since: Option<Instant>,
    open: Option<String>,
}

impl Breaker {
    /// Records one attempt's result.
    fn record<R>(&self, result: &Result<R, CallError>, limits: &Limits) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(_) => {
                state.failures = 0;
                state.since = None;
            }
            Err(e) if e.unreachable() && limits.breaker_failures > 0 => {
                state.failures += 1;
                let since = *state.since.get_or_insert_with(Instant::now);
                let lasted = since.elapsed();
                if state.open.is_none()
                    && state.failures >= limits.breaker_failures
                    && lasted >= limits.breaker_window
                {
                    state.open = Some(format!(
                        "{} attempts in a row failed over {:.0} s; the last: {e}",
                        state.failures,
                        lasted.as_secs_f64()
                    ));
                }
            }
            Err(_) => {}
        }
    }

    /// Why the breaker is open, if it is.
    fn cause(&self) -> Option<String> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).open.clone()
    }
}

impl Gate {
    fn new(limits: &Limits) -> Gate {
        let limiter = |per_minute: u32| {
            let rate = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new((per_minute / 10).max(1)).unwrap_or(NonZeroU32::MIN);
            (RateLimiter::direct(Quota::per_minute(rate).allow_burst(burst)), burst)
        };
        Gate {
            level: adaptive::Level::new(limits.concurrency, limits.adaptive),
            rpm: limits.rpm.map(|r| limiter(r).0),
            tpm: limits.tpm.map(limiter),
            breaker: Breaker::default(),
        }
    }

    async fn admit(&self, tokens: u32) -> Option<adaptive::Slot<'_>> {
        let permit = self.level.acquire().await;
        if let Some(rpm) = &self.rpm {
            rpm.until_ready().await;
        }
        if let Some((tpm, burst)) = &self.tpm {
            let n = NonZeroU32::new(tokens.clamp(1, burst.get())).unwrap_or(NonZeroU32::MIN);
            let _ = tpm.until_n_ready(n).await;
        }
        permit
    }
}

/// The fingerprint of a request to a service: SHA-256 of a version tag, the identity and the
/// canonical request JSON.
pub fn fingerprint<R: Serialize>(identity: &Identity, request: &R) -> String {
    let mut hasher = Sha256Writer::default();
    hasher.update(b"multitrust-request-v1\n");
    let _ = serde_json::to_writer(&mut hasher, &(identity, request));
    hasher.hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_honours_retry_after_and_caps() {
        let limits = Limits { max_delay: Duration::from_secs(5), ..Limits::default() };
        let mut rng = Rng::new(1);
        let asked = CallError::Status {
            status: 429,
            message: String::new(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(backoff(&asked, 1, &limits, &mut rng), Duration::from_secs(2));
        let greedy = CallError::Status {
            status: 429,
            message: String::new(),
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(backoff(&greedy, 1, &limits, &mut rng), Duration::from_secs(5));
        let plain = CallError::Connect("x".into());
        let first = backoff(&plain, 1, &limits, &mut rng);
        assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
        assert!(backoff(&plain, 30, &limits, &mut rng) <= Duration::from_secs(5));
    }

    /// Answers `"echo: {request}"` after a short pause, counting what it is sent.
    struct Echo {
        identity: Identity,
        limits: Limits,
        sent: AtomicU64,
    }

    impl Service for Echo {
        type Request = String;
        type Reply = String;
        fn identity(&self) -> &Identity {
            &self.identity
        }
        fn limits(&self) -> &Limits {
            &self.limits
        }
        async fn call(&self, request: &String) -> Result<String, CallError> {
            self.sent.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(format!("echo: {request}"))
        }
    }

    #[tokio::test]
    async fn finished_flights_are_forgotten() {
        let engine = Engine::new(None);
        let echo = Arc::new(Echo {
            identity: Identity::new("test", "echo", "http://127.0.0.1:9/v1"),
            limits: Limits { concurrency: 4, ..Limits::default() },
            sent: AtomicU64::new(0),
        });
        let first: Vec<String> = (0..50).map(|i| format!("q{i}")).collect();
        let second: Vec<String> = (25..75).map(|i| format!("q{i}")).collect();
        let (a, b) = tokio::join!(engine.run(&echo, first, "a"), engine.run(&echo, second, "b"));
        let (a, b) = (a.expect("first batch"), b.expect("second batch"));
        assert_eq!(a[30].as_ref().map(|o| o.reply.as_str()).ok(), Some("echo: q30"));
        assert_eq!(b[5].as_ref().map(|o| o.reply.as_str()).ok(), Some("echo: q30"));
        // Each of the 25 requests both batches hold was sent once (joined while in flight) or,
        // without a store, again after it landed; none is remembered once answered.
        let sent = echo.sent.load(Ordering::Relaxed);
        assert!((75..=100).contains(&sent), "sent {sent}");
        assert_eq!(engine.flights_held(), 0);
    }

    #[test]
    fn fingerprints_depend_on_identity_and_request() {
        let a = Identity::new("openai", "m", "http://x/v1/");
        let b = Identity::new("openai", "m2", "http://x/v1");
        assert_eq!(a.endpoint, "http://x/v1");
        let fp = fingerprint(&a, &"req");
        assert_eq!(fp, fingerprint(&a, &"req"));
        assert_ne!(fp, fingerprint(&b, &"req"));
        assert_ne!(fp, fingerprint(&a, &"other"));
        assert_eq!(fp.len(), 64);
    }
}
