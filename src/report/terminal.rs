//! The summary a run prints on the terminal, in one screen: a task × model matrix, then per
//! model whatever looks wrong, then the trade-offs.

use std::fmt::Write;

use super::markdown::short;
use crate::pipeline::RunRecord;

/// The widest a model's column gets; longer names are cut and listed in full below.
const COLUMN: usize = 16;

/// The terminal summary of a run: one task × model matrix (models as columns) with the overall
/// and sub-aspect rows, tasks that no model could score grouped on one line, then per model only
/// what needs saying (unscorable answers, warnings, reasoning), and the trade-offs.
pub fn render(record: &RunRecord, tradeoffs: &[super::tradeoff::Tradeoff]) -> String {
    let mut out = String::new();
    let models: Vec<&crate::protocol::aggregate::ModelSummary> =
        record.models.iter().map(|m| &m.summary).collect();
    let width = models.iter().map(|m| m.name.chars().count()).max().unwrap_or(0).clamp(8, COLUMN);
    let clip = |name: &str| -> String {
        if name.chars().count() <= width {
            name.to_string()
        } else {
            format!("{}…", name.chars().take(width - 1).collect::<String>())
        }
    };
    let label_width = 46;
    let row = |out: &mut String, label: &str, cells: Vec<String>| {
        let label: String = label.chars().take(label_width).collect();
        let _ = write!(out, "{label:<label_width$}");
        for c in cells {
            let _ = write!(out, " {c:>width$}");
        }
        out.push('\n');
    };
    let number = |v: Option<f64>, partial: bool| match v {
        Some(v) if partial => format!("{v:.2}*"),
        Some(v) => format!("{v:.2}"),
        None => "-".to_string(),
    };
    out.push('\n');
    row(&mut out, "", models.iter().map(|m| clip(&m.name)).collect());
    row(&mut out, "Overall", models.iter().map(|m| number(m.overall.score, m.overall.partial)).collect());
    if let Some(first) = models.first() {
        for (i, sub) in first.sub_aspects.iter().enumerate() {
            if models.iter().all(|m| m.sub_aspects.get(i).is_none_or(|s| s.score.is_none())) {
                continue;
            }
            let cells = models
                .iter()
                .map(|m| m.sub_aspects.get(i).map(|s| number(s.score, s.partial)).unwrap_or_default())
                .collect();
            row(&mut out, &format!("  {}", sub.name), cells);
        }
        let mut unscored: Vec<String> = Vec::new();
        for (i, t) in first.tasks.iter().enumerate() {
            let tasks: Vec<Option<&crate::protocol::aggregate::TaskSummary>> =
                models.iter().map(|m| m.tasks.get(i)).collect();
            if tasks.iter().all(|t| t.is_none_or(|t| t.score.is_none())) {
                let why = t.missing.as_deref().map(short).unwrap_or_else(|| "no score".into());
                unscored.push(format!("{} ({why})", t.id));
                continue;
            }
            let by = if t.scorers.is_some() { " †" } else { "" };
            let cells = tasks
                .iter()
                .map(|t| match t {
                    Some(t) => {
                        let flag = if t.unscorable > 0 { "!" } else { "" };
                        match t.score {
                            Some(v) => format!("{v:.2}{flag}"),
                            None => "-".into(),
                        }
                    }
                    None => String::new(),
                })
                .collect();
            row(&mut out, &format!("{} {}{by}", t.id, t.name), cells);
        }
        if !unscored.is_empty() {
            let _ = writeln!(out, "not scored: {}", unscored.join(", "));
        }
    }
    let clipped: Vec<&str> =
        models.iter().map(|m| m.name.as_str()).filter(|n| n.chars().count() > width).collect();
    if !clipped.is_empty() {
        let _ = writeln!(out, "models: {}", clipped.join(", "));
    }
    let _ = writeln!(
        out,
        "* partial (tasks missing); ! some samples unscorable; intervals and every number in report.html"
    );
    if let Some(p) = models.iter().flat_map(|m| m.tasks.iter()).find_map(|t| t.scorers) {
        let _ = writeln!(out, "† judged and classified tasks: {p} profile ({})", p.label());
    }
    for m in &record.models {
        let s = &m.summary;
        let mut notes = Vec::new();
        let h = &m.health;
        if h.answers > 0 && !s.baseline {
            let repeated = h
                .most_common
                .as_ref()
                .map(|r| format!(", most common answer {:.0}%", 100.0 * r.share))
                .unwrap_or_default();
            notes.push(format!(
                "answers: {} of {}, {:.0}% at the token limit{repeated}",
                h.answers,
                h.samples,
                100.0 * h.max_tokens_share
            ));
        }
        if !h.unscorable.is_empty() {
            let kinds: Vec<String> = h.unscorable.iter().map(|(k, n)| format!("{n} {k}")).collect();
            notes.push(format!("unscorable: {}", kinds.join(", ")));
        }
        for t in s.tasks.iter().filter(|t| t.score.is_none() && t.missing.is_some()) {
            if let Some(why) = &t.missing
                && why.starts_with("split ")
            {
                notes.push(format!("{}: {why}", t.id));
            }
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
            notes.push(format!(
                "reasoning: {} of {} answers{tokens}, {} lost to the budget{view}",
                r.reasoned, r.answers, r.truncated
            ));
        }
        notes.extend(h.warnings.iter().map(|w| format!("warning: {w}")));
        if !notes.is_empty() {
            let tag = if s.baseline { " (reference baseline)" } else { "" };
            let _ = writeln!(out, "\n{}{tag}", s.name);
            for n in notes {
                let _ = writeln!(out, "  {n}");
            }
        }
    }
    if !tradeoffs.is_empty() {
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
        for t in tradeoffs {
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
