//! Settings read from the environment (`EMPI_INFRA_*`), checked like the stack file's values: a
//! value that does not parse, or lies outside its range, is one clear error naming the variable
//! and the fix, never a silent fall-back to the default.

use std::time::Duration;

/// Why an environment setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}={value:?} {why}; fix: {fix}")]
pub struct EnvError {
    pub name: String,
    pub value: String,
    pub why: String,
    pub fix: String,
}

/// The duration in variable `name` (humantime: `45s`, `2m`, `1h 30m`), or `default` when it is
/// unset or empty. Refused: what does not parse (`abc`, `NaN`, `-1s`), and a value outside
/// `min..=max`.
pub fn duration(name: &str, default: Duration, min: Duration, max: Duration) -> Result<Duration, EnvError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => parse_duration(name, &v, min, max),
        _ => Ok(default),
    }
}

/// [`duration`]'s check of one value.
pub fn parse_duration(name: &str, value: &str, min: Duration, max: Duration) -> Result<Duration, EnvError> {
    let fmt = |d: Duration| humantime::format_duration(d).to_string();
    let range = format!("a duration from {} to {}, e.g. {name}={}", fmt(min), fmt(max), fmt(min.max(Duration::from_secs(1)) * 2));
    let refuse = |why: String| EnvError { name: name.into(), value: value.into(), why, fix: format!("set {range}, or unset it") };
    let d = humantime::parse_duration(value.trim()).map_err(|e| refuse(format!("is not a duration ({e})")))?;
    if d < min {
        return Err(refuse(format!("is shorter than {}", fmt(min))));
    }
    if d > max {
        return Err(refuse(format!("is longer than {}", fmt(max))));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_duration_outside_its_range_or_not_a_duration_is_refused_naming_the_variable() {
        for bad in ["abc", "0s", "-1s", "NaN", "1ns", "10000h"] {
            let e = parse_duration("EMPI_INFRA_X", bad, S, 3600 * S).unwrap_err();
            assert!(e.to_string().starts_with(&format!("EMPI_INFRA_X={bad:?}")), "{e}");
            assert!(e.to_string().contains("fix: set a duration from 1s to 1h"), "{e}");
        }
        assert_eq!(parse_duration("EMPI_INFRA_X", " 45s ", S, 3600 * S), Ok(45 * S));
        assert_eq!(parse_duration("EMPI_INFRA_X", "2m", S, 3600 * S), Ok(120 * S));
    }

    #[test]
    fn an_unset_variable_is_the_default() {
        assert_eq!(duration("EMPI_INFRA_SURELY_UNSET_FOR_THIS_TEST", 30 * S, S, 60 * S), Ok(30 * S));
    }
}
