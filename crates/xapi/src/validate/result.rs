//! Results and scores.

use serde_json::Value;

use super::primitives::{as_number, check_bool, check_duration, check_extensions};
use super::{as_object, as_str, check_properties, err, join, VResult};

const RESULT_PROPERTIES: &[&str] = &["score", "success", "completion", "response", "duration", "extensions"];

/// Validates a Result.
pub(crate) fn validate_result(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "a Result")?;
    check_properties(map, path, RESULT_PROPERTIES, "a Result")?;
    if let Some(score) = map.get("score") {
        validate_score(score, &join(path, "score"))?;
    }
    for key in ["success", "completion"] {
        if let Some(b) = map.get(key) {
            check_bool(b, &join(path, key))?;
        }
    }
    if let Some(r) = map.get("response") {
        as_str(r, &join(path, "response"))?;
    }
    if let Some(d) = map.get("duration") {
        check_duration(d, &join(path, "duration"))?;
    }
    if let Some(e) = map.get("extensions") {
        check_extensions(e, &join(path, "extensions"))?;
    }
    Ok(())
}

/// Validates a Score: scaled in [-1, 1], min < max, min <= raw <= max.
pub(crate) fn validate_score(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "a Score")?;
    check_properties(map, path, &["scaled", "raw", "min", "max"], "a Score")?;
    let num = |key: &str| -> VResult<Option<f64>> { map.get(key).map(|x| as_number(x, &join(path, key))).transpose() };
    let scaled = num("scaled")?;
    let raw = num("raw")?;
    let min = num("min")?;
    let max = num("max")?;
    if let Some(s) = scaled {
        if !(-1.0..=1.0).contains(&s) {
            return err(join(path, "scaled"), format!("must be between -1 and 1 inclusive, not {s}"));
        }
    }
    if let (Some(lo), Some(hi)) = (min, max) {
        if hi <= lo {
            return err(join(path, "max"), format!("must be greater than min ({lo}), not {hi}"));
        }
    }
    if let Some(r) = raw {
        if let Some(lo) = min {
            if r < lo {
                return err(join(path, "raw"), format!("must not be less than min ({lo}), not {r}"));
            }
        }
        if let Some(hi) = max {
            if r > hi {
                return err(join(path, "raw"), format!("must not be greater than max ({hi}), not {r}"));
            }
        }
    }
    Ok(())
}
