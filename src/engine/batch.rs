//! Provider batch APIs (OpenAI Batch, Anthropic Message Batches): what the store lacks is
//! submitted as batches instead of being sent one request at a time.
//!
//! A batch's id and the fingerprints it holds are written to the store as soon as the provider
//! accepts it, so a run that stops (Ctrl-C, a crash, a killed job) never submits those requests
//! again: the next run finds the open batch and resumes polling it. Once a batch ends, its
//! answers land in the store like any other answer (scrubbed of keys, errors kept as errors),
//! and the batch is closed. Each request's id in the batch is its fingerprint.
//!
//! A request the batch ended without (expired, cancelled, errored) is unscorable in this run
//! and is submitted again, in a new batch, by the next.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{Answer, Engine, Outcome, Record, Service, Stop};
use crate::core::{CallError, Rng, Unscorable, UnscorableKind};

/// Where a batch stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Still working: requests done (answered or failed) of all.
    Running {
        /// Requests the provider has finished.
        done: u64,
        /// Requests in the batch.
        total: u64,
        /// The provider's word for the state (`validating`, `in_progress`, ...).
        state: String,
    },
    /// Finished: its results can be fetched (some may be missing when it expired or was
    /// cancelled; a batch that failed as a whole has none and says why).
    Ended {
        /// The provider's word for the end (`completed`, `expired`, `ended`, ...).
        state: String,
        /// Why no result can be expected, for a batch that failed as a whole.
        failure: Option<String>,
    },
}

/// The results of an ended batch: each request's id with its answer or the provider's error.
pub type Results<R> = Vec<(String, Result<R, String>)>;

/// One provider's batch API for one service.
pub trait BatchApi<Request, Reply>: Send + Sync {
    /// The API's name, for messages ("OpenAI Batch").
    fn name(&self) -> &'static str;
    /// The most requests, and the most bytes of entries, one batch may hold.
    fn capacity(&self) -> (usize, usize);
    /// How long to wait between two looks at a running batch.
    fn poll_every(&self) -> Duration;
    /// One request as the batch's input holds it, under its id.
    fn entry<'a>(&'a self, id: &'a str, request: &'a Request) -> BoxFuture<'a, Result<Vec<u8>, CallError>>;
    /// Submits entries as one batch; gives the batch's id.
    fn submit(&self, entries: Vec<Vec<u8>>) -> BoxFuture<'_, Result<String, CallError>>;
    /// Where a batch stands.
    fn progress<'a>(&'a self, batch: &'a str) -> BoxFuture<'a, Result<Progress, CallError>>;
    /// The results of an ended batch.
    fn results<'a>(&'a self, batch: &'a str) -> BoxFuture<'a, Result<Results<Reply>, CallError>>;
}

/// Entries gathered for one submission, with each one's fingerprint and request JSON.
#[derive(Default)]
struct Chunk {
    entries: Vec<Vec<u8>>,
    items: Vec<(String, String)>,
    bytes: usize,
}

/// The run was stopped while submitting.
struct Cancelled;

/// Failures in a row after which polling a batch is left to the next run.
const POLL_FAILURES: u32 = 8;

impl Engine {
    /// Answers the requests the store lacks (`misses`, positions in `requests`) through the
    /// service's batch API: resumes the open batches that hold some of them, submits the rest,
    /// polls until every batch has ended, and stores what came back.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_batched<S: Service>(
        &self,
        service: &Arc<S>,
        api: &dyn BatchApi<S::Request, S::Reply>,
        requests: Vec<S::Request>,
        fingerprints: &[String],
        misses: Vec<usize>,
        outcomes: &mut [Option<Outcome<S::Reply>>],
        label: &str,
    ) -> Result<(), Stop> {
        let identity = service.identity();
        let key = format!("{}@{}", identity.label(), identity.endpoint);
        let endpoint = format!("{} at {}", identity.label(), identity.endpoint);
        let wanted: HashMap<&str, usize> = misses.iter().map(|&i| (fingerprints[i].as_str(), i)).collect();
        let bar = self.bar(label, outcomes.len(), outcomes.len() - misses.len());

        // Open batches from earlier runs that hold some of these requests are polled, not
        // submitted again.
        let open = match &self.store {
            Some(store) => store.open_batches(&key).unwrap_or_else(|e| {
                tracing::warn!("{e}; open batches cannot be resumed");
                Vec::new()
            }),
            None => Vec::new(),
        };
        let mut open_held: Vec<(String, HashSet<String>)> = Vec::new();
        for (id, fps) in open {
            if fps.iter().any(|fp| wanted.contains_key(fp.as_str())) {
                tracing::info!("{label}: resuming {} batch {id} ({} requests)", api.name(), fps.len());
                open_held.push((id, fps.into_iter().collect()));
            }
        }
        let covered = |fp: &String| open_held.iter().any(|(_, fps)| fps.contains(fp));
        let mut to_submit: Vec<usize> =
            misses.iter().copied().filter(|&i| !covered(&fingerprints[i])).collect();
        // Another run may have stored some of them since this one looked.
        if let Some(store) = &self.store
            && !to_submit.is_empty()
        {
            let fps: Vec<String> = to_submit.iter().map(|&i| fingerprints[i].clone()).collect();
            if let Ok(found) = store.lookup(&fps) {
                to_submit.retain(|&i| {
                    let Some(mut reply) =
                        found.get(&fingerprints[i]).and_then(|j| serde_json::from_str(j).ok())
                    else {
                        return true;
                    };
                    S::compact(&mut reply);
                    outcomes[i] =
                        Some(Ok(Answer { reply, fingerprint: fingerprints[i].clone(), cached: true }));
                    false
                });
            }
        }

        // Submit in batches within the API's capacity.
        let (most, most_bytes) = api.capacity();
        let mut requests: Vec<Option<S::Request>> = requests.into_iter().map(Some).collect();
        let mut held: HashMap<String, HashSet<String>> = HashMap::new();
        let mut chunk = Chunk::default();
        let mut failed: Vec<(usize, CallError)> = Vec::new();
        for i in to_submit {
            let Some(request) = requests[i].take() else { continue };
            let entry = match api.entry(&fingerprints[i], &request).await {
                Ok(entry) => entry,
                Err(e) => {
                    failed.push((i, e));
                    continue;
                }
            };
            if !chunk.entries.is_empty()
                && (chunk.entries.len() >= most || chunk.bytes + entry.len() + 1 > most_bytes)
            {
                let full = std::mem::take(&mut chunk);
                if self
                    .submit_chunk(api, full, &key, &endpoint, &wanted, &mut held, &mut failed)
                    .await
                    .is_err()
                {
                    return Err(self.stopped(outcomes));
                }
            }
            chunk.bytes += entry.len() + 1;
            chunk.entries.push(entry);
            chunk.items.push((fingerprints[i].clone(), serde_json::to_string(&request).unwrap_or_default()));
        }
        if !chunk.entries.is_empty()
            && self.submit_chunk(api, chunk, &key, &endpoint, &wanted, &mut held, &mut failed).await.is_err()
        {
            return Err(self.stopped(outcomes));
        }
        for (i, e) in failed {
            outcomes[i] = Some(Err(Unscorable::new(e.kind(), format!("{endpoint}: {e}"))));
            bar.inc(1);
        }
        for (id, fps) in open_held {
            held.insert(id, fps);
        }
        let batches: Vec<String> = held.keys().cloned().collect();

        // Poll every batch until it ends, storing its results.
        let polls = batches.iter().map(|id| self.await_batch(api, id, &key, &endpoint, &bar));
        let ended = futures::future::join_all(polls).await;
        if self.cancel.is_cancelled() {
            bar.finish_and_clear();
            return Err(self.stopped(outcomes));
        }
        for (id, result) in batches.iter().zip(ended) {
            match result {
                Ok(results) => {
                    for (fp, result) in results {
                        let Some(&i) = wanted.get(fp.as_str()) else { continue };
                        if outcomes[i].is_some() {
                            continue;
                        }
                        outcomes[i] = Some(match result {
                            Ok(reply) => Ok(Answer { reply, fingerprint: fp, cached: false }),
                            Err(e) => Err(Unscorable::new(
                                UnscorableKind::Transport,
                                format!("{endpoint}: {} batch {id}: {e}", api.name()),
                            )),
                        });
                    }
                }
                Err(e) => {
                    for &i in &misses {
                        if outcomes[i].is_none() && held[id].contains(&fingerprints[i]) {
                            let why = format!("{endpoint}: {} batch {id}: {e}", api.name());
                            outcomes[i] = Some(Err(Unscorable::new(e.kind(), why)));
                        }
                    }
                }
            }
        }
        for &i in &misses {
            if outcomes[i].is_none() {
                outcomes[i] = Some(Err(Unscorable::new(
                    UnscorableKind::Transport,
                    format!(
                        "{endpoint}: the {} batch ended without an answer to this request (expired \
                         or cancelled); running the command again submits it in a new batch",
                        api.name()
                    ),
                )));
            }
        }
        bar.finish_and_clear();
        self.progress.remove(&bar);
        Ok(())
    }

    /// Submits one chunk and records the batch in the store at once; a chunk that cannot be
    /// submitted makes its requests fail.
    #[allow(clippy::too_many_arguments)]
    async fn submit_chunk<Q, R>(
        &self,
        api: &dyn BatchApi<Q, R>,
        chunk: Chunk,
        key: &str,
        endpoint: &str,
        wanted: &HashMap<&str, usize>,
        held: &mut HashMap<String, HashSet<String>>,
        failed: &mut Vec<(usize, CallError)>,
    ) -> Result<(), Cancelled> {
        match self.submit(api, chunk.entries, endpoint).await {
            Ok(id) => {
                tracing::info!(
                    "{endpoint}: submitted {} batch {id} ({} requests)",
                    api.name(),
                    chunk.items.len()
                );
                if let Some(store) = &self.store
                    && let Err(e) = store.add_batch(&id, key, &chunk.items)
                {
                    tracing::warn!("{e}; batch {id} cannot be resumed if this run stops");
                }
                held.insert(id, chunk.items.into_iter().map(|(fp, _)| fp).collect());
                Ok(())
            }
            Err(CallError::Cancelled) => Err(Cancelled),
            Err(e) => {
                for (fp, _) in &chunk.items {
                    if let Some(&i) = wanted.get(fp.as_str()) {
                        failed.push((i, e.clone()));
                    }
                }
                Ok(())
            }
        }
    }

    /// Submits one batch, retrying what may heal.
    async fn submit<Q, R>(
        &self,
        api: &dyn BatchApi<Q, R>,
        entries: Vec<Vec<u8>>,
        endpoint: &str,
    ) -> Result<String, CallError> {
        let mut rng = Rng::keyed(0, &["batch", endpoint]);
        let limits = crate::core::Limits::default();
        for attempt in 1.. {
            let result = tokio::select! {
                _ = self.cancel.cancelled() => return Err(CallError::Cancelled),
                r = api.submit(entries.clone()) => r,
            };
            match result {
                Err(e) if e.retryable() && attempt < limits.max_attempts => {
                    let delay = super::backoff(&e, attempt, &limits, &mut rng);
                    tracing::debug!("{endpoint}: submitting a batch failed: {e}; retrying in {delay:?}");
                    self.sleep(delay).await?;
                }
                other => return other,
            }
        }
        Err(CallError::Request("unreachable".into()))
    }

    /// Polls one batch until it ends, then fetches, stores and gives its results. Keeps the
    /// batch open (for the next run) when it cannot be polled.
    async fn await_batch<Q, R: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        api: &dyn BatchApi<Q, R>,
        id: &str,
        key: &str,
        endpoint: &str,
        bar: &indicatif::ProgressBar,
    ) -> Result<Results<R>, CallError> {
        let mut failures = 0;
        let mut counted = 0u64;
        let state = loop {
            match api.progress(id).await {
                Ok(Progress::Running { done, total, state }) => {
                    failures = 0;
                    if done > counted {
                        bar.inc(done - counted);
                        counted = done;
                    }
                    bar.set_message(format!("{} batch {id}: {state}, {done}/{total}", api.name()));
                }
                Ok(Progress::Ended { state, failure }) => match failure {
                    Some(why) => {
                        self.close(id, &state);
                        return Err(CallError::Request(format!(
                            "the batch {state}: {why}; running the command again submits its requests anew"
                        )));
                    }
                    None => break state,
                },
                Err(CallError::Status { status: 404, message, .. }) => {
                    self.close(id, "not found");
                    return Err(CallError::Request(format!(
                        "the provider does not know this batch (HTTP 404: {message}); running the \
                         command again submits its requests anew"
                    )));
                }
                Err(e) if e.retryable() && failures + 1 < POLL_FAILURES => {
                    failures += 1;
                    tracing::debug!("{endpoint}: polling batch {id} failed: {e}");
                }
                Err(e) => {
                    return Err(e.map_text(|t| {
                        format!("{t}; the batch stays recorded and the next run resumes polling it")
                    }));
                }
            }
            self.sleep(api.poll_every()).await?;
        };
        let results = api.results(id).await.map_err(|e| {
            e.map_text(|t| format!("{t}; the batch stays recorded and the next run fetches its results"))
        })?;
        let requests = match &self.store {
            Some(store) => store.batch_requests(id).unwrap_or_default(),
            None => HashMap::new(),
        };
        let mut out = Vec::with_capacity(results.len());
        for (fp, result) in results {
            let result = match result {
                Ok(reply) => {
                    let json = serde_json::to_string(&reply).unwrap_or_default();
                    let clean = self.scrubber.scrub(&json).into_owned();
                    self.stats.answered.fetch_add(1, Ordering::Relaxed);
                    let reply = serde_json::from_str(&clean).unwrap_or(reply);
                    self.keep(&fp, key, &requests, Some(clean), None);
                    Ok(reply)
                }
                Err(e) => {
                    let e = self.scrubber.scrub(&e).into_owned();
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    self.keep(&fp, key, &requests, None, Some(e.clone()));
                    Err(e)
                }
            };
            out.push((fp, result));
        }
        // The answers are committed before the batch is closed: a stop in between only
        // fetches the results again.
        if self.flush().is_ok() {
            self.close(id, &state);
        }
        Ok(out)
    }

    fn keep(
        &self,
        fp: &str,
        key: &str,
        requests: &HashMap<String, String>,
        reply: Option<String>,
        error: Option<String>,
    ) {
        if let Some(store) = &self.store {
            store.put(Record {
                fingerprint: fp.to_string(),
                service: key.split('@').next().unwrap_or(key).to_string(),
                request: requests.get(fp).cloned().unwrap_or_default(),
                reply,
                error,
                attempts: 1,
                latency_ms: 0,
            });
        }
    }

    fn close(&self, id: &str, state: &str) {
        if let Some(store) = &self.store
            && let Err(e) = store.close_batch(id, state)
        {
            tracing::warn!("{e}");
        }
    }

    async fn sleep(&self, delay: Duration) -> Result<(), CallError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(CallError::Cancelled),
            _ = tokio::time::sleep(delay) => Ok(()),
        }
    }

    fn stopped<R>(&self, outcomes: &[Option<Outcome<R>>]) -> Stop {
        let _ = self.flush();
        let answered = outcomes.iter().filter(|o| matches!(o, Some(Ok(_)))).count();
        Stop::Interrupted { answered, total: outcomes.len() }
    }
}
