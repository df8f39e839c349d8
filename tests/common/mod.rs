//! Shared test helpers: small data fixtures in the official layout, and fake model servers
//! on loopback.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

/// Writes a small PNG of one colour.
pub fn png(path: &Path, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(8, 8, image::Rgb(rgb)).save(path).unwrap();
}

/// The unrelated-image pool: three images of each kind.
pub fn write_unrelated_pool(data: &Path) {
    for (k, kind) in ["color", "nature", "noise"].iter().enumerate() {
        for i in 0..3u8 {
            png(&data.join(format!("unrelated_images/{kind}_{i}.png")), [i * 70, k as u8 * 80, 30]);
        }
    }
}

/// R3 data: `n` sentences in each of three categories, with related images. Sentences with
/// "lovely" are positive (label "1"), with "awful" negative.
pub fn write_r3(data: &Path, n: usize) {
    let mut all = serde_json::Map::new();
    let mut id = 0;
    for category in ["augment", "shake_w", "tweet_p0"] {
        let mut records = Vec::new();
        for k in 0..n {
            let (word, label) = if k % 2 == 0 { ("awful", "0") } else { ("lovely", "1") };
            records.push(json!({"sentence": format!("The {category} play number {k} was {word}."),
                                "label": label, "id": id}));
            png(&data.join(format!("robustness/ood-text/related/{id}.png")), [id as u8 * 9, 99, 20]);
            id += 1;
        }
        all.insert(category.to_string(), Value::Array(records));
    }
    all.insert("base".into(), json!([]));
    std::fs::create_dir_all(data.join("robustness/ood-text")).unwrap();
    std::fs::write(data.join("robustness/ood-text/label.json"), Value::Object(all).to_string()).unwrap();
    write_unrelated_pool(data);
}

/// A fake OpenAI-compatible `/chat/completions` that answers sentiment prompts correctly
/// ("lovely" → positive), and can fail or stall on demand. It records what it answered.
#[derive(Clone, Default)]
pub struct FakeChat {
    /// Requests answered so far.
    pub answered: Arc<AtomicUsize>,
    /// Bodies of the requests answered.
    pub bodies: Arc<Mutex<Vec<Value>>>,
    /// After this many answers, stall (0 = never stall).
    pub stall_after: Arc<AtomicUsize>,
    /// Answer 500 to prompts containing this text.
    pub fail_on: Arc<Mutex<Option<String>>>,
}

impl FakeChat {
    /// The user text of a request body.
    pub fn prompt(body: &Value) -> String {
        let content = &body["messages"][0]["content"];
        match content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    }

    /// How many distinct requests were answered more than once.
    pub fn duplicates(&self) -> usize {
        let bodies = self.bodies.lock().unwrap();
        let mut seen: Vec<String> = bodies.iter().map(|b| b.to_string()).collect();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        n - seen.len()
    }
}

impl Respond for FakeChat {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let prompt = Self::prompt(&body);
        if let Some(bad) = self.fail_on.lock().unwrap().as_ref()
            && prompt.contains(bad.as_str())
        {
            return ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "boom"}}));
        }
        let stall = self.stall_after.load(Ordering::SeqCst);
        if stall > 0 && self.answered.load(Ordering::SeqCst) >= stall {
            return ResponseTemplate::new(200).set_delay(Duration::from_secs(600));
        }
        self.answered.fetch_add(1, Ordering::SeqCst);
        self.bodies.lock().unwrap().push(body);
        let answer = if prompt.contains("lovely") { "positive" } else { "negative" };
        ResponseTemplate::new(200).set_body_json(json!({
            "id": "x", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1}
        }))
    }
}
