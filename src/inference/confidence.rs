//! How sure a classifier was, for the post-inference human-review rule.

use super::manifest::VersionManifest;
use super::protocol::{InferResponse, TensorData};
use super::tensor::{flatten, TensorValues};

/// The top class probability of the least confident row of a response, or `None` when the model
/// gives no class probabilities (or the response holds none).
///
/// The probability output is the first FP32/FP64 output whose manifest entry lists class
/// `labels`: either one column per label (`[N, classes]`, each row's top probability is its
/// maximum), or a single column for a two-label model (`[N, 1]`, the probability of the second
/// label; the row's top probability is `max(p, 1 - p)`). Rows are then reduced with the minimum,
/// so one doubtful row in a batch is enough to ask for review.
pub fn top_probability(version: &VersionManifest, response: &InferResponse) -> Option<f64> {
    let spec = version
        .outputs
        .iter()
        .find(|o| !o.labels.is_empty() && matches!(o.datatype.as_str(), "FP32" | "FP64"))?;
    let output = response.outputs.iter().find(|o| o.name == spec.name)?;
    let values: Vec<f64> = match &output.data {
        TensorData::Values(v) => v.to_f64()?,
        TensorData::Json(v) => flatten(v)
            .into_iter()
            .map(serde_json::Value::as_f64)
            .collect::<Option<_>>()?,
        TensorData::Binary(b) => TensorValues::from_binary(output.datatype, b)
            .ok()?
            .to_f64()?,
    };
    let columns = usize::try_from(*output.shape.last()?).ok()?;
    let row_tops: Vec<f64> = match (columns, spec.labels.len()) {
        (1, 2) => values.iter().map(|p| p.max(1.0 - p)).collect(),
        (c, l) if c == l && c >= 2 => values
            .chunks_exact(c)
            .map(|row| row.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            .collect(),
        _ => return None,
    };
    row_tops.into_iter().reduce(f64::min)
}
