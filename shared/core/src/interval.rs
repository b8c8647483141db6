//! System-job intervals: only the values the plugin allows (docs/product.md §2.2), plus "off".

use chrono::Duration;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Allowed intervals in minutes, as in the NetBox Zabbix plugin.
pub const ALLOWED_MINUTES: [u32; 19] =
    [1, 5, 15, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 660, 720, 1440, 10080, 43200];

/// How often a system job runs. Serialized as minutes, or `null` for off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Option<u32>", into = "Option<u32>")]
pub enum Interval {
    Off,
    Every(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("interval {0} is not allowed; use one of {allowed} minutes, or off", allowed = allowed_list())]
pub struct InvalidInterval(pub String);

fn allowed_list() -> String {
    ALLOWED_MINUTES.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

impl Interval {
    /// Daily: the default for every system job.
    pub const DEFAULT: Interval = Interval::Every(1440);

    pub fn minutes(minutes: u32) -> Result<Self, InvalidInterval> {
        if ALLOWED_MINUTES.contains(&minutes) {
            Ok(Interval::Every(minutes))
        } else {
            Err(InvalidInterval(minutes.to_string()))
        }
    }

    pub fn as_minutes(self) -> Option<u32> {
        match self {
            Interval::Off => None,
            Interval::Every(m) => Some(m),
        }
    }

    pub fn as_duration(self) -> Option<Duration> {
        self.as_minutes().map(|m| Duration::minutes(i64::from(m)))
    }
}

impl TryFrom<Option<u32>> for Interval {
    type Error = InvalidInterval;
    fn try_from(value: Option<u32>) -> Result<Self, Self::Error> {
        value.map_or(Ok(Interval::Off), Interval::minutes)
    }
}

impl From<Interval> for Option<u32> {
    fn from(value: Interval) -> Self {
        value.as_minutes()
    }
}

impl FromStr for Interval {
    type Err = InvalidInterval;
    /// `off`, or a number of minutes from the allowed list.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Interval::Off);
        }
        s.parse::<u32>().map_err(|_| InvalidInterval(format!("{s:?}"))).and_then(Interval::minutes)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interval::Off => f.write_str("off"),
            Interval::Every(m) => write!(f, "{m}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_plugins_intervals_are_accepted() {
        for m in ALLOWED_MINUTES {
            assert_eq!(Interval::minutes(m), Ok(Interval::Every(m)));
        }
        for m in [0, 2, 59, 61, 1439, 100_000] {
            assert!(Interval::minutes(m).is_err(), "{m} must be refused");
        }
    }

    #[test]
    fn null_is_off_and_round_trips_through_json() {
        let off: Interval = serde_json::from_str("null").unwrap();
        assert_eq!(off, Interval::Off);
        let hourly: Interval = serde_json::from_str("60").unwrap();
        assert_eq!(serde_json::to_string(&hourly).unwrap(), "60");
        assert!(serde_json::from_str::<Interval>("61").is_err());
        assert!(serde_json::from_str::<Interval>("\"60\"").is_err());
    }

    #[test]
    fn parses_off_and_minutes_from_text() {
        assert_eq!("off".parse::<Interval>(), Ok(Interval::Off));
        assert_eq!("OFF".parse::<Interval>(), Ok(Interval::Off));
        assert_eq!("1440".parse::<Interval>(), Ok(Interval::DEFAULT));
        assert!("daily".parse::<Interval>().is_err());
        assert!("7".parse::<Interval>().is_err());
    }
}
