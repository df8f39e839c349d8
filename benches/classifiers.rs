//! In-process classifier speed: texts per second of a base-size RoBERTa classifier and of the
//! Longformer port (the action classifier's size) at 128 and 512 tokens, on the CPU, with
//! randomly initialised weights built from a config (nothing is downloaded).
//!
//! Texts are classified as multitrust runs them: one text per core at once, each forward pass
//! on one core (`texts_at_once` and `one_core_per_text`, as the binary does; set
//! `RAYON_NUM_THREADS` to the number of cores, with `MT_BENCH_TEXTS_AT_ONCE=1`, to time one
//! text at a time over every core instead).
//!
//! Run with `cargo bench --bench classifiers`. When `python3` (or `$MULTITRUST_PYTHON`) can
//! import torch and transformers, the same models and inputs are timed with PyTorch in the
//! same run (`benches/classifiers_torch.py`), both ways: one text at a time over every core
//! (PyTorch's default), and one text per core at once.

use std::time::Instant;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use multitrust::backends::local::encoder::{Encoder, EncoderConfig, Family};
use multitrust::backends::local::{one_core_per_text, texts_at_once};

/// The binary's allocator (see main.rs), which keeps the tensors' memory for the next ones
/// where the system allocator gives it back and faults it in again each forward pass.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Texts per length and per text at once, after one warm-up text.
const TEXTS: usize = 12;

fn config(family: Family) -> EncoderConfig {
    let longformer = family == Family::Longformer;
    let json = serde_json::json!({
        "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
        "intermediate_size": 3072, "max_position_embeddings": if longformer { 4098 } else { 514 },
        "type_vocab_size": 1, "layer_norm_eps": 1e-5, "pad_token_id": 1, "hidden_act": "gelu",
        "attention_window": 512,
    });
    serde_json::from_value(json).expect("a valid config")
}

fn main() -> candle_core::Result<()> {
    // As the binary does. SAFETY: no other thread has been started yet.
    unsafe { one_core_per_text() };
    let at_once = std::env::var("MT_BENCH_TEXTS_AT_ONCE").ok().and_then(|n| n.parse().ok());
    let at_once: usize = at_once.unwrap_or_else(texts_at_once).max(1);
    println!("model                      tokens   texts/s (candle, {at_once} at once)");
    let mut rows = Vec::new();
    for (name, family, labels) in
        [("roberta-base", Family::Roberta, 7), ("longformer-base", Family::Longformer, 6)]
    {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let model = Encoder::load(vb, &config(family), family, labels)?;
        for tokens in [128usize, 512] {
            let ids: Vec<u32> = (0..tokens as u32).map(|i| 3 + (i * 7919) % 50000).collect();
            model.logits(&ids)?;
            let start = Instant::now();
            std::thread::scope(|s| {
                let texts =
                    || (0..TEXTS).try_for_each(|_| model.logits(&ids).map(std::hint::black_box).map(drop));
                let others: Vec<_> = (1..at_once).map(|_| s.spawn(texts)).collect();
                texts().and_then(|()| others.into_iter().try_for_each(|t| t.join().expect("a text thread")))
            })?;
            let rate = (TEXTS * at_once) as f64 / start.elapsed().as_secs_f64();
            println!("{name:<26} {tokens:>6}   {rate:>8.2}");
            rows.push((name, tokens, rate));
        }
    }
    let python = std::env::var("MULTITRUST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/classifiers_torch.py");
    let mut torch = std::process::Command::new(&python);
    torch.arg(script).arg(TEXTS.to_string()).arg(at_once.to_string());
    match torch.output() {
        Ok(out) if out.status.success() => {
            println!(
                "\nmodel                      tokens   texts/s (PyTorch, 1 at once on {} threads | {at_once} at once)   candle / the faster",
                torch_threads(&out.stdout)
            );
            for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with('#')) {
                let parts: Vec<&str> = line.split_whitespace().collect();
                let [name, tokens, one, many] = parts[..] else { continue };
                let (Ok(tokens), Ok(one), Ok(many)) =
                    (tokens.parse::<usize>(), one.parse::<f64>(), many.parse::<f64>())
                else {
                    continue;
                };
                let ours =
                    rows.iter().find(|r| r.0 == name && r.1 == tokens).map(|r| r.2).unwrap_or(f64::NAN);
                println!(
                    "{name:<26} {tokens:>6}   {one:>8.2} | {many:>6.2}                                {:.2}×",
                    ours / one.max(many)
                );
            }
        }
        Ok(out) => println!(
            "\nPyTorch not timed ({python} {script}): {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed")
        ),
        Err(e) => println!("\nPyTorch not timed: {python}: {e}"),
    }
    Ok(())
}

fn torch_threads(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .find_map(|l| l.strip_prefix("# threads ").map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
