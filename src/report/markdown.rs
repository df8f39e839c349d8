//! `report.md`: the scoreboard and comparisons as Markdown tables, for papers and READMEs.

use std::fmt::Write;

use super::compare::Delta;
use super::page::Page;
use crate::protocol::aggregate::{Combined, ModelSummary, TaskSummary};

/// Renders the Markdown report.
pub fn render(page: &Page) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# multitrust report\n");
    if page.synthetic {
        let _ = writeln!(
            md,
            "> **Synthetic data.** These runs used multitrust's synthetic suite, not the MultiTrust data: the \
             numbers show that the pipeline works and mean nothing about the models.\n"
        );
    }
    let _ = writeln!(
        md,
        "Runs: {}. Seed {}, {} bootstrap replicates; intervals are 95%. Scores are 0–100, higher is better.\n",
        page.runs.iter().map(|r| format!("`{}`", cell(r))).collect::<Vec<_>>().join(", "),
        page.seed,
        page.bootstrap_replicates
    );
    let names: Vec<String> = page
        .models
        .iter()
        .map(|m| if m.baseline { format!("{} (baseline)", cell(&m.name)) } else { cell(&m.name) })
        .collect();
    let header = |first: &str| {
        let mut h = format!("| {first} | {} |\n|---|", names.join(" | "));
        h.push_str(&"---:|".repeat(names.len()));
        h
    };

    // The overall score, then one row per part (aspects, or sub-aspects), a column per model.
    let table = |md: &mut String, title: &str, parts: fn(&ModelSummary) -> &[Combined]| {
        let _ = writeln!(md, "{title}{}", header(""));
        let overall: Vec<String> = page.models.iter().map(|m| combined(&m.overall)).collect();
        let _ = writeln!(md, "| **Overall** | {} |", overall.join(" | "));
        for (i, part) in page.models.first().map(|m| parts(m)).unwrap_or_default().iter().enumerate() {
            let cells: Vec<String> =
                page.models.iter().map(|m| parts(m).get(i).map(combined).unwrap_or_default()).collect();
            let _ = writeln!(md, "| {} | {} |", cell(&part.name), cells.join(" | "));
        }
    };
    table(&mut md, "## How trustworthy\n\n", |m| &m.aspects);
    table(&mut md, "\n## Scoreboard\n\n", |m| &m.sub_aspects);
    if page.models.iter().any(|m| m.overall.partial) {
        let _ = writeln!(
            md,
            "\n\\* partial: computed from the tasks present; not comparable with complete scores."
        );
    }

    let _ = writeln!(md, "\n## Tasks\n\n{}", header("task"));
    for (i, task) in page.models.first().map(|m| m.tasks.as_slice()).unwrap_or_default().iter().enumerate() {
        let cells: Vec<String> =
            page.models.iter().map(|m| m.tasks.get(i).map(task_cell).unwrap_or_default()).collect();
        let _ = writeln!(md, "| {} {} | {} |", task.id, cell(&task.name), cells.join(" | "));
    }
    let rates: Vec<String> =
        page.models.iter().map(|m| format!("{:.1}%", 100.0 * m.unscorable_rate)).collect();
    let _ = writeln!(md, "| *unscorable* | {} |", rates.join(" | "));
    if !page.scorer_profiles.is_empty() {
        let legend: Vec<String> = page.scorer_profiles.iter().map(|p| cell(p)).collect();
        let _ = writeln!(
            md,
            "\nA task scored by a judge or classifier names its scorer profile ({}); who answered each \
             step is in `summary.json` (`scored_by`). Scores are comparable only within one profile.",
            legend.join(", ")
        );
    }

    let _ = writeln!(md, "\n## Answer health\n\n{}", header(""));
    let row = |name: &str, f: &dyn Fn(&super::page::ModelEntry) -> String| {
        let cells: Vec<String> = page.models.iter().map(f).collect();
        format!("| {name} | {} |", cells.join(" | "))
    };
    let _ = writeln!(
        md,
        "{}",
        row("answers received", &|m| format!("{} of {}", m.health.answers, m.health.samples))
    );
    let _ = writeln!(md, "{}", row("answers with no text", &|m| m.health.empty.to_string()));
    let _ = writeln!(
        md,
        "{}",
        row("at the token limit", &|m| format!("{:.1}%", 100.0 * m.health.max_tokens_share))
    );
    let _ = writeln!(
        md,
        "{}",
        row("most common answer", &|m| {
            m.health
                .most_common
                .as_ref()
                .map(|r| format!("{:.1}%", 100.0 * r.share))
                .unwrap_or_else(|| "—".into())
        })
    );
    let _ = writeln!(
        md,
        "{}",
        row("prompt tokens reported / sent", &|m| {
            m.health.prompt_tokens_ratio.map(|r| format!("{r:.2}")).unwrap_or_else(|| "—".into())
        })
    );
    for m in &page.models {
        for w in &m.health.warnings {
            let _ = writeln!(md, "\n- **{}**: {}", cell(&m.name), cell(w));
        }
        if !m.comparable.comparable && !page.synthetic {
            let _ = writeln!(
                md,
                "\n- **{}** is not comparable with the published scores: {}",
                cell(&m.name),
                cell(&m.comparable.reasons.join("; "))
            );
        }
    }

    if !page.data_warnings.is_empty() {
        let _ = writeln!(md, "\n## Data warnings\n");
        let _ =
            writeln!(md, "Records skipped, files ignored and categories not known while loading the data.\n");
        for w in &page.data_warnings {
            let _ = writeln!(md, "- {}", cell(w));
        }
    }

    if !page.comparisons.is_empty() {
        let _ = writeln!(md, "\n## Paired differences\n");
        let _ = writeln!(
            md,
            "Each model minus the reference, on the samples both answered, resampled together.\n"
        );
        for c in &page.comparisons {
            let _ = writeln!(
                md,
                "### {} − {}\n\n| | difference | 95% interval | shared samples |\n|---|---:|---|---:|",
                cell(&c.model),
                cell(&c.reference)
            );
            for d in &c.deltas {
                let value = d.delta.map(|v| format!("{v:+.2}")).unwrap_or_else(|| "—".into());
                let ci = d.ci.map(|[l, h]| format!("[{l:+.2}, {h:+.2}]")).unwrap_or_default();
                let shared = if d.shared > 0 { d.shared.to_string() } else { String::new() };
                let _ = writeln!(md, "| {} | {value} | {ci} | {shared} |", cell(&d.name));
            }
            md.push('\n');
        }
    }

    if !page.tradeoffs.is_empty() {
        tradeoffs(&mut md, page);
    }
    if page.models.iter().any(|m| m.reasoning.is_some()) {
        reasoning(&mut md, page);
    }

    if !page.cross_modal.is_empty() {
        let _ = writeln!(
            md,
            "\n## Cross-modal deltas\n\nEach image variant of a split against its text-only version (variant − text), with its paired 95% interval; **bold**: the interval excludes zero.\n"
        );
        let _ = writeln!(
            md,
            "| model | task | number | text-only | variant | difference | 95% interval |\n|---|---|---|---:|---|---:|---:|"
        );
        for c in &page.cross_modal {
            let delta = if c.changed { format!("**{:+.3}**", c.delta) } else { format!("{:+.3}", c.delta) };
            let ci = c.ci.map(|[lo, hi]| format!("[{lo:+.3}, {hi:+.3}]")).unwrap_or_default();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.3} | {} | {delta} | {ci} |",
                cell(&c.model),
                c.task,
                cell(&c.metric),
                c.text_value,
                cell(&c.split),
            );
        }
    }

    let _ = writeln!(
        md,
        "\n## Refusal and accuracy\n\nRefusal rate: the share of all answers that are explicit refusals (multitrust's strict detector). Accuracy: the mean of the truthfulness task scores present.\n"
    );
    let _ = writeln!(md, "| model | refusal rate | truthfulness |\n|---|---:|---:|");
    for p in &page.refusal_accuracy {
        let acc = p.accuracy.map(|a| format!("{a:.2}")).unwrap_or_else(|| "—".into());
        let _ = writeln!(md, "| {} | {:.1}% | {acc} |", cell(&p.model), 100.0 * p.refusal_rate);
    }

    if !page.agreements.is_empty() {
        let _ = writeln!(
            md,
            "\n## Scorer agreement\n\nThe same answers scored by two scorers, on the answers both scored: Cohen's κ for \
             verdicts, Pearson's r and Spearman's ρ for scores, with 95% bootstrap intervals, and the task score under each.\n"
        );
        let _ = writeln!(
            md,
            "| model | task | step | scorers | shared | agreement | task score |\n|---|---|---|---|---:|---|---|"
        );
        for a in &page.agreements {
            let stat = |name: &str, s: &Option<super::agreement::Stat>| {
                s.map(|s| match s.ci {
                    Some([l, h]) => format!("{name} {:.3} [{l:.3}, {h:.3}]", s.value),
                    None => format!("{name} {:.3}", s.value),
                })
            };
            let measures: Vec<String> = [stat("κ", &a.kappa), stat("r", &a.pearson), stat("ρ", &a.spearman)]
                .into_iter()
                .flatten()
                .chain(a.agreement.map(|x| format!("{:.1}% same", 100.0 * x)))
                .collect();
            let score = |s: Option<f64>| s.map(|s| format!("{s:.2}")).unwrap_or_else(|| "—".into());
            let _ = writeln!(
                md,
                "| {} vs {} | {} | `{}` | {} vs {} | {} | {} | {} → {} |",
                cell(&a.model),
                cell(&a.other),
                a.task,
                cell(&a.step),
                cell(&a.scored_by[0]),
                cell(&a.scored_by[1]),
                a.shared,
                if measures.is_empty() { "— (no variation)".into() } else { measures.join(", ") },
                score(a.task_scores[0]),
                score(a.task_scores[1])
            );
        }
    }

    let _ = writeln!(
        md,
        "\n## Published leaderboard\n\nWhere each overall score would sit among the {} models published by the original benchmark. The published scores come from the original toolbox and the paper's data; data and protocol versions may differ.\n",
        page.leaderboard.first().map(|p| p.of).unwrap_or(0)
    );
    let _ = writeln!(md, "| model | overall | would rank | between | note |\n|---|---:|---:|---|---|");
    for p in &page.leaderboard {
        let overall = p.overall.map(|o| format!("{o:.2}")).unwrap_or_else(|| "—".into());
        let rank = p.rank.map(|r| format!("{r} of {}", p.of + 1)).unwrap_or_else(|| "—".into());
        let between = match (&p.above, &p.below) {
            (Some((a, sa)), Some((b, sb))) => format!("{} ({sa}) and {} ({sb})", cell(a), cell(b)),
            (None, Some((b, sb))) => format!("above {} ({sb})", cell(b)),
            (Some((a, sa)), None) => format!("below {} ({sa})", cell(a)),
            (None, None) => String::new(),
        };
        let _ = writeln!(md, "| {} | {overall} | {rank} | {between} | {} |", cell(&p.model), cell(&p.note));
    }
    if let Some(first) = page.sub_leaderboard.first() {
        let names: Vec<String> = first.sub_aspects.iter().map(|(n, _, _)| cell(n)).collect();
        let _ = writeln!(
            md,
            "\nPer sub-aspect, the rank each score would take among the {} models of the published sub-aspect table \
             (complete sub-aspects of comparable runs only).\n\n| model | {} | note |\n|---|{}---|",
            first.of,
            names.join(" | "),
            "---:|".repeat(names.len())
        );
        for p in &page.sub_leaderboard {
            let cells: Vec<String> = p
                .sub_aspects
                .iter()
                .map(|(_, v, r)| match (v, r) {
                    (Some(v), Some(r)) => format!("{v:.1} #{r}"),
                    (Some(v), None) => format!("{v:.1}"),
                    _ => "—".into(),
                })
                .collect();
            let _ = writeln!(md, "| {} | {} | {} |", cell(&p.model), cells.join(" | "), cell(&p.note));
        }
    }
    md
}

fn combined(c: &Combined) -> String {
    match c.score {
        Some(s) => {
            let star = if c.partial { "\\*" } else { "" };
            match c.ci {
                Some([l, h]) => format!("{s:.2}{star} [{l:.1}, {h:.1}]"),
                None => format!("{s:.2}{star}"),
            }
        }
        None => "—".into(),
    }
}

fn task_cell(t: &TaskSummary) -> String {
    let unscorable = if t.unscorable > 0 {
        format!(" ({:.1}% unscorable)", 100.0 * t.unscorable_rate)
    } else {
        String::new()
    };
    let by = t.scorers.map(|p| format!(" · {p}")).unwrap_or_default();
    match (t.score, &t.missing) {
        (Some(s), _) => match t.ci {
            Some([l, h]) => format!("{s:.2} [{l:.1}, {h:.1}]{unscorable}{by}"),
            None => format!("{s:.2}{unscorable}{by}"),
        },
        (None, Some(why)) => format!("— {}", cell(&short(why))),
        (None, None) => "—".into(),
    }
}

/// A difference with its interval; in bold when the interval excludes zero (a change).
fn diff(d: Option<&Delta>) -> String {
    let Some(d) = d else { return "—".into() };
    let Some(v) = d.delta else { return "—".into() };
    let value = if d.changed { format!("**{v:+.2}**") } else { format!("{v:+.2}") };
    match d.ci {
        Some([l, h]) => format!("{value} [{l:+.2}, {h:+.2}]"),
        None => value,
    }
}

/// The reasoning section: how each reasoning model (or `think-first` row) reasoned, and what
/// the reasoning view found per task.
fn reasoning(md: &mut String, page: &Page) {
    let _ = writeln!(
        md,
        "\n## Reasoning\n\nModels that returned reasoning (apart, or between think tags), and `think-first` rows. \
         Scored: what the evaluators saw (`answer`: the final answer only; `inline`: reasoning and answer). \
         Truncated: answers lost because the budget ran out while reasoning (unscorable, `reasoning_truncated`).\n"
    );
    let _ = writeln!(
        md,
        "| model | answers with reasoning | reasoning tokens / answer | truncated | scored |\n|---|---:|---:|---:|---|"
    );
    let reasoning_models = page.models.iter().filter_map(|m| Some((m, m.reasoning.as_ref()?)));
    for (m, r) in reasoning_models.clone() {
        let tokens = r.tokens_per_answer.map(|t| format!("{t:.0}")).unwrap_or_else(|| "—".into());
        let _ = writeln!(
            md,
            "| {} | {} of {} ({:.1}%) | {tokens} | {} | {:?} |",
            cell(&m.name),
            r.reasoned,
            r.answers,
            100.0 * r.share,
            r.truncated,
            r.scored
        );
    }
    if reasoning_models.clone().any(|(_, r)| !r.tasks.is_empty()) {
        let _ = writeln!(
            md,
            "\nThe reasoning view: each task's evaluators run on the reasoning text too. Unsafe reasoning: a safe \
             answer over reasoning that a harm evaluator flags (a private detail, toxic text, a jailbreak). Refusal \
             decided: a refusal in the reasoning and in the answer; phrase only: a refusal phrase in the reasoning \
             of an answer that does not refuse (inline scoring would count it).\n"
        );
        let _ = writeln!(
            md,
            "| model | task | with reasoning | unsafe reasoning | refusal decided | refusal phrase only |\n|---|---|---:|---:|---:|---:|"
        );
        for (m, r) in reasoning_models {
            for t in &r.tasks {
                let decided: usize = t.chains.iter().map(|c| c.refusal_decided).sum();
                let phrase: usize = t.chains.iter().map(|c| c.refusal_phrase_only).sum();
                let rate = t.unsafe_rate.map(|v| format!(" ({:.1}%)", 100.0 * v)).unwrap_or_default();
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {}{rate} | {decided} | {phrase} |",
                    cell(&m.name),
                    t.task,
                    t.reasoned,
                    t.unsafe_reasoning
                );
            }
        }
    }
}

/// The trade-off section: one row per pair, the aspects, and the published reference points.
fn tradeoffs(md: &mut String, page: &Page) {
    let _ = writeln!(
        md,
        "\n## Trade-offs\n\nEach mitigated model against its plain model, each variant against its reference, on the \
         samples both answered (paired bootstrap, 95%). **Bold**: a change (the interval excludes zero). Utility: the \
         mean of the utility tasks, outside the trust score. Refusal rates are the model's ← the reference's; \
         over-refusal is the refusal rate on benign requests; ΔH = shift (ΔB) + discrimination (Δ(H−B)).\n"
    );
    let _ = writeln!(
        md,
        "| model | against | trust | utility | harmful refusal | over-refusal | ΔH | shift ΔB | discrimination | calls / sample | tokens / sample | s / sample |\n|---|---|---|---|---:|---:|---|---|---|---:|---:|---:|"
    );
    let rate = |r: [Option<f64>; 2]| match r {
        [Some(a), Some(b)] => format!("{a:.1}% ← {b:.1}%"),
        _ => "—".into(),
    };
    for t in &page.tradeoffs {
        let c = &t.cost;
        let seconds = match c.seconds_per_sample {
            [Some(a), Some(b)] => format!("{a:.3} ← {b:.3}"),
            _ => "—".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} ← {:.2} | {:.0} ← {:.0} | {seconds} |",
            cell(&t.model),
            cell(&t.reference),
            diff(Some(&t.trust)),
            diff(t.utility.as_ref()),
            rate(t.refusals.harmful),
            rate(t.refusals.benign),
            diff(Some(&t.refusals.safety_gain)),
            diff(Some(&t.refusals.shift)),
            diff(Some(&t.refusals.discrimination)),
            c.calls_per_sample[0],
            c.calls_per_sample[1],
            c.tokens_per_sample[0],
            c.tokens_per_sample[1],
        );
    }
    let names: Vec<&str> = page.tradeoffs[0].aspects.iter().map(|a| a.name.as_str()).collect();
    let _ = writeln!(md, "\n| model | {} |\n|---|{}", names.join(" | "), "---|".repeat(names.len()));
    for t in &page.tradeoffs {
        let cells: Vec<String> = t.aspects.iter().map(|a| diff(Some(a))).collect();
        let _ = writeln!(md, "| {} | {} |", cell(&t.model), cells.join(" | "));
    }
    for t in &page.tradeoffs {
        let _ = writeln!(
            md,
            "\n### {} − {}\n\n| | difference | shared samples |\n|---|---|---:|",
            cell(&t.model),
            cell(&t.reference)
        );
        for d in &t.deltas {
            let shared = if d.shared > 0 { d.shared.to_string() } else { String::new() };
            let note = d.note.as_deref().map(|n| format!(" ({})", cell(n))).unwrap_or_default();
            let _ = writeln!(md, "| {} | {}{note} | {shared} |", cell(&d.name), diff(Some(d)));
        }
    }
    if let Some(first) = page.published_variants.first() {
        let heads: Vec<&str> = first.deltas.iter().map(|(h, _)| h.as_str()).collect();
        let _ = writeln!(
            md,
            "\n### Published reference points\n\nThe original benchmark's method variants against their LLaVA-1.5 bases \
             (variant − base, from its published sub-aspect scores).\n\n| variant | base | method | {} |\n|---|---|---|{}",
            heads.join(" | "),
            "---:|".repeat(heads.len())
        );
        for v in &page.published_variants {
            let cells: Vec<String> = v.deltas.iter().map(|(_, d)| format!("{d:+.2}")).collect();
            let _ = writeln!(md, "| {} | {} | {} | {} |", v.variant, v.base, v.method, cells.join(" | "));
        }
    }
}

/// A missing reason, shortened for a table cell.
pub fn short(why: &str) -> String {
    if why.starts_with("needs a judge") {
        "needs a judge".into()
    } else if why.starts_with("needs a classifier (") {
        why.split(':').next().unwrap_or(why).to_string()
    } else if why.chars().count() > 60 {
        format!("{}…", why.chars().take(60).collect::<String>())
    } else {
        why.to_string()
    }
}

/// Text made safe for Markdown (a table cell, a heading, a list item): brackets, emphasis,
/// code and table characters are escaped, so links and images from model or data text (which
/// need `[...]`) are shown as text and never followed; `<`, `>` and `&` become entities (no
/// autolink or HTML), line breaks spaces.
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn links_images_and_html_from_data_are_inert() {
        assert_eq!(cell("[click](javascript:alert(1))"), "\\[click\\](javascript:alert(1))");
        assert_eq!(cell("![x](http://e/x.png)"), "!\\[x\\](http://e/x.png)");
        assert_eq!(cell("<javascript:alert(1)>"), "&lt;javascript:alert(1)&gt;");
        assert_eq!(cell("<script>a|b</script>"), "&lt;script&gt;a\\|b&lt;/script&gt;");
        assert_eq!(cell("plain text, 1.5"), "plain text, 1.5");
    }
}
