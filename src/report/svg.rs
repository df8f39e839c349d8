//! Inline SVG charts for the HTML report, drawn by hand: horizontal bars or points with
//! intervals, and a scatter plot. Every text that reaches a chart is escaped here.

use std::fmt::Write;

/// Colours for the models, in order.
/// The Okabe–Ito colours (told apart by readers with the common colour-vision deficiencies),
/// darkest first; beyond eight series they repeat.
pub const PALETTE: [&str; 8] =
    ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];

/// The colour to write text in for a series colour: the palette's yellow is too light for
/// text on white, so its text is a dark yellow.
pub fn ink(colour: &str) -> &str {
    if colour == "#F0E442" { "#8C7F00" } else { colour }
}

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One row of a horizontal chart: a label and one value (with an optional interval) per series.
#[derive(Debug, Clone)]
pub struct Row {
    /// The row's label.
    pub label: String,
    /// Per series: the value and its interval, or nothing (drawn as "missing").
    pub values: Vec<Option<(f64, Option<[f64; 2]>)>>,
}

/// How a horizontal chart draws its values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// Bars from the axis origin (0 if in the domain).
    Bar,
    /// Points with interval whiskers.
    Point,
}

const LABEL_W: f64 = 210.0;
const PLOT_W: f64 = 500.0;
const BAR_H: f64 = 11.0;

/// A horizontal chart of rows × series over a value domain, with a legend of the series.
pub fn horizontal(title: &str, series: &[String], rows: &[Row], domain: (f64, f64), mark: Mark) -> String {
    let (lo, hi) = if domain.1 > domain.0 { domain } else { (domain.0, domain.0 + 1.0) };
    let x = |v: f64| LABEL_W + (v.clamp(lo, hi) - lo) / (hi - lo) * PLOT_W;
    let row_h = BAR_H * series.len().max(1) as f64 + 8.0;
    let legend_h = 18.0 * series.len().div_ceil(3) as f64;
    let top = 30.0 + legend_h;
    let height = top + row_h * rows.len() as f64 + 30.0;
    let width = LABEL_W + PLOT_W + 70.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{t}" font-family="sans-serif" font-size="11">"#,
        t = escape(title)
    );
    let _ = write!(s, r#"<text x="4" y="16" font-size="13" font-weight="bold">{}</text>"#, escape(title));
    for (i, name) in series.iter().enumerate() {
        let (lx, ly) = (4.0 + (i % 3) as f64 * 240.0, 30.0 + (i / 3) as f64 * 18.0);
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            ly - 9.0,
            PALETTE[i % PALETTE.len()],
            lx + 14.0,
            ly,
            escape(&fit(name, 240.0 - 20.0, 11.0))
        );
    }
    // grid and ticks
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        let gx = x(v);
        let _ = write!(
            s,
            r##"<line x1="{gx}" y1="{top}" x2="{gx}" y2="{}" stroke="#ddd"/><text x="{gx}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            height - 26.0,
            height - 12.0,
            tick(v)
        );
    }
    let origin = x(if lo <= 0.0 && hi >= 0.0 { 0.0 } else { lo });
    for (r, row) in rows.iter().enumerate() {
        let y0 = top + r as f64 * row_h;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LABEL_W - 6.0,
            y0 + row_h / 2.0 + 3.0,
            escape(&fit(&row.label, LABEL_W - 12.0, 11.0))
        );
        for (i, value) in row.values.iter().enumerate() {
            let cy = y0 + 4.0 + i as f64 * BAR_H + BAR_H / 2.0;
            let colour = PALETTE[i % PALETTE.len()];
            match value {
                None => {
                    let _ = write!(
                        s,
                        r##"<text x="{}" y="{}" fill="#999" font-size="9">missing</text>"##,
                        LABEL_W + 4.0,
                        cy + 3.0
                    );
                }
                Some((v, ci)) => {
                    if mark == Mark::Bar {
                        let (a, b) = if x(*v) < origin { (x(*v), origin) } else { (origin, x(*v)) };
                        let _ = write!(
                            s,
                            r#"<rect x="{a}" y="{}" width="{}" height="{}" fill="{colour}"/>"#,
                            cy - BAR_H / 2.0 + 1.0,
                            (b - a).max(0.5),
                            BAR_H - 2.0
                        );
                    } else {
                        let _ = write!(s, r#"<circle cx="{}" cy="{cy}" r="3.5" fill="{colour}"/>"#, x(*v));
                    }
                    if let Some([l, h]) = ci {
                        let _ = write!(
                            s,
                            r##"<line x1="{}" y1="{cy}" x2="{}" y2="{cy}" stroke="#222" stroke-width="1.2"/>"##,
                            x(*l),
                            x(*h)
                        );
                    }
                    let _ = write!(
                        s,
                        r##"<text x="{}" y="{}" font-size="9" fill="#333">{}</text>"##,
                        LABEL_W + PLOT_W + 6.0,
                        cy + 3.0,
                        tick(*v)
                    );
                }
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// A labelled point of a scatter plot, with optional 95% intervals drawn as whiskers.
#[derive(Debug, Clone)]
pub struct Point {
    /// The label.
    pub label: String,
    /// Horizontal value.
    pub x: f64,
    /// Vertical value.
    pub y: f64,
    /// Horizontal interval.
    pub x_ci: Option<[f64; 2]>,
    /// Vertical interval.
    pub y_ci: Option<[f64; 2]>,
}

impl Point {
    /// A point without intervals.
    pub fn at(label: impl Into<String>, x: f64, y: f64) -> Point {
        Point { label: label.into(), x, y, x_ci: None, y_ci: None }
    }
}

/// A scatter plot of labelled points, with whiskers where a point has intervals and dashed
/// zero lines where a domain spans zero.
pub fn scatter(
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[Point],
    x_domain: (f64, f64),
    y_domain: (f64, f64),
) -> String {
    let (w, h, left, bottom) = (560.0, 340.0, 60.0, 50.0);
    let (pw, ph) = (w - left - 20.0, h - bottom - 40.0);
    let sx = |v: f64| left + (v - x_domain.0) / (x_domain.1 - x_domain.0) * pw;
    let sy = |v: f64| 40.0 + ph - (v - y_domain.0) / (y_domain.1 - y_domain.0) * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{t}" font-family="sans-serif" font-size="11">"#,
        t = escape(title)
    );
    let _ = write!(s, r#"<text x="4" y="16" font-size="13" font-weight="bold">{}</text>"#, escape(title));
    let _ = write!(s, r##"<rect x="{left}" y="40" width="{pw}" height="{ph}" fill="none" stroke="#bbb"/>"##);
    for k in 0..=4 {
        let xv = x_domain.0 + (x_domain.1 - x_domain.0) * k as f64 / 4.0;
        let yv = y_domain.0 + (y_domain.1 - y_domain.0) * k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            sx(xv),
            40.0 + ph + 14.0,
            tick(xv)
        );
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end" fill="#555">{}</text>"##,
            left - 4.0,
            sy(yv) + 3.0,
            tick(yv)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        left + pw / 2.0,
        h - 10.0,
        escape(x_label)
    );
    let _ = write!(
        s,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{}</text>"#,
        40.0 + ph / 2.0,
        40.0 + ph / 2.0,
        escape(y_label)
    );
    if x_domain.0 < 0.0 && x_domain.1 > 0.0 {
        let _ = write!(
            s,
            r##"<line x1="{0}" x2="{0}" y1="40" y2="{1}" stroke="#999" stroke-dasharray="3 3"/>"##,
            sx(0.0),
            40.0 + ph
        );
    }
    if y_domain.0 < 0.0 && y_domain.1 > 0.0 {
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{0}" y1="{1}" y2="{1}" stroke="#999" stroke-dasharray="3 3"/>"##,
            left + pw,
            sy(0.0)
        );
    }
    // Each label takes the first place beside its point (right or left, above or below, then
    // further down or up a line at a time) that stays inside the plot and overlaps no earlier
    // label.
    let mut placed: Vec<[f64; 4]> = Vec::new();
    let (top, floor) = (28.0, 40.0 + ph - 2.0);
    for (i, p) in points.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let label = clip(&p.label, 30);
        let width = text_width(&label, 10.0);
        let (px, py) = (sx(p.x), sy(p.y));
        let mut candidates = Vec::new();
        for line in 0..16 {
            let dy = 12.0 * f64::from(line);
            for (dx, anchor_end) in [(7.0, false), (-7.0, true)] {
                for y in [py - 6.0 - dy, py + 14.0 + dy] {
                    candidates.push((px + dx, y, anchor_end));
                }
            }
        }
        let fits = |&(x, y, end): &(f64, f64, bool)| {
            let (x0, x1) = if end { (x - width, x) } else { (x, x + width) };
            let inside = x0 >= left + 2.0 && x1 <= w - 2.0 && y - 10.0 >= top && y <= floor;
            inside && !placed.iter().any(|b| x0 < b[1] && x1 > b[0] && y - 10.0 < b[3] && y > b[2])
        };
        let (lx, ly, end) = candidates.iter().copied().find(fits).unwrap_or((px + 7.0, py - 6.0, false));
        let (x0, x1) = if end { (lx - width, lx) } else { (lx, lx + width) };
        placed.push([x0, x1, ly - 10.0, ly]);
        let anchor = if end { r#" text-anchor="end""# } else { "" };
        if let Some([lo, hi]) = p.x_ci {
            let _ = write!(
                s,
                r#"<line x1="{}" x2="{}" y1="{2}" y2="{2}" stroke="{colour}"/>"#,
                sx(lo),
                sx(hi),
                sy(p.y)
            );
        }
        if let Some([lo, hi]) = p.y_ci {
            let _ = write!(
                s,
                r#"<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" stroke="{colour}"/>"#,
                sx(p.x),
                sy(lo),
                sy(hi)
            );
        }
        let _ = write!(
            s,
            r#"<circle cx="{px}" cy="{py}" r="5" fill="{colour}"/><text x="{lx}" y="{ly}"{anchor} font-size="10" fill="{}">{}</text>"#,
            ink(colour),
            escape(&label)
        );
    }
    s.push_str("</svg>");
    s
}

/// About how wide a text is drawn in a sans-serif font of `size` pixels (generous, so that
/// labels placed by it do not touch).
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// The text cut (with `…`) to about `room` pixels in a font of `size` pixels.
fn fit(text: &str, room: f64, size: f64) -> String {
    clip(text, ((room / (size * 0.6)).floor() as usize).max(2))
}

/// A round number at least `v` (1, 2, 2.5 or 5 times a power of ten), for symmetric domains.
pub fn nice(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * power).find(|c| *c >= v).unwrap_or(10.0 * power)
}

fn tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

fn clip(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(n - 1).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_labels_stay_in_the_plot_and_apart_for_twelve_points_in_one_place() {
        let points: Vec<Point> =
            (0..12).map(|i| Point::at(format!("model-{i}+safety-prompt"), 1.0, 20.0)).collect();
        let svg = scatter("t", "x", "y", &points, (0.0, 1.0), (0.0, 100.0));
        // Each point label: x, y, whether it ends at x, and its text.
        let re = regex::Regex::new(r#"<text x="([-\d.]+)" y="([-\d.]+)"( text-anchor="end")? font-size="10" fill="[^"]+">([^<]+)</text>"#).unwrap();
        let boxes: Vec<[f64; 4]> = re
            .captures_iter(&svg)
            .map(|c| {
                let (x, y): (f64, f64) = (c[1].parse().unwrap(), c[2].parse().unwrap());
                let w = text_width(&c[4], 10.0);
                let (x0, x1) = if c.get(3).is_some() { (x - w, x) } else { (x, x + w) };
                [x0, x1, y - 10.0, y]
            })
            .collect();
        assert_eq!(boxes.len(), 12, "{svg}");
        for (i, a) in boxes.iter().enumerate() {
            assert!(
                a[0] >= 60.0 && a[1] <= 560.0 && a[2] >= 0.0 && a[3] <= 340.0,
                "label {i} outside: {a:?}"
            );
            for b in &boxes[..i] {
                let apart = a[1] <= b[0] || b[1] <= a[0] || a[3] <= b[2] || b[3] <= a[2];
                assert!(apart, "labels overlap: {a:?} {b:?}");
            }
        }
        // The point at the right edge puts its labels to its left.
        assert!(svg.contains(r#"text-anchor="end" font-size="10""#));
    }

    #[test]
    fn charts_escape_labels_and_draw_each_value() {
        let rows = vec![
            Row {
                label: "<script>alert(1)</script>".into(),
                values: vec![Some((50.0, Some([40.0, 60.0]))), None],
            },
            Row { label: "T2".into(), values: vec![Some((10.0, None)), Some((90.0, None))] },
        ];
        let svg = horizontal(
            "Scores & \"intervals\"",
            &["m<1>".into(), "m2".into()],
            &rows,
            (0.0, 100.0),
            Mark::Bar,
        );
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
        assert!(svg.contains("Scores &amp; &quot;intervals&quot;") && svg.contains("m&lt;1&gt;"));
        assert_eq!(svg.matches("<rect").count(), 2 + 3, "two legend swatches and three bars");
        assert!(svg.contains(">missing<"));
        let sc = scatter("s", "x", "y", &[Point::at("<b>", 0.5, 50.0)], (0.0, 1.0), (0.0, 100.0));
        assert!(sc.contains("&lt;b&gt;") && !sc.contains("<b>"));
        let whiskers =
            Point { x_ci: Some([-1.0, 2.0]), y_ci: Some([1.0, 3.0]), ..Point::at("m+x", 1.0, 2.0) };
        let sc = scatter("s", "x", "y", &[whiskers], (-5.0, 5.0), (-5.0, 5.0));
        assert_eq!(sc.matches("<line").count(), 2 + 2, "two zero lines and two whiskers");
        let same = [Point::at("a", 0.0, 0.0), Point::at("b", 0.0, 0.0)];
        let sc = scatter("s", "x", "y", &same, (-1.0, 1.0), (-1.0, 1.0));
        let ys: Vec<&str> = sc.match_indices("font-size=\"10\"").map(|(i, _)| &sc[i - 12..i]).collect();
        assert_eq!(ys.len(), 2);
        assert_ne!(ys[0], ys[1], "labels of points at one place do not overlap");
        assert_eq!((nice(78.6), nice(0.3), nice(20.0), nice(21.0)), (100.0, 0.5, 20.0, 25.0));
    }
}
