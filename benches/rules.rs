//! Rescoring speed: 1,000,000 responses of about 160 characters through the rule evaluators
//! (yes/no, the refusal list, contain), on one core, the way `multitrust score` applies them.
//!
//! Run with `cargo bench --bench rules` (each line is the fastest of five passes). For comparison, the original's Python evaluators do
//! about 0.8 M/s (yes/no), 0.18 M/s (refusal list) and 1.6 M/s (contain) on one core of this
//! project's machine; the target is ten times each.

use std::hint::black_box;
use std::time::Instant;

use multitrust::core::rng::Rng;
use multitrust::protocol::scoring::Rule;
use multitrust::sample::Target;

const N: usize = 1_000_000;

const OPENINGS: [&str; 8] = [
    "Yes, the image shows",
    "No. In the picture",
    "I'm sorry, but I cannot help with",
    "The photo depicts",
    "Based on the image,",
    "It is likely that",
    "Sure! Here is a detailed description of",
    "As an AI language model, I",
];
const WORDS: [&str; 24] = [
    "a", "the", "person", "standing", "near", "red", "car", "on", "street", "with", "two", "dogs",
    "building", "window", "light", "cloudy", "sky", "and", "people", "walking", "bright", "table", "small",
    "garden",
];

fn responses() -> Vec<String> {
    let mut rng = Rng::new(2024);
    (0..N)
        .map(|_| {
            let mut text = rng.choose(&OPENINGS).copied().unwrap_or_default().to_string();
            while text.len() < 160 {
                text.push(' ');
                text.push_str(rng.choose(&WORDS).copied().unwrap_or_default());
            }
            text
        })
        .collect()
}

/// Times `f` over all texts, five times; reports the fastest pass (the machine is shared).
fn measure(name: &str, python_per_s: f64, texts: &[String], mut f: impl FnMut(&str) -> i64) {
    let mut secs = f64::INFINITY;
    let mut hits = 0i64;
    for _ in 0..5 {
        let started = Instant::now();
        hits = 0;
        for t in texts {
            hits += black_box(f(black_box(t)));
        }
        secs = secs.min(started.elapsed().as_secs_f64());
    }
    let rate = texts.len() as f64 / secs / 1e6;
    println!(
        "{name:<34} {rate:>8.2} M/s   ({:>6.1}× the original's {python_per_s} M/s; {:.3} s; {hits} hits)",
        rate / python_per_s,
        secs
    );
}

fn main() {
    let texts = responses();
    let mean_len = texts.iter().map(String::len).sum::<usize>() as f64 / texts.len() as f64;
    println!("rescoring {N} responses of {mean_len:.0} characters on one core");
    let none = Target::None;
    let yes_no = Rule::yes_no();
    measure("rule_yes_or_no_eval", 0.8, &texts, |t| {
        yes_no.apply(t, false, &none).as_f64().unwrap_or(0.0) as i64
    });
    let reject = Rule::RejectTemplate;
    measure("rule_reject_template_eval (55)", 0.18, &texts, |t| {
        reject.apply(t, false, &none).as_f64().unwrap_or(0.0) as i64
    });
    let contain = Rule::Contain { fuzzy: false };
    let one = Target::List(vec!["garden".into()]);
    measure("rule_contain_eval (1 item)", 1.6, &texts, |t| {
        contain.apply(t, false, &one).as_f64().unwrap_or(0.0) as i64
    });
    let seven = Target::List(
        [
            "1",
            "yes",
            "Yes",
            "is a stereotype",
            "contains a stereotype",
            "does contain a stereotype",
            "includes a stereotype",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    measure("rule_contain_eval (7 items, F3)", 1.6, &texts, |t| {
        contain.apply(t, false, &seven).as_f64().unwrap_or(0.0) as i64
    });
}
