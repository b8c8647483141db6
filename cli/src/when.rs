//! Times as people type them on the command line: `now`, a span relative to now (`+30m`, `-2h`,
//! `+1d`, `1h 30m`: humantime's units), or RFC 3339 (`2026-12-01T22:00:00Z`). A span without a
//! sign points the way the option means: back for `--since`, ahead for a window's `--until`.
//! Nothing a person types makes it panic (proptested below); a bad value is an error that says
//! which forms are understood.

use anyhow::anyhow;
use chrono::{DateTime, Utc};

/// Which way an unsigned span (`2h`) points from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsigned {
    /// `--since 2h`: two hours ago.
    Ago,
    /// `--until 2h`: two hours from now.
    Ahead,
}

const FORMS: &str = "RFC 3339 (2026-12-01T22:00:00Z), now, or a span relative to now (+30m, -2h, +1d, 1h 30m)";

/// `text` as a time, relative spans counted from `now`.
pub fn parse_time(text: &str, now: DateTime<Utc>, unsigned: Unsigned) -> anyhow::Result<DateTime<Utc>> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(anyhow!("an empty time: give {FORMS}"));
    }
    if trimmed.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(time.with_timezone(&Utc));
    }
    let (ahead, span) = match (trimmed.strip_prefix('+'), trimmed.strip_prefix('-')) {
        (Some(span), _) => (true, span),
        (_, Some(span)) => (false, span),
        _ => (unsigned == Unsigned::Ahead, trimmed),
    };
    let span =
        humantime::parse_duration(span.trim()).map_err(|e| anyhow!("{text:?} is not a time ({e}): give {FORMS}"))?;
    let too_far = || anyhow!("{text:?} is too far from now");
    let span = chrono::Duration::from_std(span).map_err(|_| too_far())?;
    if ahead { now.checked_add_signed(span) } else { now.checked_sub_signed(span) }.ok_or_else(too_far)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        "2026-12-05T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_documented_forms_read_as_people_mean_them() {
        let at = |t: &str, u| parse_time(t, now(), u).unwrap().to_rfc3339();
        assert_eq!(at("now", Unsigned::Ago), "2026-12-05T12:00:00+00:00");
        assert_eq!(at("+30m", Unsigned::Ago), "2026-12-05T12:30:00+00:00");
        assert_eq!(at("-2h", Unsigned::Ahead), "2026-12-05T10:00:00+00:00");
        assert_eq!(at("1d", Unsigned::Ago), "2026-12-04T12:00:00+00:00");
        assert_eq!(at("1h 30m", Unsigned::Ahead), "2026-12-05T13:30:00+00:00");
        assert_eq!(at("2026-12-01T22:00:00+01:00", Unsigned::Ago), "2026-12-01T21:00:00+00:00");
    }

    #[test]
    fn what_once_panicked_is_an_error_naming_the_forms() {
        for bad in ["+", "-", "", " ", "+5ö", "+ß", "5 parsecs", "+99999999999999999999y", "2026-13-01T00:00:00Z"] {
            let err = parse_time(bad, now(), Unsigned::Ago).unwrap_err().to_string();
            assert!(err.contains("now") || err.contains("too far"), "{bad:?}: {err}");
        }
    }

    proptest! {
        #[test]
        fn no_text_makes_it_panic(text in "\\PC{0,24}") {
            let _ = parse_time(&text, now(), Unsigned::Ago);
            let _ = parse_time(&text, now(), Unsigned::Ahead);
        }

        #[test]
        fn a_signed_span_in_minutes_is_that_many_minutes_from_now(minutes in 0i64..10_000_000, ahead: bool) {
            let text = format!("{}{minutes}m", if ahead { '+' } else { '-' });
            let span = chrono::Duration::minutes(minutes);
            let want = if ahead { now() + span } else { now() - span };
            prop_assert_eq!(parse_time(&text, now(), Unsigned::Ago).unwrap(), want);
        }

        #[test]
        fn numbers_and_units_in_any_mix_never_panic(n in any::<u64>(), unit in "[a-zµöß]{0,6}", sign in "[+-]?") {
            let _ = parse_time(&format!("{sign}{n}{unit}"), now(), Unsigned::Ago);
        }
    }
}
