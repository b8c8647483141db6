//! Zabbix versions and every difference between them that the product relies on (docs/product.md §5),
//! in one place. Field names are chosen from the version, never guessed from errors: 7.0
//! silently accepts `proxy_hostid` without moving the host, and 6.0 silently ignores
//! parameters it does not know.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZabbixVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl ZabbixVersion {
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        ZabbixVersion { major, minor, patch }
    }

    /// The oldest version this product supports.
    pub const OLDEST: ZabbixVersion = ZabbixVersion::new(6, 0, 0);

    fn at_least(self, major: u16, minor: u16) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// From 6.4 the token goes in `Authorization: Bearer` (the only way from 7.2); before, in the
    /// body's `auth` field.
    pub fn auth_in_header(self) -> bool {
        self.at_least(6, 4)
    }

    /// Proxy objects are named by `host` before 7.0 and by `name` from 7.0.
    pub fn proxy_name_field(self) -> &'static str {
        if self.at_least(7, 0) { "name" } else { "host" }
    }

    /// Proxy groups exist from 7.0.
    pub fn has_proxy_groups(self) -> bool {
        self.at_least(7, 0)
    }

    /// Hosts name their proxy with `proxy_hostid` before 7.0, and with `monitored_by` +
    /// `proxyid` / `proxy_groupid` from 7.0.
    pub fn proxy_on_host_by_monitored_by(self) -> bool {
        self.at_least(7, 0)
    }

    /// `selectHostGroups` from 6.2 (`selectGroups` is gone in 7.2); its result key follows.
    pub fn select_host_groups(self) -> (&'static str, &'static str) {
        if self.at_least(6, 2) { ("selectHostGroups", "hostgroups") } else { ("selectGroups", "groups") }
    }
}

impl fmt::Display for ZabbixVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for ZabbixVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts =
            s.trim().split('.').map(|p| p.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u16>());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(Ok(major)), Some(Ok(minor)), patch) => {
                Ok(ZabbixVersion::new(major, minor, patch.and_then(Result::ok).unwrap_or(0)))
            }
            _ => Err(format!("not a Zabbix version: {s:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ZabbixVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_release_and_prerelease_versions() {
        assert_eq!(v("6.0.14"), ZabbixVersion::new(6, 0, 14));
        assert_eq!(v("7.0.22"), ZabbixVersion::new(7, 0, 22));
        assert_eq!(v("7.4.0rc1"), ZabbixVersion::new(7, 4, 0));
        assert!("seven".parse::<ZabbixVersion>().is_err());
    }

    #[test]
    fn each_difference_switches_at_its_version() {
        assert!(!v("6.0.14").auth_in_header());
        assert!(!v("6.2.9").auth_in_header());
        assert!(v("6.4.0").auth_in_header());
        assert!(v("7.2.1").auth_in_header());
        assert_eq!(v("6.4.5").proxy_name_field(), "host");
        assert_eq!(v("7.0.0").proxy_name_field(), "name");
        assert!(!v("6.4.5").has_proxy_groups());
        assert!(v("7.0.22").has_proxy_groups());
        assert!(!v("6.4.5").proxy_on_host_by_monitored_by());
        assert!(v("7.4.0").proxy_on_host_by_monitored_by());
        assert_eq!(v("6.0.14").select_host_groups().0, "selectGroups");
        assert_eq!(v("6.2.0").select_host_groups(), ("selectHostGroups", "hostgroups"));
        assert!(v("5.4.0") < ZabbixVersion::OLDEST);
    }
}
