//! The summary a run prints on the terminal: each model's task scores, its overall score, the
//! health of its answers and whatever looks wrong.

use std::fmt::Write;

use super::markdown::short;
use crate::pipeline::RunRecord;

/// The terminal summary of a run.
pub fn render(record: &RunRecord) -> String {
    let mut out = String::new();
    for m in &record.models {
        let s = &m.summary;
        let tag = if s.baseline { " (reference baseline)" } else { "" };
        let _ = writeln!(out, "\n{}{tag}", s.name);
        if let Some(p) = s.tasks.iter().find_map(|t| t.scorers) {
            let _ = writeln!(out, "  judged and classified tasks: {p} profile ({})", p.label());
        }
        for t in &s.tasks {
            let score = match (t.score, &t.missing) {
                (Some(v), _) => {
                    let by = t.scorers.map(|p| format!("  · {p}")).unwrap_or_default();
                    match t.ci {
                        Some([lo, hi]) => format!("{v:6.2}  [{lo:.2}, {hi:.2}]{by}"),
                        None => format!("{v:6.2}{by}"),
                    }
                }
                (None, Some(why)) => format!("   -    {}", short(why)),
                (None, None) => "   -".to_string(),
            };
            let unscorable = if t.unscorable > 0 {
                format!("  ({} of {} unscorable)", t.unscorable, t.samples)
            } else {
                String::new()
            };
            let _ = writeln!(out, "  {:<4} {:<44} {score}{unscorable}", t.id, t.name);
        }
        let overall = match s.overall.score {
            Some(v) if s.overall.partial => format!("{v:.2} (partial: not comparable)"),
            Some(v) => format!("{v:.2}"),
            None => "missing".to_string(),
        };
        let _ = writeln!(out, "  overall: {overall}");
        let h = &m.health;
        if h.answers > 0 && !s.baseline {
            let repeated = h
                .most_common
                .as_ref()
                .map(|r| format!(", most common answer {:.0}%", 100.0 * r.share))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  answers: {} of {}, {:.0}% at the token limit{repeated}",
                h.answers,
                h.samples,
                100.0 * h.max_tokens_share
            );
        }
        if !h.unscorable.is_empty() {
            let kinds: Vec<String> = h.unscorable.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let _ = writeln!(out, "  unscorable: {}", kinds.join(", "));
        }
        if let Some(r) = &s.reasoning {
            let tokens = r
                .tokens_per_answer
                .map(|t| format!(", {t:.0} reasoning tokens per answer"))
                .unwrap_or_default();
            let unsafe_: usize = r.tasks.iter().map(|t| t.unsafe_reasoning).sum();
            let view = if r.tasks.is_empty() {
                String::new()
            } else {
                format!("; {unsafe_} safe answer(s) over unsafe reasoning")
            };
            let _ = writeln!(
                out,
                "  reasoning: {} of {} answers{tokens}, {} lost to the budget{view}",
                r.reasoned, r.answers, r.truncated
            );
        }
        for w in &h.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
    }
    let runs = super::compare::Runs::new(std::slice::from_ref(record));
    let pairs = super::tradeoff::tradeoffs(&runs);
    if !pairs.is_empty() {
        let _ = writeln!(out, "\ntrade-offs (against the reference, 95% intervals; * a change):");
        let show = |d: Option<&super::compare::Delta>| match d.and_then(|d| d.delta.map(|v| (v, d))) {
            Some((v, d)) => {
                let star = if d.changed { "*" } else { "" };
                match d.ci {
                    Some([l, h]) => format!("{v:+.2}{star} [{l:+.2}, {h:+.2}]"),
                    None => format!("{v:+.2}{star}"),
                }
            }
            None => "-".into(),
        };
        for t in &pairs {
            let over = match t.refusals.benign {
                [Some(a), Some(b)] => format!("{a:.1}% (was {b:.1}%)"),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "  {}: trust {}, utility {}, over-refusal {over}, {:.2} calls per sample",
                t.model,
                show(Some(&t.trust)),
                show(t.utility.as_ref()),
                t.cost.calls_per_sample[0]
            );
        }
    }
    let warnings = super::page::data_warnings(std::slice::from_ref(record));
    if !warnings.is_empty() {
        let _ = writeln!(out, "\ndata warnings (--strict makes them fail the run):");
        for w in warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    let c = &record.manifest.comparable;
    if !c.comparable && !record.manifest.data.synthetic {
        let _ = writeln!(out, "\nnot comparable with the published leaderboard: {}", c.reasons.join("; "));
    }
    out
}
