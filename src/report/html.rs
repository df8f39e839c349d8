//! `report.html`: one self-contained page (no external scripts, fonts or images) with inline
//! SVG charts, per-task tables and a sample browser. The template is `report.html` next to this
//! file, rendered by minijinja with HTML auto-escaping: every text from data or models is escaped.

use std::collections::BTreeMap;

use minijinja::value::{Serde, Value};
use minijinja::{Environment, UndefinedBehavior, context};

use super::markdown::short;
use super::page::Page;
use super::svg::{self, Mark, Point, Row};

/// The page template.
pub const TEMPLATE: &str = include_str!("report.html");

/// Where the sample browser's data goes in the rendered page: a tag no escaped text can spell
/// (every text from data or models has its `<` escaped), replaced as the page is written.
const BROWSER_DATA: &str = "<multitrust-browser-data/>";

/// Writes the rendered page with the sample browser's data streamed into its place (the data,
/// tens of megabytes for a large run, is never held whole as text).
pub fn write(
    rendered: &str,
    browser: &super::browser::Browser,
    w: &mut impl std::io::Write,
) -> std::io::Result<()> {
    match rendered.split_once(BROWSER_DATA) {
        Some((head, tail)) => {
            w.write_all(head.as_bytes())?;
            browser.write_script_json(w)?;
            w.write_all(tail.as_bytes())
        }
        None => w.write_all(rendered.as_bytes()),
    }
}

/// Renders the page, with [`BROWSER_DATA`] where the browser's data goes ([`write`] puts it
/// there).
pub fn render(page: &Page) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.add_filter("short", |s: String| short(&s));
    env.add_filter("fixed", |v: Value, digits: Option<usize>| -> String {
        match f64::try_from(v) {
            Ok(f) => format!("{f:.*}", digits.unwrap_or(2)),
            Err(_) => "—".into(),
        }
    });
    env.add_filter("heat", |v: Value| -> String { heat(f64::try_from(v).unwrap_or(f64::NAN)) });
    env.add_template("report.html", TEMPLATE)?;
    let template = env.get_template("report.html")?;
    let charts: BTreeMap<String, Value> =
        charts(page).into_iter().map(|(k, v)| (k, Value::from_safe_string(v))).collect();
    // Tasks that no model could score: one line under the heatmap, with what they need.
    let unscored: Vec<String> = page
        .models
        .first()
        .map(|first| {
            first
                .tasks
                .iter()
                .enumerate()
                .filter(|(i, _)| {
                    page.models.iter().all(|m| m.tasks.get(*i).is_none_or(|t| t.score.is_none()))
                })
                .map(|(_, t)| format!("{} ({})", t.id, t.missing.as_deref().map(short).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    template.render(context! {
        cross_matrix => Value::from(Serde(cross_matrix(page))),
        comparison_matrix => Value::from(Serde(comparison_matrix(page))),
        unscored => Value::from(unscored),
        page => Value::from(Serde(page)),
        runs => Value::from(page.runs.clone()),
        charts => Value::from(charts),
        // Put in place, escaped for a script element, by `write`.
        browser_json => Value::from_safe_string(BROWSER_DATA.into()),
        browser_shown => page.browser.rows.len(),
        browser_total => page.browser.total,
    })
}

/// The style of a heatmap cell for a score from 0 to 100: a single-hue blue ramp (readable
/// without telling hues apart, and in print), white text on the darker half.
pub fn heat(score: f64) -> String {
    if !score.is_finite() {
        return String::new();
    }
    let t = (score / 100.0).clamp(0.0, 1.0);
    let (light, dark) = ([239.0, 246.0, 255.0], [8.0, 48.0, 107.0]);
    let c: Vec<u8> = light.iter().zip(dark).map(|(l, d)| (l + (d - l) * t).round() as u8).collect();
    let text = if t > 0.55 { "#fff" } else { "#111" };
    format!("background:#{:02x}{:02x}{:02x};color:{text}", c[0], c[1], c[2])
}

/// The variant a split is of a text-only split: the split's name after the prefix they share
/// (`dt-unrelated-image-color` against `dt-text` is `unrelated-image-color`).
fn variant(split: &str, text_split: &str) -> String {
    let common = split.chars().zip(text_split.chars()).take_while(|(a, b)| a == b).count();
    let cut = split[..split.char_indices().nth(common).map_or(split.len(), |(i, _)| i)]
        .rfind('-')
        .map_or(0, |i| i + 1);
    split[cut..].to_string()
}

/// The cross-modal deltas as one matrix per model: a row per task and number, a column per
/// image variant, each cell a `diff_cell`.
fn cross_matrix(page: &Page) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for m in &page.models {
        let mine: Vec<_> = page.cross_modal.iter().filter(|c| c.model == m.name).collect();
        if mine.is_empty() {
            continue;
        }
        let mut columns: Vec<String> = Vec::new();
        let mut rows: Vec<(String, String, String)> = Vec::new();
        for c in &mine {
            let v = variant(&c.split, &c.text_split);
            if !columns.contains(&v) {
                columns.push(v);
            }
            let row = (c.task.clone(), c.text_split.clone(), c.metric.clone());
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
        let extent = mine.iter().map(|c| c.delta.abs()).fold(0.0f64, f64::max).max(1e-9);
        let rows: Vec<serde_json::Value> = rows
            .iter()
            .map(|(task, text, metric)| {
                let cells: Vec<serde_json::Value> = columns
                    .iter()
                    .map(|col| {
                        let hit = mine.iter().find(|c| {
                            &c.task == task
                                && &c.text_split == text
                                && &c.metric == metric
                                && variant(&c.split, &c.text_split) == *col
                        });
                        hit.map_or(serde_json::Value::Null, |c| {
                            let title = format!(
                                "{} {}: {:.3} against {:.3} text only",
                                c.task,
                                c.split,
                                c.text_value + c.delta,
                                c.text_value
                            );
                            diff_cell(Some(c.delta), c.ci, c.changed, extent, 3, title)
                        })
                    })
                    .collect();
                // A task with two data sets names the set of each row.
                let sets = rows.iter().filter(|(t, _, m)| t == task && m == metric).count();
                let label = if sets > 1 {
                    let set = text.strip_suffix("-text").unwrap_or(text);
                    format!("{task} {set} ({metric})")
                } else {
                    format!("{task} ({metric})")
                };
                serde_json::json!({"label": label, "cells": cells})
            })
            .collect();
        out.push(serde_json::json!({"model": m.name, "columns": columns, "rows": rows}));
    }
    out
}

/// One cell of a difference matrix: the difference (blue when positive, orange when
/// negative, stronger when larger against `extent`), its interval under it, and a mark (bold,
/// with `*`) when the interval excludes zero; the title says it all in words.
fn diff_cell(
    delta: Option<f64>,
    ci: Option<[f64; 2]>,
    changed: bool,
    extent: f64,
    digits: usize,
    title: String,
) -> serde_json::Value {
    let Some(d) = delta else { return serde_json::Value::Null };
    let interval = ci.map(|[lo, hi]| format!("[{lo:+.digits$}, {hi:+.digits$}]"));
    let mut title = title;
    if let Some(i) = &interval {
        title.push_str(&format!("; 95% interval {i}"));
        title.push_str(if changed { ", excludes zero" } else { ", includes zero" });
    }
    let unit = 0.5 * 10f64.powi(-(digits as i32));
    // No colour (and no sign) where nothing changed.
    let (text, style) = if d.abs() < unit {
        (format!("{:.digits$}", 0.0), String::new())
    } else {
        let a = 0.15 + 0.6 * (d.abs() / extent.max(1e-9)).min(1.0);
        let rgb = if d > 0.0 { "0,114,178" } else { "213,94,0" };
        (format!("{d:+.digits$}"), format!("background:rgba({rgb},{a:.2})"))
    };
    serde_json::json!({"delta": text, "ci": interval, "changed": changed, "style": style, "title": title})
}

/// The paired differences of each model against the reference as one matrix: a row per task,
/// sub-aspect and overall, a column per compared model.
fn comparison_matrix(page: &Page) -> serde_json::Value {
    let Some(first) = page.comparisons.first() else { return serde_json::Value::Null };
    let extent = page
        .comparisons
        .iter()
        .flat_map(|c| &c.deltas)
        .filter_map(|d| d.delta)
        .fold(0.0f64, |m, d| m.max(d.abs()));
    let columns: Vec<String> =
        page.comparisons.iter().map(|c| format!("{} − {}", c.model, c.reference)).collect();
    let rows: Vec<serde_json::Value> = first
        .deltas
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let cells: Vec<serde_json::Value> = page
                .comparisons
                .iter()
                .map(|c| {
                    let Some(x) = c.deltas.get(i) else { return serde_json::Value::Null };
                    let mut title = format!("{} {} − {}", x.name, c.model, c.reference);
                    if x.shared > 0 {
                        title.push_str(&format!(" on {} shared samples", x.shared));
                    }
                    if let Some(note) = &x.note {
                        title.push_str(&format!(" ({note})"));
                    }
                    diff_cell(x.delta, x.ci, x.changed, extent, 2, title)
                })
                .collect();
            serde_json::json!({"label": d.name, "cells": cells})
        })
        .collect();
    serde_json::json!({"columns": columns, "rows": rows})
}

/// The most series a chart draws side by side; beyond it charts show one row per model.
pub const GROUPED_MAX: usize = 4;

fn charts(page: &Page) -> BTreeMap<String, String> {
    let series: Vec<String> = page.models.iter().map(|m| m.name.clone()).collect();
    let mut out = BTreeMap::new();

    // Up to four models, bars per sub-aspect side by side; more would need more colours than
    // readers can tell apart, so the chart shows each model's overall score on a row of its
    // own (named, no legend) and the coloured table below carries the sub-aspects.
    let chart = if page.models.len() <= GROUPED_MAX {
        let mut rows: Vec<Row> = Vec::new();
        if let Some(first) = page.models.first() {
            for (i, sub) in first.sub_aspects.iter().enumerate() {
                let values = page
                    .models
                    .iter()
                    .map(|m| m.sub_aspects.get(i).and_then(|s| s.score.map(|v| (v, s.ci))))
                    .collect();
                let label = if sub.partial && sub.score.is_some() {
                    format!("{} (partial)", sub.name)
                } else {
                    sub.name.clone()
                };
                rows.push(Row { label, values });
            }
            let values = page.models.iter().map(|m| m.overall.score.map(|v| (v, m.overall.ci))).collect();
            rows.push(Row { label: "Overall".into(), values });
        }
        svg::horizontal("Sub-aspects and overall score", &series, &rows, (0.0, 100.0), Mark::Bar)
    } else {
        let rows: Vec<Row> = page
            .models
            .iter()
            .map(|m| Row { label: m.name.clone(), values: vec![m.overall.score.map(|v| (v, m.overall.ci))] })
            .collect();
        svg::horizontal("Overall score per model", &["Overall".to_string()], &rows, (0.0, 100.0), Mark::Bar)
    };
    out.insert("sub_aspects".into(), chart);

    let mut keys: Vec<(String, String, String)> = Vec::new();
    for c in &page.cross_modal {
        let key = (c.task.clone(), c.split.clone(), c.metric.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let rows: Vec<Row> = keys
        .iter()
        .map(|(task, split, metric)| Row {
            label: format!("{task} {split} ({metric})"),
            values: series
                .iter()
                .map(|m| {
                    page.cross_modal
                        .iter()
                        .find(|c| &c.model == m && &c.task == task && &c.split == split)
                        .map(|c| (c.delta, c.ci))
                })
                .collect(),
        })
        .collect();
    // Beyond a few models the matrices above carry the differences; no chart.
    if page.models.len() <= GROUPED_MAX {
        let extent = page.cross_modal.iter().map(|c| c.delta.abs()).fold(0.0f64, f64::max).max(0.05);
        out.insert(
            "cross_modal".into(),
            svg::horizontal("Image variant minus text only", &series, &rows, (-extent, extent), Mark::Bar),
        );
    }

    let points: Vec<Point> = page
        .refusal_accuracy
        .iter()
        .filter_map(|p| p.accuracy.map(|a| Point::at(p.model.clone(), p.refusal_rate, a)))
        .collect();
    out.insert(
        "refusal".into(),
        svg::scatter(
            "Refusal rate against truthfulness",
            "refusal rate (share of answers)",
            "truthfulness score",
            &points,
            (0.0, 1.0),
            (0.0, 100.0),
        ),
    );
    if !page.tradeoffs.is_empty() {
        out.extend(tradeoff_charts(page));
    }
    out
}

/// The trade-off chart (trust difference against utility difference, one point per pair with
/// interval whiskers) and the per-aspect difference bars.
fn tradeoff_charts(page: &Page) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let points: Vec<Point> = page
        .tradeoffs
        .iter()
        .filter_map(|t| {
            Some(Point {
                label: t.model.clone(),
                x: t.utility.as_ref()?.delta?,
                y: t.trust.delta?,
                x_ci: t.utility.as_ref()?.ci,
                y_ci: t.trust.ci,
            })
        })
        .collect();
    let reach = |v: &[f64]| svg::nice(v.iter().fold(1.0f64, |m, x| m.max(x.abs())) * 1.05);
    let xs: Vec<f64> =
        points.iter().flat_map(|p| [p.x].into_iter().chain(p.x_ci.into_iter().flatten())).collect();
    let ys: Vec<f64> =
        points.iter().flat_map(|p| [p.y].into_iter().chain(p.y_ci.into_iter().flatten())).collect();
    let (rx, ry) = (reach(&xs), reach(&ys));
    out.insert(
        "tradeoff".into(),
        svg::scatter(
            "Trust gained against utility, per mitigation or variant",
            "utility difference (points)",
            "overall trust difference (points)",
            &points,
            (-rx, rx),
            (-ry, ry),
        ),
    );
    let series: Vec<String> = page.tradeoffs.iter().map(|t| t.model.clone()).collect();
    let names: Vec<String> =
        page.tradeoffs[0].aspects.iter().map(|a| a.name.clone()).chain(["Utility".to_string()]).collect();
    let rows: Vec<Row> = names
        .iter()
        .map(|name| Row {
            label: name.clone(),
            values: page
                .tradeoffs
                .iter()
                .map(|t| {
                    let d = t.aspects.iter().chain(t.utility.as_ref()).find(|d| d.name == *name)?;
                    Some((d.delta?, d.ci))
                })
                .collect(),
        })
        .collect();
    let extent = rows
        .iter()
        .flat_map(|r| r.values.iter().flatten())
        .flat_map(|(v, ci)| [*v].into_iter().chain(ci.iter().flatten().copied()))
        .fold(1.0f64, |m, v| m.max(v.abs()));
    if series.len() <= GROUPED_MAX {
        let extent = svg::nice(extent * 1.05);
        out.insert(
            "tradeoff_aspects".into(),
            svg::horizontal(
                "Difference per aspect against the reference",
                &series,
                &rows,
                (-extent, extent),
                Mark::Bar,
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::heat;

    #[test]
    fn a_variant_is_the_split_after_the_prefix_it_shares_with_text_only() {
        use super::variant;
        assert_eq!(variant("dt-unrelated-image-color", "dt-text"), "unrelated-image-color");
        assert_eq!(variant("stereo-query-image", "stereo-query-text"), "image");
        assert_eq!(variant("enron-email-image-oneinfo", "enron-email-text"), "image-oneinfo");
        assert_eq!(variant("other", "text"), "other");
    }

    #[test]
    fn heat_runs_from_light_to_dark_with_readable_text() {
        assert_eq!(heat(0.0), "background:#eff6ff;color:#111");
        assert_eq!(heat(100.0), "background:#08306b;color:#fff");
        assert_eq!(heat(150.0), heat(100.0), "clamped");
        assert_eq!(heat(f64::NAN), "");
    }
}
