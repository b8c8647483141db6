//! A host's interfaces (docs/product.md §3.2): one per rule by default (agent or SNMP on the
//! primary IP), or several from the config context's `interfaces` list: agent, SNMP v1/v2c/v3
//! with per-device details, IPMI and JMX, each on the primary IP, the out-of-band IP or a named
//! address, by IP or by DNS name, one main interface per type.
//!
//! SNMP credentials (community, passphrases) are never values here: they name a user macro
//! (`{$SNMP_COMMUNITY}`), and a secret value belongs in a secret macro by reference, so NetBox,
//! the host config and the job record never hold it.

use crate::netbox::{NetboxObject, PrimaryIp};
use crate::settings::InterfaceKind;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DesiredInterface {
    pub kind: InterfaceKind,
    pub ip: String,
    pub dns: String,
    pub port: String,
    /// The main interface of its type (Zabbix wants exactly one per type).
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub main: bool,
    /// Connect by IP (else by DNS name).
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub useip: bool,
    /// SNMP `details` set per device, over the kind's defaults ([`DesiredInterface::details`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn is_yes(value: &bool) -> bool {
    *value
}

impl InterfaceKind {
    /// Zabbix's interface type: 1 agent, 2 SNMP, 3 IPMI, 4 JMX.
    pub fn zabbix_type(self) -> &'static str {
        match self {
            InterfaceKind::Agent => "1",
            InterfaceKind::SnmpV1 | InterfaceKind::SnmpV2c | InterfaceKind::SnmpV3 => "2",
            InterfaceKind::Ipmi => "3",
            InterfaceKind::Jmx => "4",
        }
    }

    /// The kind of a Zabbix interface of `zabbix_type` (with `snmp_version` from its details).
    pub fn from_zabbix(zabbix_type: &str, snmp_version: &str) -> InterfaceKind {
        match (zabbix_type, snmp_version) {
            ("2", "1") => InterfaceKind::SnmpV1,
            ("2", "3") => InterfaceKind::SnmpV3,
            ("2", _) => InterfaceKind::SnmpV2c,
            ("3", _) => InterfaceKind::Ipmi,
            ("4", _) => InterfaceKind::Jmx,
            _ => InterfaceKind::Agent,
        }
    }

    pub fn default_port(self) -> &'static str {
        match self {
            InterfaceKind::Agent => "10050",
            InterfaceKind::SnmpV1 | InterfaceKind::SnmpV2c | InterfaceKind::SnmpV3 => "161",
            InterfaceKind::Ipmi => "623",
            InterfaceKind::Jmx => "12345",
        }
    }

    /// The SNMP `details` the product writes unless a device says otherwise: credentials as the
    /// user macros Zabbix's SNMP templates use. Empty for other kinds.
    pub fn default_details(self) -> BTreeMap<String, String> {
        let pairs: &[(&str, &str)] = match self {
            InterfaceKind::SnmpV1 => &[("version", "1"), ("bulk", "1"), ("community", "{$SNMP_COMMUNITY}")],
            InterfaceKind::SnmpV2c => &[("version", "2"), ("bulk", "1"), ("community", "{$SNMP_COMMUNITY}")],
            InterfaceKind::SnmpV3 => &[
                ("version", "3"),
                ("bulk", "1"),
                ("securityname", "{$SNMPV3_SECURITYNAME}"),
                ("securitylevel", "2"),
                ("authprotocol", "1"),
                ("authpassphrase", "{$SNMPV3_AUTHPASS}"),
                ("privprotocol", "1"),
                ("privpassphrase", "{$SNMPV3_PRIVPASS}"),
                ("contextname", ""),
            ],
            InterfaceKind::Agent | InterfaceKind::Ipmi | InterfaceKind::Jmx => &[],
        };
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn is_snmp(self) -> bool {
        self.zabbix_type() == "2"
    }
}

impl DesiredInterface {
    /// The main interface of `kind` on `ip`, by IP, on the kind's default port.
    pub fn on(kind: InterfaceKind, ip: &PrimaryIp) -> DesiredInterface {
        DesiredInterface {
            kind,
            ip: ip.address.clone(),
            dns: ip.dns_name.clone(),
            port: kind.default_port().into(),
            main: true,
            useip: true,
            details: BTreeMap::new(),
        }
    }

    /// Every SNMP `details` key written: the kind's defaults with the device's on top.
    pub fn details(&self) -> BTreeMap<String, String> {
        let mut details = self.kind.default_details();
        details.extend(self.details.clone());
        details
    }

    /// This interface with its details spelled out in full: what is compared with Zabbix.
    pub fn effective(&self) -> DesiredInterface {
        DesiredInterface { details: self.details(), ..self.clone() }
    }
}

/// A host's interfaces in a stable order for comparison, details in full.
pub fn compared(interfaces: &[DesiredInterface]) -> Vec<DesiredInterface> {
    let mut all: Vec<DesiredInterface> = interfaces.iter().map(DesiredInterface::effective).collect();
    all.sort_by(|a, b| (a.kind.zabbix_type(), !a.main, a).cmp(&(b.kind.zabbix_type(), !b.main, b)));
    all
}

/// Reads a host's interfaces as stored: a list, or the one interface records before several
/// interfaces per host held.
pub fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<DesiredInterface>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<DesiredInterface>),
        One(DesiredInterface),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::Many(all) => all,
        OneOrMany::One(one) => vec![one],
    })
}

/// One interface as a config context asks for it. Unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceSpec {
    #[serde(rename = "type")]
    pub kind: InterfaceKind,
    /// A number, or a user macro.
    pub port: Option<Value>,
    /// `primary` (the default), `oob` (the device's out-of-band IP), or an IP address.
    pub address: Option<String>,
    /// A DNS name (default: the primary IP's DNS name).
    pub dns: Option<String>,
    /// Connect by IP (the default) or by `dns`.
    pub useip: Option<bool>,
    /// The main interface of its type (default: the first of its type).
    pub main: Option<bool>,
    pub bulk: Option<bool>,
    pub community: Option<String>,
    pub securityname: Option<String>,
    pub securitylevel: Option<Value>,
    pub authprotocol: Option<Value>,
    pub authpassphrase: Option<String>,
    pub privprotocol: Option<Value>,
    pub privpassphrase: Option<String>,
    pub contextname: Option<String>,
}

const SECURITY_LEVELS: [&str; 3] = ["noAuthNoPriv", "authNoPriv", "authPriv"];
const AUTH_PROTOCOLS: [&str; 6] = ["MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512"];
const PRIV_PROTOCOLS: [&str; 6] = ["DES", "AES128", "AES192", "AES256", "AES192C", "AES256C"];

/// A choice given by name (`"SHA256"`) or by Zabbix's number (`3`), as Zabbix's number.
fn choice(key: &str, value: &Value, names: &[&str]) -> Result<String, String> {
    let wrong = || format!("{key}: one of {} (or its number 0-{})", names.join(", "), names.len() - 1);
    match value {
        Value::String(name) => names.iter().position(|n| n.eq_ignore_ascii_case(name)).map(|i| i.to_string()),
        Value::Number(n) => n.as_u64().filter(|&n| (n as usize) < names.len()).map(|n| n.to_string()),
        _ => None,
    }
    .ok_or_else(wrong)
}

fn is_macro_reference(value: &str) -> bool {
    value.starts_with("{$") && value.ends_with('}')
}

impl InterfaceSpec {
    /// The interface this spec asks for on `object` (`primary` is its primary IP); `main` is
    /// decided by [`resolve`].
    fn desired(&self, object: &NetboxObject, primary: &PrimaryIp) -> Result<DesiredInterface, String> {
        let ip = match self.address.as_deref().unwrap_or("primary") {
            "primary" => primary.address.clone(),
            "oob" => match &object.oob_ip {
                Some(oob) => oob.address.clone(),
                None => return Err(format!("address \"oob\": {} has no out-of-band IP", object.reference)),
            },
            literal => {
                let address = literal.split('/').next().unwrap_or(literal);
                address
                    .parse::<IpAddr>()
                    .map_err(|_| format!("address: {literal:?} is not \"primary\", \"oob\" or an IP address"))?;
                address.to_string()
            }
        };
        let port = match &self.port {
            None => self.kind.default_port().to_string(),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|p| (1..=65535).contains(&p)) => n.to_string(),
            Some(Value::String(m)) if is_macro_reference(m) => m.clone(),
            Some(other) => return Err(format!("port: {other} is not a port (1-65535) or a user macro")),
        };
        let dns = self.dns.clone().unwrap_or_else(|| primary.dns_name.clone());
        let useip = self.useip.unwrap_or(true);
        if !useip && dns.is_empty() {
            return Err("useip false needs a DNS name (dns, or the primary IP's DNS name in NetBox)".into());
        }
        Ok(DesiredInterface {
            kind: self.kind,
            ip,
            dns,
            port,
            main: self.main.unwrap_or(false),
            useip,
            details: self.details()?,
        })
    }

    /// The SNMP details this spec sets, checked against its SNMP version.
    fn details(&self) -> Result<BTreeMap<String, String>, String> {
        let kind = self.kind;
        let mut details = BTreeMap::new();
        let mut set = |key: &str, value: Option<String>, allowed: bool| -> Result<(), String> {
            let Some(value) = value else { return Ok(()) };
            if !allowed {
                return Err(format!("{key} is not a setting of a {kind} interface"));
            }
            details.insert(key.to_string(), value);
            Ok(())
        };
        let credential = |key: &str, value: &Option<String>| -> Result<Option<String>, String> {
            match value {
                Some(v) if !is_macro_reference(v) => Err(format!(
                    "{key}: name a user macro (like \"{{$SNMP_COMMUNITY}}\") and give its value as a secret macro by reference: a credential is never a value in NetBox"
                )),
                other => Ok(other.clone()),
            }
        };
        let v3 = kind == InterfaceKind::SnmpV3;
        let v12 = kind.is_snmp() && !v3;
        set("bulk", self.bulk.map(|b| if b { "1" } else { "0" }.to_string()), kind.is_snmp())?;
        set("community", credential("community", &self.community)?, v12)?;
        set("securityname", self.securityname.clone(), v3)?;
        let level = self.securitylevel.as_ref().map(|v| choice("securitylevel", v, &SECURITY_LEVELS)).transpose()?;
        set("securitylevel", level, v3)?;
        let auth = self.authprotocol.as_ref().map(|v| choice("authprotocol", v, &AUTH_PROTOCOLS)).transpose()?;
        set("authprotocol", auth, v3)?;
        set("authpassphrase", credential("authpassphrase", &self.authpassphrase)?, v3)?;
        let private = self.privprotocol.as_ref().map(|v| choice("privprotocol", v, &PRIV_PROTOCOLS)).transpose()?;
        set("privprotocol", private, v3)?;
        set("privpassphrase", credential("privpassphrase", &self.privpassphrase)?, v3)?;
        set("contextname", self.contextname.clone(), v3)?;
        Ok(details)
    }
}

/// The interfaces `specs` ask for on `object`: each checked (errors name the interface by its
/// place in the list), the first of each type main unless one of that type says so, and at most
/// one main per type.
pub fn resolve(
    specs: &[InterfaceSpec],
    object: &NetboxObject,
    primary: &PrimaryIp,
) -> Result<Vec<DesiredInterface>, String> {
    if specs.is_empty() {
        return Err("interfaces: give at least one interface".into());
    }
    let mut interfaces = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| spec.desired(object, primary).map_err(|e| format!("interfaces[{i}] ({}): {e}", spec.kind)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut types: Vec<&str> = interfaces.iter().map(|i| i.kind.zabbix_type()).collect();
    types.dedup();
    for zabbix_type in types {
        let of_type: Vec<usize> =
            (0..interfaces.len()).filter(|&i| interfaces[i].kind.zabbix_type() == zabbix_type).collect();
        let mains = of_type.iter().filter(|&&i| interfaces[i].main).count();
        if mains > 1 {
            return Err(format!(
                "interfaces: {mains} main interfaces of one type ({}); say main: true on one",
                interfaces[of_type[0]].kind
            ));
        }
        if mains == 0 {
            interfaces[of_type[0]].main = true;
        }
    }
    Ok(interfaces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netbox::ObjectKind;
    use serde_json::json;

    fn device() -> (NetboxObject, PrimaryIp) {
        let primary = PrimaryIp { address: "192.0.2.10".into(), dns_name: "sw1.example.net".into() };
        let object = NetboxObject::from_rest(
            ObjectKind::Device,
            &json!({"id": 7, "status": "active", "oob_ip": {"address": "198.51.100.7/24"}}),
        )
        .unwrap();
        (object, primary)
    }

    fn specs(value: Value) -> Vec<InterfaceSpec> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn several_interfaces_on_the_primary_the_oob_and_a_named_address_with_one_main_per_type() {
        let (object, primary) = device();
        let all = resolve(
            &specs(json!([
                {"type": "agent"},
                {"type": "snmpv3", "securityname": "{$V3_USER}", "securitylevel": "authPriv",
                 "authprotocol": "SHA256", "privprotocol": 3, "authpassphrase": "{$V3_AUTH}"},
                {"type": "ipmi", "address": "oob"},
                {"type": "agent", "address": "192.0.2.99", "port": 10051, "main": true},
                {"type": "jmx", "useip": false, "port": "{$JMX.PORT}"},
            ])),
            &object,
            &primary,
        )
        .unwrap();
        assert_eq!(all.iter().map(|i| i.main).collect::<Vec<_>>(), [false, true, true, true, true]);
        assert_eq!((all[2].ip.as_str(), all[2].port.as_str()), ("198.51.100.7", "623"));
        assert_eq!((all[3].ip.as_str(), all[3].port.as_str()), ("192.0.2.99", "10051"));
        assert_eq!(
            (all[4].useip, all[4].dns.as_str(), all[4].port.as_str()),
            (false, "sw1.example.net", "{$JMX.PORT}")
        );
        let v3 = all[1].details();
        assert_eq!(
            (v3["securitylevel"].as_str(), v3["authprotocol"].as_str(), v3["privprotocol"].as_str()),
            ("2", "3", "3")
        );
        assert_eq!((v3["securityname"].as_str(), v3["privpassphrase"].as_str()), ("{$V3_USER}", "{$SNMPV3_PRIVPASS}"));
    }

    #[test]
    fn a_wrong_interface_is_refused_naming_it() {
        let (mut object, primary) = device();
        for (bad, says) in [
            (
                json!([{"type": "snmpv2c", "community": "public"}]),
                "interfaces[0] (snmpv2c): community: name a user macro",
            ),
            (json!([{"type": "agent", "securityname": "x"}]), "securityname is not a setting of a agent interface"),
            (json!([{"type": "snmpv2c", "securityname": "x"}]), "securityname is not a setting of a snmpv2c"),
            (json!([{"type": "snmpv3", "authprotocol": "SHA999"}]), "authprotocol: one of MD5"),
            (json!([{"type": "agent", "port": 70000}]), "is not a port"),
            (json!([{"type": "agent", "address": "sw1"}]), "is not \"primary\", \"oob\" or an IP"),
            (json!([{"type": "agent", "main": true}, {"type": "agent", "main": true}]), "2 main interfaces"),
            (json!([]), "at least one"),
        ] {
            let err = resolve(&specs(bad), &object, &primary).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
        object.oob_ip = None;
        let err = resolve(&specs(json!([{"type": "ipmi", "address": "oob"}])), &object, &primary).unwrap_err();
        assert!(err.contains("dcim.device/7 has no out-of-band IP"), "{err}");
        let no_dns = PrimaryIp { address: "192.0.2.10".into(), dns_name: String::new() };
        let err = resolve(&specs(json!([{"type": "agent", "useip": false}])), &object, &no_dns).unwrap_err();
        assert!(err.contains("needs a DNS name"), "{err}");
        let typo: Result<Vec<InterfaceSpec>, _> = serde_json::from_value(json!([{"type": "agent", "prot": 1}]));
        assert!(typo.unwrap_err().to_string().contains("unknown field `prot`"));
    }

    #[test]
    fn a_stored_single_interface_reads_as_a_list() {
        #[derive(Deserialize)]
        struct Stored {
            #[serde(alias = "interface", deserialize_with = "one_or_many")]
            interfaces: Vec<DesiredInterface>,
        }
        let old: Stored = serde_json::from_value(
            json!({"interface": {"kind": "agent", "ip": "192.0.2.1", "dns": "", "port": "10050"}}),
        )
        .unwrap();
        assert_eq!(old.interfaces.len(), 1);
        assert!(old.interfaces[0].main && old.interfaces[0].useip);
    }
}
