//! The health of a model's answers: signs that the numbers come from a broken setup rather
//! than from the model (empty answers, answers cut at the token limit, the same answer to
//! everything, a server that reports far fewer prompt tokens than it was sent).

use std::collections::HashMap;

use super::record::{Health, Repeated, SplitRecord};
use crate::backends::Finish;

/// Share of answers at the token limit above which a warning is given.
pub const MAX_TOKENS_WARNING: f64 = 0.5;
/// Share of identical answers above which a warning is given (not for baselines).
pub const REPEATED_WARNING: f64 = 0.5;
/// Reported over estimated prompt tokens below which a warning is given.
pub const PROMPT_RATIO_WARNING: f64 = 0.5;
/// Answers needed before the share warnings speak.
const MIN_ANSWERS: usize = 20;

/// The health of one model's answers over all its splits.
pub fn assess(splits: &[&SplitRecord], baseline: bool) -> Health {
    let mut h = Health::default();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut ratios = Vec::new();
    for split in splits {
        h.samples += split.samples.len();
        for (sample, answer) in split.samples.iter().zip(&split.answers) {
            let Ok(a) = answer else { continue };
            h.answers += 1;
            if a.response.finish == Finish::Length {
                h.max_tokens += 1;
            }
            *counts.entry(a.response.text.as_str()).or_default() += 1;
            let estimated = sample.text().chars().count() as f64 / 4.0;
            if let Some(usage) = a.response.usage
                && usage.input > 0
                && estimated >= 20.0
            {
                ratios.push(usage.input as f64 / estimated);
            }
        }
        for s in &split.scores.samples {
            if let Some(u) = s.failure() {
                *h.unscorable.entry(u.kind.name().to_string()).or_default() += 1;
            }
        }
    }
    h.empty = h.unscorable.get("empty").copied().unwrap_or(0);
    let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    h.max_tokens_share = share(h.max_tokens, h.answers);
    h.most_common = counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(text, &count)| Repeated { text: clip(text, 80), count, share: share(count, h.answers) });
    ratios.sort_by(f64::total_cmp);
    h.prompt_tokens_ratio = ratios.get(ratios.len() / 2).copied();

    let pct = |x: f64| format!("{:.0}%", 100.0 * x);
    if h.answers >= MIN_ANSWERS && h.max_tokens_share >= MAX_TOKENS_WARNING {
        h.warnings.push(format!(
            "{} of answers stopped at the token limit (finish_reason length): the scores judge cut answers; \
             a reasoning model may need a larger budget",
            pct(h.max_tokens_share)
        ));
    }
    if h.empty > 0 {
        h.warnings.push(format!("{} answer(s) had no text and are unscorable (kind `empty`)", h.empty));
    }
    if let Some(r) = &h.most_common
        && !baseline
        && h.answers >= MIN_ANSWERS
        && r.share >= REPEATED_WARNING
    {
        h.warnings.push(format!(
            "{} of answers are the same text ({:?}): check that the server sees the prompts",
            pct(r.share),
            r.text
        ));
    }
    if let Some(ratio) = h.prompt_tokens_ratio
        && ratio < PROMPT_RATIO_WARNING
    {
        h.warnings.push(format!(
            "the server reports {ratio:.2}× the prompt tokens the text sent should take: it may drop \
             text parts of the messages (check its chat template and multimodal support)"
        ));
    }
    h
}

fn clip(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(n).collect::<String>())
    }
}
