//! The engine against loopback servers: retries on 429 (with Retry-After) and 500, a stalled
//! server hitting the timeout, other 4xx reported at once, and the store.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use multitrust::backends::{ChatRequest, ChatService};
use multitrust::config::Profile;
use multitrust::engine::{Engine, Store};
use multitrust::sample::Message;

fn ok_body(text: &str) -> serde_json::Value {
    json!({"choices": [{"message": {"content": text}, "finish_reason": "stop"}]})
}

fn service(url: &str, timeout_s: f64, attempts: u32) -> Arc<ChatService> {
    let mut p = Profile::shorthand("openai:m", Some(url)).unwrap();
    p.timeout_s = Some(timeout_s);
    p.max_attempts = Some(attempts);
    p.max_retry_delay_s = Some(5.0);
    Arc::new(ChatService::from_profile(&p).unwrap())
}

fn request(text: &str) -> ChatRequest {
    ChatRequest::greedy(vec![Message::user(text, None)], 5)
}

/// Answers with a scripted sequence of responses, then the last one forever.
struct Script {
    steps: Vec<ResponseTemplate>,
    calls: Arc<AtomicUsize>,
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.steps[n.min(self.steps.len() - 1)].clone()
    }
}

async fn scripted(steps: Vec<ResponseTemplate>) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST")).respond_with(Script { steps, calls: calls.clone() }).mount(&server).await;
    (server, calls)
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_for_and_retried() {
    let (server, calls) = scripted(vec![
        ResponseTemplate::new(429)
            .insert_header("retry-after", "1")
            .set_body_json(json!({"error": {"message": "slow down"}})),
        ResponseTemplate::new(200).set_body_json(ok_body("fine")),
    ])
    .await;
    let engine = Engine::new(None).quiet();
    let started = Instant::now();
    let out = engine.run(&service(&server.uri(), 5.0, 3), vec![request("a")], "t").await.unwrap();
    assert_eq!(out[0].as_ref().unwrap().reply.text, "fine");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "the server's wait was honoured");
    assert_eq!(engine.stats.snapshot().3, 1, "one retry");
}

#[tokio::test]
async fn server_errors_are_retried_and_gemini_body_delays_read() {
    let (server, calls) = scripted(vec![
        ResponseTemplate::new(500).set_body_string("oops"),
        ResponseTemplate::new(503).set_body_json(json!({"error": {"code": 503, "details": [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.1s"}]}})),
        ResponseTemplate::new(200).set_body_json(ok_body("third time")),
    ])
    .await;
    let engine = Engine::new(None).quiet();
    let out = engine.run(&service(&server.uri(), 5.0, 4), vec![request("a")], "t").await.unwrap();
    assert_eq!(out[0].as_ref().unwrap().reply.text, "third time");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn attempts_are_capped_and_end_unscorable() {
    let (server, calls) = scripted(vec![ResponseTemplate::new(500).set_body_string("always down")]).await;
    let engine = Engine::new(None).quiet();
    let out = engine.run(&service(&server.uri(), 5.0, 3), vec![request("a")], "t").await.unwrap();
    let reason = &out[0].as_ref().unwrap_err().reason;
    assert!(reason.contains("HTTP 500") && reason.contains("3 attempts"), "{reason}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn other_4xx_are_reported_at_once() {
    let (server, calls) =
        scripted(vec![ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "bad key"}}))])
            .await;
    let engine = Engine::new(None).quiet();
    let out = engine.run(&service(&server.uri(), 5.0, 5), vec![request("a")], "t").await.unwrap();
    assert!(out[0].as_ref().unwrap_err().reason.contains("bad key"));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no retry on 401");
}

#[tokio::test]
async fn a_stalled_server_hits_the_timeout() {
    let (server, calls) = scripted(vec![
        ResponseTemplate::new(200).set_body_json(ok_body("late")).set_delay(Duration::from_secs(30)),
    ])
    .await;
    let engine = Engine::new(None).quiet();
    let started = Instant::now();
    let out = engine.run(&service(&server.uri(), 0.3, 2), vec![request("a")], "t").await.unwrap();
    let reason = &out[0].as_ref().unwrap_err().reason;
    assert!(reason.contains("no answer within"), "{reason}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() < Duration::from_secs(25), "did not wait for the stalled answer");
}

#[tokio::test]
async fn the_store_answers_second_runs_and_keeps_errors_for_retry() {
    let server = MockServer::start().await;
    let fake = common::FakeChat::default();
    *fake.fail_on.lock().unwrap() = Some("awful".into());
    Mock::given(method("POST")).respond_with(fake.clone()).mount(&server).await;
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&tmp.path().join("store.sqlite")).unwrap());
    let svc = service(&server.uri(), 5.0, 1);
    let requests = || vec![request("a lovely day"), request("an awful day"), request("lovely again")];

    let engine = Engine::new(Some(store.clone())).quiet();
    let first = engine.run(&svc, requests(), "t").await.unwrap();
    assert!(first[0].is_ok() && first[1].is_err() && first[2].is_ok());
    assert_eq!(fake.answered.load(Ordering::SeqCst), 2);
    store.flush().unwrap();

    // Second run: the two answers come from the store; the error is sent again.
    *fake.fail_on.lock().unwrap() = None;
    let engine = Engine::new(Some(store.clone())).quiet();
    let second = engine.run(&svc, requests(), "t").await.unwrap();
    assert!(second.iter().all(Result::is_ok));
    assert!(second[0].as_ref().unwrap().cached && !second[1].as_ref().unwrap().cached);
    assert_eq!(fake.answered.load(Ordering::SeqCst), 3, "only the failed request was sent again");
    assert_eq!(second[0].as_ref().unwrap().reply, first[0].as_ref().unwrap().reply);

    // Store-only mode sends nothing and says what is missing.
    let offline = Engine::store_only(store.clone()).quiet();
    let third = offline.run(&svc, vec![request("never asked")], "t").await.unwrap();
    assert!(third[0].as_ref().unwrap_err().reason.contains("no stored answer"));
    assert_eq!(fake.answered.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn concurrency_is_bounded_per_endpoint() {
    struct Gauge {
        now: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    }
    impl Respond for Gauge {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            // Count a request as in flight from its arrival until shortly before its answer
            // leaves (the answer is delayed 300 ms; the count drops after 100 ms), so the
            // gauge can under-count but never over-count.
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
            let now = self.now.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                now.fetch_sub(1, Ordering::SeqCst);
            });
            ResponseTemplate::new(200).set_body_json(ok_body("x")).set_delay(Duration::from_millis(300))
        }
    }
    let server = MockServer::start().await;
    let peak = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .respond_with(Gauge { now: Arc::new(AtomicUsize::new(0)), peak: peak.clone() })
        .mount(&server)
        .await;
    let mut p = Profile::shorthand("openai:m", Some(&server.uri())).unwrap();
    p.concurrency = Some(multitrust::core::Concurrency::Fixed(3));
    let svc = Arc::new(ChatService::from_profile(&p).unwrap());
    let engine = Engine::new(None).quiet();
    let requests: Vec<ChatRequest> = (0..12).map(|i| request(&format!("q{i}"))).collect();
    let out = engine.run(&svc, requests, "t").await.unwrap();
    assert!(out.iter().all(Result::is_ok));
    let peak = peak.load(Ordering::SeqCst);
    assert!((2..=3).contains(&peak), "peak in flight {peak}, limit 3");
}

#[tokio::test]
async fn requests_per_minute_are_limited() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body("x")))
        .mount(&server)
        .await;
    let mut p = Profile::shorthand("openai:m", Some(&server.uri())).unwrap();
    // 600 per minute = one every 100 ms after a burst of 60 (a tenth of the rate).
    p.rpm = Some(600);
    p.concurrency = Some(multitrust::core::Concurrency::Fixed(100));
    let svc = Arc::new(ChatService::from_profile(&p).unwrap());
    let engine = Engine::new(None).quiet();
    let started = Instant::now();
    let requests: Vec<ChatRequest> = (0..70).map(|i| request(&format!("q{i}"))).collect();
    let out = engine.run(&svc, requests, "t").await.unwrap();
    assert!(out.iter().all(Result::is_ok));
    // 10 requests beyond the burst need at least 10 × 100 ms.
    assert!(started.elapsed() >= Duration::from_millis(950), "{:?}", started.elapsed());
}

#[tokio::test]
async fn the_same_request_is_sent_once_within_and_across_concurrent_batches() {
    let server = MockServer::start().await;
    let fake = common::FakeChat::default();
    Mock::given(method("POST")).respond_with(fake.clone()).mount(&server).await;
    let svc = service(&server.uri(), 5.0, 1);
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Some(Arc::new(Store::open(&tmp.path().join("s.sqlite")).unwrap()))).quiet();
    let batch = || vec![request("lovely"), request("awful"), request("lovely")];
    let (a, b) = tokio::join!(engine.run(&svc, batch(), "a"), engine.run(&svc, batch(), "b"));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(fake.answered.load(Ordering::SeqCst), 2, "two distinct requests, each sent once");
    assert!(a.iter().chain(&b).all(Result::is_ok));
    assert_eq!(a[0].as_ref().unwrap().reply, a[2].as_ref().unwrap().reply);
    // And just after: answered from the store (committed or not), nothing sent.
    let c = engine.run(&svc, batch(), "c").await.unwrap();
    assert!(c.iter().all(|o| o.as_ref().unwrap().cached));
    assert_eq!(fake.answered.load(Ordering::SeqCst), 2);
}

/// A server that serves at most `capacity` requests at once (each takes `latency`) and answers
/// 429 to any request beyond that, as a rate-limited provider does; it tells how many it
/// served and over how long.
struct Capacity {
    capacity: usize,
    latency: Duration,
    starts: std::sync::Mutex<std::collections::VecDeque<Instant>>,
    served: Arc<std::sync::Mutex<Vec<Instant>>>,
    refused: Arc<AtomicUsize>,
}

impl Respond for Capacity {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let now = Instant::now();
        let mut starts = self.starts.lock().unwrap();
        while starts.front().is_some_and(|t| *t + self.latency <= now) {
            starts.pop_front();
        }
        if starts.len() >= self.capacity {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return ResponseTemplate::new(429).set_body_json(json!({"error": {"message": "rate limited"}}));
        }
        starts.push_back(now);
        self.served.lock().unwrap().push(now);
        ResponseTemplate::new(200).set_body_json(ok_body("ok")).set_delay(self.latency)
    }
}

#[tokio::test]
async fn adaptive_concurrency_finds_a_hidden_capacity_and_loses_no_request() {
    let (capacity, latency) = (16, Duration::from_millis(60));
    let served = Arc::new(std::sync::Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Capacity {
            capacity,
            latency,
            starts: Default::default(),
            served: served.clone(),
            refused: refused.clone(),
        })
        .mount(&server)
        .await;
    let mut p = Profile::shorthand("openai:m", Some(&server.uri())).unwrap();
    p.concurrency = Some(multitrust::core::Concurrency::Adaptive);
    p.max_concurrency = Some(200);
    let service = Arc::new(ChatService::from_profile(&p).unwrap());
    let n = 1000;
    let requests: Vec<ChatRequest> = (0..n).map(|i| request(&format!("question {i}"))).collect();
    let out = Engine::new(None).quiet().run(&service, requests, "adaptive").await.unwrap();
    assert!(out.iter().all(|o| o.is_ok()), "no unscorable sample");
    assert!(refused.load(Ordering::SeqCst) > 0, "the level went past the capacity and was pushed back");
    // Little's law: the average in flight is the work served over the time it took.
    let served = served.lock().unwrap();
    let span = (*served.last().unwrap() + latency).duration_since(served[0]);
    let average = served.len() as f64 * latency.as_secs_f64() / span.as_secs_f64();
    assert_eq!(served.len(), n);
    eprintln!("average in flight {average:.1} of {capacity}, {} refused", refused.load(Ordering::SeqCst));
    assert!(
        (average - capacity as f64).abs() <= 0.2 * capacity as f64,
        "average in flight {average:.1} against a capacity of {capacity} (refused {})",
        refused.load(Ordering::SeqCst)
    );
}

/// Counts what it answers, after `delay`.
struct Counting {
    answered: Arc<AtomicUsize>,
    delay: Duration,
}

impl Respond for Counting {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.answered.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(ok_body("ok")).set_delay(self.delay)
    }
}

#[tokio::test]
async fn replicas_share_the_load_and_the_run_finishes_on_one_when_the_other_stops() {
    let delay = Duration::from_millis(15);
    let (a_count, b_count) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // Not from wiremock's pool: dropping it closes its port, as a stopped server does.
    let a = MockServer::builder().start().await;
    Mock::given(method("POST")).respond_with(Counting { answered: a_count.clone(), delay }).mount(&a).await;
    let b = MockServer::start().await;
    Mock::given(method("POST")).respond_with(Counting { answered: b_count.clone(), delay }).mount(&b).await;
    let (url_a, url_b) = (a.uri(), b.uri());
    let mut p = Profile::shorthand("openai:m", Some(&url_a)).unwrap();
    p.base_urls = vec![url_a.clone(), url_b.clone()];
    p.concurrency = Some(multitrust::core::Concurrency::Fixed(8));
    p.max_retry_delay_s = Some(0.2);
    let service = Arc::new(ChatService::from_profile(&p).unwrap());
    // The replicas answer as the first one: the same fingerprints as a single-URL profile.
    let single = ChatService::from_profile(&Profile::shorthand("openai:m", Some(&url_a)).unwrap()).unwrap();
    use multitrust::engine::Service;
    assert_eq!(service.identity(), single.identity());
    // Replica A stops after its 60th answer.
    let stopper = {
        let (a_count, b_count) = (a_count.clone(), b_count.clone());
        tokio::spawn(async move {
            while a_count.load(Ordering::SeqCst) < 60 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            drop(a);
            b_count.load(Ordering::SeqCst)
        })
    };
    let n = 600;
    let requests: Vec<ChatRequest> = (0..n).map(|i| request(&format!("question {i}"))).collect();
    let out = Engine::new(None).quiet().run(&service, requests, "replicas").await.unwrap();
    let b_while_both = stopper.await.unwrap();
    assert!(
        (40..=80).contains(&b_while_both),
        "least loaded first: B answered {b_while_both} while A answered 60"
    );
    let failed: Vec<_> = out.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let (from_a, from_b) = (a_count.load(Ordering::SeqCst), b_count.load(Ordering::SeqCst));
    // Both took part while both were up (least loaded first: about half each), and B
    // answered everything after A stopped.
    assert!((60..=70).contains(&from_a), "A answered {from_a}");
    assert!(from_b >= n - from_a, "B answered {from_b} of {n}");
}
