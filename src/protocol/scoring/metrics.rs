//! The metrics of the benchmark (spec §6), computed over the scored samples of a split.
//!
//! Semantics follow the original: binary precision, recall and F1 with `pos_label = 1` and 0 on
//! a zero division; `pred_mean` without NaN skipping; Pearson's r skipping NaN predictions and
//! NaN when fewer than two remain or an input is constant; `iou_judge` as a percentage. A NaN
//! result is `None` here and `null` in our JSON.

use serde_json::Value as Json;

use super::Value;
use crate::sample::Target;

/// A metric, by the original's id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// `pred_no_op`: the per-sample values themselves (a list key in the results).
    PredNoOp,
    /// `pred_sum`.
    PredSum,
    /// `pred_mean` (a single NaN makes it NaN).
    PredMean,
    /// `accuracy_score`.
    Accuracy,
    /// `precision_score` (binary, positive label 1, 0 on zero division).
    Precision,
    /// `recall_score` (binary, positive label 1, 0 on zero division).
    Recall,
    /// `f1_score` (binary, positive label 1, 0 on zero division).
    F1,
    /// `pearson_corr`, optionally replacing NaN predictions with a number first.
    Pearson {
        /// The replacement for NaN predictions (`nan_to_num`), if any.
        nan_to_num: Option<f64>,
    },
    /// `failure`: the share of predictions equal to `fails_num` (NaN: the share of NaN).
    Failure {
        /// The failure marker.
        fails_num: f64,
    },
    /// `iou_judge`: the percentage of predicted boxes with IoU > 0.5 against the gold box.
    IouJudge,
}

impl Metric {
    /// The original's id.
    pub fn id(&self) -> &'static str {
        match self {
            Metric::PredNoOp => "pred_no_op",
            Metric::PredSum => "pred_sum",
            Metric::PredMean => "pred_mean",
            Metric::Accuracy => "accuracy_score",
            Metric::Precision => "precision_score",
            Metric::Recall => "recall_score",
            Metric::F1 => "f1_score",
            Metric::Pearson { .. } => "pearson_corr",
            Metric::Failure { .. } => "failure",
            Metric::IouJudge => "iou_judge",
        }
    }

    /// Whether the metric gives one number (everything but `pred_no_op`).
    pub fn is_scalar(&self) -> bool {
        !matches!(self, Metric::PredNoOp)
    }

    /// The metric over labels and predictions of the same length; `None` for NaN or a list.
    pub fn compute(&self, labels: &[&Target], preds: &[&Value]) -> Option<f64> {
        self.compute_cells(labels.iter().zip(preds).map(|(l, p)| Cell::new(self, l, p)))
    }

    /// The metric over the cells of the scored samples, in order (what [`compute`] gives for
    /// their labels and predictions; the bootstrap works the cells out once and reads them
    /// in every resample without allocating). `cells` is walked twice for Pearson's r.
    ///
    /// [`compute`]: Metric::compute
    pub fn compute_cells(&self, cells: impl Iterator<Item = Cell> + Clone) -> Option<f64> {
        match self {
            // Walked twice rather than kept, so that a resample allocates nothing.
            Metric::Pearson { nan_to_num } => {
                pearson_of(cells.filter_map(|c| pearson_point(*nan_to_num, c))).filter(|v| !v.is_nan())
            }
            _ => {
                let mut running = Running::new(self);
                cells.for_each(|c| running.push(c));
                running.value()
            }
        }
    }
}

/// A metric worked out as the cells of the scored samples arrive, one at a time: what
/// [`Metric::compute_cells`] gives for the same cells in the same order, from counts and
/// running sums (and the points, for Pearson's r alone). It is how a log of any length is
/// totalled without keeping its samples.
#[derive(Debug, Clone)]
pub struct Running {
    metric: Metric,
    /// Cells seen.
    n: usize,
    /// The predictions' sum in order; `None` once one is not a number.
    sum: Option<f64>,
    /// Hits (`accuracy_score`, `iou_judge`) or failures (`failure`).
    hits: usize,
    confusion: Confusion,
    /// Pearson's points.
    points: Vec<(f64, f64)>,
}

impl Running {
    /// Nothing seen yet.
    pub fn new(metric: &Metric) -> Running {
        Running {
            metric: *metric,
            n: 0,
            sum: Some(0.0),
            hits: 0,
            confusion: Confusion { tp: 0.0, fp: 0.0, fn_: 0.0 },
            points: Vec::new(),
        }
    }

    /// The metric worked out.
    pub fn metric(&self) -> &Metric {
        &self.metric
    }

    /// Takes in one scored sample's cell.
    pub fn push(&mut self, cell: Cell) {
        self.n += 1;
        self.sum = self.sum.zip(cell.num).map(|(sum, x)| sum + x);
        match &self.metric {
            Metric::Accuracy | Metric::IouJudge => self.hits += usize::from(cell.hit),
            Metric::Precision | Metric::Recall | Metric::F1 => {
                let c = &mut self.confusion;
                match (cell.label == Some(1.0), cell.num == Some(1.0)) {
                    (true, true) => c.tp += 1.0,
                    (false, true) => c.fp += 1.0,
                    (true, false) => c.fn_ += 1.0,
                    (false, false) => {}
                }
            }
            Metric::Pearson { nan_to_num } => self.points.extend(pearson_point(*nan_to_num, cell)),
            Metric::Failure { fails_num } => {
                let v = cell.num.unwrap_or(f64::NAN);
                self.hits += usize::from(if fails_num.is_nan() { v.is_nan() } else { v == *fails_num });
            }
            Metric::PredNoOp | Metric::PredSum | Metric::PredMean => {}
        }
    }

    /// The metric over the cells seen; `None` for NaN or a list.
    pub fn value(&self) -> Option<f64> {
        let (n, c) = (self.n, &self.confusion);
        let result = match &self.metric {
            Metric::PredNoOp => return None,
            Metric::PredSum => self.sum,
            Metric::PredMean if n == 0 => return None,
            Metric::PredMean => Some(self.sum? / n as f64),
            Metric::IouJudge if n == 0 => return None,
            Metric::IouJudge => Some(100.0 * self.hits as f64 / n as f64),
            Metric::Accuracy => ratio(self.hits, n),
            Metric::Precision => Some(safe_div(c.tp, c.tp + c.fp)),
            Metric::Recall => Some(safe_div(c.tp, c.tp + c.fn_)),
            Metric::F1 => Some(safe_div(2.0 * c.tp, 2.0 * c.tp + c.fp + c.fn_)),
            Metric::Pearson { .. } => pearson_of(self.points.iter().copied()),
            // A prediction that is not a number leaves the share undefined.
            Metric::Failure { .. } => ratio(self.hits, self.sum.map(|_| n)?),
        };
        result.filter(|v| !v.is_nan())
    }
}

/// A sample's point for Pearson's r, as the original reads it (both as `float32`; a NaN
/// prediction replaced when `nan_to_num` is given, and the point left out when it stays NaN).
fn pearson_point(nan_to_num: Option<f64>, c: Cell) -> Option<(f64, f64)> {
    let mut x = c.num.unwrap_or(f64::NAN) as f32 as f64;
    if x.is_nan()
        && let Some(r) = nan_to_num
    {
        x = r;
    }
    let y = c.label.unwrap_or(f64::NAN) as f32 as f64;
    (!x.is_nan()).then_some((x, y))
}

/// What a metric reads of one scored sample: its prediction and label as numbers, and whether
/// it is a hit (the prediction equals the label, for accuracy; the predicted box overlaps the
/// gold box by IoU > 0.5, for `iou_judge`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// The prediction as a number; `None` for a text.
    pub num: Option<f64>,
    /// The label as a number; `None` for a text or a list.
    pub label: Option<f64>,
    /// Whether the sample counts as a hit for the metric.
    pub hit: bool,
}

impl Cell {
    /// The cell of a sample for `metric` (the box is parsed only for `iou_judge`).
    pub fn new(metric: &Metric, label: &Target, pred: &Value) -> Cell {
        let hit = match metric {
            Metric::Accuracy => same(label, pred),
            Metric::IouJudge => match (gold_box(label), parse_box(&pred.as_text())) {
                (Some(g), Some(b)) => iou(&g, &b) > 0.5,
                _ => false,
            },
            _ => false,
        };
        Cell { num: pred.as_f64(), label: label.as_f64(), hit }
    }
}

/// A number for JSON: NaN and infinities become `null`.
pub fn json_number(value: Option<f64>) -> Json {
    match value {
        Some(v) if v.is_finite() => serde_json::Number::from_f64(v).map(Json::Number).unwrap_or(Json::Null),
        _ => Json::Null,
    }
}

fn ratio(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn safe_div(n: f64, d: f64) -> f64 {
    if d == 0.0 { 0.0 } else { n / d }
}

/// Whether a label equals a prediction, as Python's `==` compares them (numbers by value,
/// `True == 1`, strings by text).
fn same(label: &Target, pred: &Value) -> bool {
    match (label, pred) {
        (Target::Text(l), Value::Text(p)) => l == p,
        (Target::Text(_), _) | (_, Value::Text(_)) => false,
        (l, p) => matches!((l.as_f64(), p.as_f64()), (Some(a), Some(b)) if a == b),
    }
}

#[derive(Debug, Clone)]
struct Confusion {
    tp: f64,
    fp: f64,
    fn_: f64,
}

/// Pearson's r; NaN (`None`) with fewer than two points or a constant input.
pub fn pearson(xs: &[f64], ys: &[f64]) -> Option<f64> {
    pearson_of(xs.iter().copied().zip(ys.iter().copied()))
}

/// Pearson's r of `(x, y)` points, walked twice (the means, then the sums of products).
fn pearson_of(points: impl Iterator<Item = (f64, f64)> + Clone) -> Option<f64> {
    let (n, sx, sy) = points.clone().fold((0usize, 0.0, 0.0), |(n, sx, sy), (x, y)| (n + 1, sx + x, sy + y));
    if n < 2 {
        return None;
    }
    let (mx, my) = (sx / n as f64, sy / n as f64);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in points {
        let (dx, dy) = (x - mx, y - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Reads a box the way the original's `parse_box_string` does: `'''` and newlines removed,
/// brackets stripped from the ends, split on commas, each part a float or a fraction `a/b`,
/// unparseable parts skipped. Only a box of exactly four numbers counts.
pub fn parse_box(text: &str) -> Option<[f64; 4]> {
    let cleaned = text.replace("'''", "").replace('\n', "");
    let inner = cleaned.trim_matches(|c| c == '[' || c == ']');
    let numbers: Vec<f64> = inner
        .split(',')
        .filter_map(|part| {
            let part = part.trim();
            match part.split_once('/') {
                Some((a, b)) => {
                    let (a, b) = (a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?);
                    (b != 0.0).then(|| a / b)
                }
                None => part.parse::<f64>().ok(),
            }
        })
        .collect();
    <[f64; 4]>::try_from(numbers).ok()
}

fn gold_box(label: &Target) -> Option<[f64; 4]> {
    let values: Vec<f64> = match label {
        Target::Text(s) => serde_json::from_str(s).ok()?,
        Target::List(items) => items.iter().map(|s| s.trim().parse().ok()).collect::<Option<_>>()?,
        _ => return None,
    };
    <[f64; 4]>::try_from(values).ok()
}

/// Intersection over union of two `[xmin, ymin, xmax, ymax]` boxes (0 when either area is 0).
pub fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if inter == 0.0 || union == 0.0 { 0.0 } else { inter / union }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> Vec<Value> {
        v.iter().map(|&i| Value::Int(i)).collect()
    }
    fn labels(v: &[i64]) -> Vec<Target> {
        v.iter().map(|&i| Target::Int(i)).collect()
    }
    fn run(m: Metric, l: &[Target], p: &[Value]) -> Option<f64> {
        let l: Vec<&Target> = l.iter().collect();
        let p: Vec<&Value> = p.iter().collect();
        m.compute(&l, &p)
    }

    #[test]
    fn classification_metrics_by_hand() {
        // truth 1 1 0 0 1, pred 1 0 1 0 1 -> tp 2, fp 1, fn 1, tn 1
        let l = labels(&[1, 1, 0, 0, 1]);
        let p = ints(&[1, 0, 1, 0, 1]);
        assert_eq!(run(Metric::Accuracy, &l, &p), Some(0.6));
        assert_eq!(run(Metric::Precision, &l, &p), Some(2.0 / 3.0));
        assert_eq!(run(Metric::Recall, &l, &p), Some(2.0 / 3.0));
        assert_eq!(run(Metric::F1, &l, &p), Some(2.0 / 3.0));
        // no positive predictions: precision and F1 are 0, not NaN
        let none = ints(&[0, 0, 0, 0, 0]);
        assert_eq!(run(Metric::Precision, &l, &none), Some(0.0));
        assert_eq!(run(Metric::F1, &l, &none), Some(0.0));
        // booleans compare equal to 0/1; strings never equal numbers
        assert_eq!(run(Metric::Accuracy, &[Target::Bool(true)], &ints(&[1])), Some(1.0));
        assert_eq!(run(Metric::Accuracy, &[Target::Text("1".into())], &ints(&[1])), Some(0.0));
        assert_eq!(run(Metric::Accuracy, &[], &[]), None);
    }

    #[test]
    fn mean_propagates_nan_and_failure_counts_it() {
        let p = vec![Value::Float(1.0), Value::Float(f64::NAN), Value::Float(0.0)];
        let l = vec![Target::None; 3];
        assert_eq!(run(Metric::PredMean, &l, &p), None);
        assert_eq!(run(Metric::Failure { fails_num: f64::NAN }, &l, &p), Some(1.0 / 3.0));
        assert_eq!(run(Metric::Failure { fails_num: 0.0 }, &l, &p), Some(1.0 / 3.0));
        assert_eq!(run(Metric::PredMean, &l[..1], &ints(&[1])), Some(1.0));
        assert_eq!(run(Metric::PredSum, &l, &ints(&[1, 1, 0])), Some(2.0));
        assert_eq!(run(Metric::PredMean, &l[..1], &[Value::Text("x".into())]), None);
    }

    #[test]
    fn pearson_skips_nan_predictions_and_needs_variation() {
        let l: Vec<Target> = [1.0, 2.0, 3.0, 4.0].iter().map(|&f| Target::Float(f)).collect();
        let p = vec![Value::Float(2.0), Value::Float(4.0), Value::Float(f64::NAN), Value::Float(8.0)];
        let r = run(Metric::Pearson { nan_to_num: None }, &l, &p).unwrap();
        assert!((r - 1.0).abs() < 1e-9, "{r}");
        // hand-computed: x = 1 2 3, y = 1 3 2 -> r = 0.5
        let l3: Vec<Target> = [1.0, 2.0, 3.0].iter().map(|&f| Target::Float(f)).collect();
        let p3 = vec![Value::Float(1.0), Value::Float(3.0), Value::Float(2.0)];
        assert!((run(Metric::Pearson { nan_to_num: None }, &l3, &p3).unwrap() - 0.5).abs() < 1e-9);
        let constant = vec![Value::Float(5.0); 3];
        assert_eq!(run(Metric::Pearson { nan_to_num: None }, &l3, &constant), None);
        let one = vec![Value::Float(1.0), Value::Float(f64::NAN), Value::Float(f64::NAN)];
        assert_eq!(run(Metric::Pearson { nan_to_num: None }, &l3, &one), None);
        let filled = run(Metric::Pearson { nan_to_num: Some(0.0) }, &l3, &one).unwrap();
        assert!(filled < 0.0);
    }

    #[test]
    fn iou_judge_parses_boxes_and_counts_failures() {
        let gold = Target::Text("[0.1, 0.1, 0.5, 0.5]".into());
        let l = vec![gold.clone(), gold.clone(), gold.clone(), gold];
        let p = vec![
            Value::Text("'''[0.1, 0.1, 0.5, 0.5]'''".into()), // exact: success
            Value::Text("[1/10, 1/10, 1/2, 0.45]".into()),    // fractions, IoU 0.875
            Value::Text("[0.3, 0.3, 0.9, 0.9]".into()),       // IoU 0.04/0.48 < 0.5
            Value::Text("no box here".into()),                // unparseable: counted as failure
        ];
        assert_eq!(run(Metric::IouJudge, &l, &p), Some(50.0));
        assert_eq!(parse_box("[0.1, oops, 0.2, 0.3, 0.4]"), Some([0.1, 0.2, 0.3, 0.4]));
        assert_eq!(parse_box("[0.1, 0.2, 0.3]"), None);
        assert_eq!(iou(&[0.0, 0.0, 1.0, 1.0], &[2.0, 2.0, 3.0, 3.0]), 0.0);
        assert_eq!(iou(&[0.0, 0.0, 0.0, 0.0], &[0.0, 0.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn nan_is_written_as_null() {
        assert_eq!(json_number(None), Json::Null);
        assert_eq!(json_number(Some(f64::NAN)), Json::Null);
        assert_eq!(json_number(Some(0.5)), serde_json::json!(0.5));
    }
}
