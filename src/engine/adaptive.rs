//! How many requests one endpoint gets at once: a fixed number, or a level found from what the
//! endpoint answers (`concurrency = "adaptive"`), in the manner of TCP's congestion control.
//!
//! The adaptive level starts at 8 and grows by one per answer until the endpoint first pushes
//! back (slow start), then by one per level's worth of answers (additive increase). It shrinks
//! by a tenth (multiplicative decrease) on a 429, on three 5xx within a second, and when the
//! smoothed latency rises above twice the lowest seen (the endpoint queues instead of serving),
//! at most once per smoothed latency, so one burst of 429s counts once. A 429's `Retry-After`
//! (or, without one, the `x-ratelimit-reset-*` of a spent `x-ratelimit-remaining-*`) also
//! pauses new requests until then.
//!
//! The level is a semaphore's permits: growing adds permits; shrinking forgets free ones and
//! drops busy ones as they come back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Where the adaptive level starts.
const START: usize = 8;
/// The share kept on a decrease.
const DECREASE: f64 = 0.9;

/// The requests in flight allowed to one endpoint.
#[derive(Debug)]
pub struct Level {
    semaphore: Semaphore,
    /// The fixed level, or the adaptive level's maximum.
    max: usize,
    adaptive: Option<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    /// The target level (fractional: additive increase adds 1/level per answer).
    limit: f64,
    /// Permits that exist (free or held), apart from those owed.
    granted: usize,
    /// Busy permits to drop when they come back.
    debt: usize,
    max: usize,
    slow_start: bool,
    last_decrease: Option<Instant>,
    lowest: Option<f64>,
    smoothed: Option<f64>,
    server_errors: Vec<Instant>,
    paused_until: Option<Instant>,
}

/// A slot for one request; dropping it frees the slot (or retires it, when the level fell).
#[derive(Debug)]
pub struct Slot<'a> {
    permit: Option<SemaphorePermit<'a>>,
    level: &'a Level,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let (Some(permit), Some(state)) = (self.permit.take(), &self.level.adaptive) {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            if s.debt > 0 {
                s.debt -= 1;
                permit.forget();
            }
        }
    }
}

impl Level {
    /// `concurrency` at once, or an adaptive level of at most `concurrency`.
    pub fn new(concurrency: usize, adaptive: bool) -> Level {
        let max = concurrency.max(1);
        if !adaptive {
            return Level { semaphore: Semaphore::new(max), max, adaptive: None };
        }
        let start = START.min(max);
        Level {
            semaphore: Semaphore::new(start),
            max,
            adaptive: Some(Mutex::new(State {
                limit: start as f64,
                granted: start,
                debt: 0,
                max,
                slow_start: true,
                last_decrease: None,
                lowest: None,
                smoothed: None,
                server_errors: Vec::new(),
                paused_until: None,
            })),
        }
    }

    /// The requests allowed in flight now.
    pub fn current(&self) -> usize {
        match &self.adaptive {
            None => self.max,
            Some(state) => state.lock().unwrap_or_else(|e| e.into_inner()).granted,
        }
    }

    /// About how long the endpoint takes to answer (the smoothed latency; 50 ms before the
    /// first answer).
    pub fn pace(&self) -> Duration {
        let smoothed =
            self.adaptive.as_ref().and_then(|s| s.lock().unwrap_or_else(|e| e.into_inner()).smoothed);
        Duration::from_secs_f64(smoothed.unwrap_or(0.05).clamp(0.001, 5.0))
    }

    /// Whether the level adapts.
    pub fn adaptive(&self) -> bool {
        self.adaptive.is_some()
    }

    /// Waits for a slot (and for a pause the endpoint asked for to end).
    pub async fn acquire(&self) -> Option<Slot<'_>> {
        loop {
            let until =
                self.adaptive.as_ref().and_then(|s| s.lock().unwrap_or_else(|e| e.into_inner()).paused_until);
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t.into()).await,
                _ => break,
            }
        }
        let permit = self.semaphore.acquire().await.ok()?;
        Some(Slot { permit: Some(permit), level: self })
    }

    /// An answer came back after `latency`.
    pub fn answered(&self, latency: Duration) {
        self.update(|s| {
            let l = latency.as_secs_f64();
            s.lowest = Some(s.lowest.map_or(l, |m| m.min(l)));
            let smoothed = s.smoothed.map_or(l, |m| 0.9 * m + 0.1 * l);
            s.smoothed = Some(smoothed);
            // Latency rising well above the lowest: the endpoint queues rather than serves.
            if s.lowest.is_some_and(|low| low > 0.0 && smoothed > 2.0 * low.max(0.005)) {
                s.decrease();
            } else if s.slow_start {
                s.limit += 1.0;
            } else {
                s.limit += 1.0 / s.limit.max(1.0);
            }
        });
    }

    /// The endpoint answered 429 (too many requests), maybe saying when to come back.
    pub fn overloaded(&self, retry_after: Option<Duration>) {
        self.update(|s| {
            if let Some(wait) = retry_after {
                s.pause(wait);
            }
            s.decrease();
        });
    }

    /// The endpoint answered with a server error (5xx).
    pub fn failed(&self) {
        self.update(|s| {
            let now = Instant::now();
            s.server_errors.retain(|t| now.duration_since(*t) < Duration::from_secs(1));
            s.server_errors.push(now);
            if s.server_errors.len() >= 3 {
                s.server_errors.clear();
                s.decrease();
            }
        });
    }

    /// Changes the state and brings the semaphore's permits to the new level.
    fn update(&self, change: impl FnOnce(&mut State)) {
        let Some(state) = &self.adaptive else { return };
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut s);
        s.limit = s.limit.clamp(1.0, s.max as f64);
        let target = (s.limit.floor() as usize).clamp(1, s.max);
        if target > s.granted {
            let more = target - s.granted;
            let repaid = more.min(s.debt);
            s.debt -= repaid;
            self.semaphore.add_permits(more - repaid);
        } else if target < s.granted {
            let fewer = s.granted - target;
            let forgotten = self.semaphore.forget_permits(fewer);
            s.debt += fewer - forgotten;
        }
        s.granted = target;
    }
}

impl State {
    /// A tenth fewer, at most once per smoothed latency (a burst of refusals counts once).
    fn decrease(&mut self) {
        let now = Instant::now();
        let window = Duration::from_secs_f64(self.smoothed.unwrap_or(0.05).max(0.05));
        if self.last_decrease.is_some_and(|t| now.duration_since(t) < window) {
            return;
        }
        self.last_decrease = Some(now);
        self.slow_start = false;
        self.limit = (self.limit * DECREASE).max(1.0);
        // The queue the latency rise came from drains at the lower level: start anew.
        self.lowest = None;
        self.smoothed = None;
    }

    fn pause(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        self.paused_until = Some(self.paused_until.map_or(until, |t| t.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_level_grows_while_answers_come_and_falls_by_a_tenth_on_a_429() {
        let level = Level::new(100, true);
        assert_eq!(level.current(), START);
        for _ in 0..20 {
            level.answered(Duration::from_millis(10));
        }
        assert_eq!(level.current(), 28, "slow start: one more per answer");
        level.overloaded(None);
        assert_eq!(level.current(), 25);
        level.overloaded(None);
        assert_eq!(level.current(), 25, "a burst of 429s counts once");
        // Additive increase: about one more per level's worth of answers.
        for _ in 0..26 {
            level.answered(Duration::from_millis(10));
        }
        assert_eq!(level.current(), 26);
        // Held slots are retired as they come back when the level falls below them.
        let held: Vec<_> = futures::future::join_all((0..26).map(|_| level.acquire())).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        level.overloaded(None);
        assert_eq!(level.current(), 23);
        drop(held);
        assert_eq!(level.semaphore.available_permits(), 23);
        let fixed = Level::new(7, false);
        fixed.overloaded(None);
        assert_eq!(fixed.current(), 7, "a fixed level does not move");
    }

    #[tokio::test]
    async fn retry_after_pauses_new_requests() {
        let level = Level::new(10, true);
        level.overloaded(Some(Duration::from_millis(150)));
        let t0 = Instant::now();
        let _slot = level.acquire().await;
        assert!(t0.elapsed() >= Duration::from_millis(140), "{:?}", t0.elapsed());
    }
}
