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
pub fn duration(
    name: &str,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Result<Duration, EnvError> {
    match var(name)? {
        Some(v) => parse_duration(name, &v, min, max),
        None => Ok(default),
    }
}

/// The value of variable `name`: `None` when it is unset or empty; refused when it is not UTF-8
/// (no setting of empi-infra is, and a silent fall-back would hide the mistake).
fn var(name: &str) -> Result<Option<String>, EnvError> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(EnvError {
            name: name.into(),
            value: v.to_string_lossy().into_owned(),
            why: "is not UTF-8 text".into(),
            fix: format!("set {name} to plain text, or unset it"),
        }),
    }
}

/// The day in variable `name` (`YYYY-MM-DD`, a day the calendar has), or `None` when it is unset
/// or empty. Refused: another shape (`tomorrow`, `2026-2-3`) and a day that does not exist
/// (`2026-02-30`).
pub fn date(name: &str) -> Result<Option<String>, EnvError> {
    var(name)?.map(|v| parse_date(name, &v)).transpose()
}

/// [`date`]'s check of one value.
pub fn parse_date(name: &str, value: &str) -> Result<String, EnvError> {
    let day = value.trim();
    match date_problem(day) {
        None => Ok(day.to_string()),
        Some(why) => Err(EnvError {
            name: name.into(),
            value: value.into(),
            why,
            fix: format!("set a day written YYYY-MM-DD, e.g. {name}=2026-11-27, or unset it for today's date"),
        }),
    }
}

/// Why `s` is not a day written `YYYY-MM-DD` that the (proleptic Gregorian) calendar has, if it is not.
pub fn date_problem(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return Some("is not a date written YYYY-MM-DD".into());
    }
    // ASCII digits only, so the slices are on character boundaries and the numbers parse
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Some(format!("is not a date: there is no month {m}")),
    };
    if !(1..=days).contains(&d) {
        return Some(format!("is not a date: {} has {days} days", &s[..7]));
    }
    None
}

/// [`duration`]'s check of one value.
pub fn parse_duration(
    name: &str,
    value: &str,
    min: Duration,
    max: Duration,
) -> Result<Duration, EnvError> {
    let fmt = |d: Duration| humantime::format_duration(d).to_string();
    let range = format!(
        "a duration from {} to {}, e.g. {name}={}",
        fmt(min),
        fmt(max),
        fmt(min.max(Duration::from_secs(1)) * 2)
    );
    let refuse = |why: String| EnvError {
        name: name.into(),
        value: value.into(),
        why,
        fix: format!("set {range}, or unset it"),
    };
    let d = humantime::parse_duration(value.trim())
        .map_err(|e| refuse(format!("is not a duration ({e})")))?;
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
    fn a_day_the_calendar_lacks_or_another_shape_is_refused_naming_the_variable() {
        for (bad, why) in [
            ("2026-02-30", "is not a date: 2026-02 has 28 days"),
            ("2025-02-29", "is not a date: 2025-02 has 28 days"),
            ("2026-04-31", "is not a date: 2026-04 has 30 days"),
            ("2026-13-01", "is not a date: there is no month 13"),
            ("2026-00-10", "is not a date: there is no month 0"),
            ("2026-01-00", "is not a date: 2026-01 has 31 days"),
            ("tomorrow", "is not a date written YYYY-MM-DD"),
            ("2026-2-3", "is not a date written YYYY-MM-DD"),
            ("2026-+1-01", "is not a date written YYYY-MM-DD"),
            ("2026\u{2010}01-01", "is not a date written YYYY-MM-DD"),
            ("2026-01-011", "is not a date written YYYY-MM-DD"),
        ] {
            let e = parse_date("EMPI_INFRA_TODAY", bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("EMPI_INFRA_TODAY={bad:?} {why}; fix: set a day written YYYY-MM-DD, e.g. EMPI_INFRA_TODAY=2026-11-27, or unset it for today's date")
            );
        }
        assert_eq!(
            parse_date("EMPI_INFRA_TODAY", "2028-02-29").unwrap(),
            "2028-02-29",
            "a leap day"
        );
        assert_eq!(parse_date("EMPI_INFRA_TODAY", " 2026-11-27\n").unwrap(), "2026-11-27");
        assert!(parse_date("EMPI_INFRA_TODAY", "1900-02-29").is_err(), "1900 was not a leap year");
        assert!(parse_date("EMPI_INFRA_TODAY", "2000-02-29").is_ok(), "2000 was");
    }

    #[test]
    fn an_unset_variable_is_the_default() {
        assert_eq!(
            duration("EMPI_INFRA_SURELY_UNSET_FOR_THIS_TEST", 30 * S, S, 60 * S),
            Ok(30 * S)
        );
        assert_eq!(date("EMPI_INFRA_SURELY_UNSET_FOR_THIS_TEST"), Ok(None));
    }
}
