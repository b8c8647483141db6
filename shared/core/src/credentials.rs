//! A host's user macros and TLS settings from NetBox (docs/product.md §3.2), with secrets by
//! reference only: a secret macro or a PSK names an entry of the product's secret store (a file
//! or an environment variable for `nzj serve`, SSM Parameter Store on AWS), a vault macro names a
//! Zabbix vault path. NetBox, host configs, plans and job records hold the names, never the
//! values. Zabbix never returns a secret macro's value or a PSK, so what was last written is
//! compared by a hash ([`written_hash`]): no false drift, and no false in-sync when the secret
//! store's value changes.

use crate::netbox::ObjectRef;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// One user macro the product sets. Stored as the config context writes it: a text, or
/// `{"secret": "<name in the secret store>"}`, or `{"vault": "<vault path>"}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DesiredMacro {
    Text(String),
    Secret { secret: String },
    Vault { vault: String },
}

impl DesiredMacro {
    /// Zabbix's macro type: 0 text, 1 secret, 2 vault.
    pub fn zabbix_type(&self) -> u8 {
        match self {
            DesiredMacro::Text(_) => 0,
            DesiredMacro::Secret { .. } => 1,
            DesiredMacro::Vault { .. } => 2,
        }
    }

    /// The macro as Zabbix answers it: a secret's value never comes back, so a secret compares
    /// by its type (its value by [`written_hash`]).
    pub fn compared(&self) -> DesiredMacro {
        match self {
            DesiredMacro::Secret { .. } => DesiredMacro::Secret { secret: String::new() },
            other => other.clone(),
        }
    }

    /// A macro as Zabbix answered it (`kind` its type).
    pub fn from_zabbix(kind: &str, value: &str) -> DesiredMacro {
        match kind {
            "1" => DesiredMacro::Secret { secret: String::new() },
            "2" => DesiredMacro::Vault { vault: value.to_string() },
            _ => DesiredMacro::Text(value.to_string()),
        }
    }

    /// A config context's macro value: a text, or an object with exactly one of `secret`
    /// (a secret store name) or `vault` (a vault path).
    pub fn from_context(value: &Value) -> Result<DesiredMacro, String> {
        let shapes = "a text, {\"secret\": \"<name in the secret store>\"} or {\"vault\": \"<vault path>\"}";
        match value {
            Value::String(text) => Ok(DesiredMacro::Text(text.clone())),
            Value::Object(map) if map.len() == 1 => match map.iter().next() {
                Some((key, Value::String(name))) if key == "secret" => {
                    check_secret_name(name)?;
                    Ok(DesiredMacro::Secret { secret: name.clone() })
                }
                Some((key, Value::String(path))) if key == "vault" && !path.trim().is_empty() => {
                    Ok(DesiredMacro::Vault { vault: path.clone() })
                }
                Some((key, _)) if key == "value" => Err(format!(
                    "a secret's value never goes in NetBox: put it in the secret store and write {{\"secret\": \"<its name>\"}} ({shapes})"
                )),
                _ => Err(format!("must be {shapes}")),
            },
            _ => Err(format!("must be {shapes}")),
        }
    }
}

/// Whether `name` can name a secret store entry: letters, digits, `_ . -`, segments joined by
/// `/` (no empty segment, no `..`), at most 200 characters.
pub fn check_secret_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name.split('/').all(|segment| {
            !segment.is_empty()
                && segment != ".."
                && segment != "."
                && segment.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a secret name (letters, digits, _ . - in segments joined by /, like snmp/campus-ro)"
        ))
    }
}

named_enum!(
    /// How Zabbix talks to the agent, or the agent to Zabbix.
    TlsMode { Unencrypted => "none", Psk => "psk", Cert => "cert" }
);

impl TlsMode {
    /// Zabbix's bit for this mode: 1 unencrypted, 2 PSK, 4 certificate.
    pub fn bit(self) -> u8 {
        match self {
            TlsMode::Unencrypted => 1,
            TlsMode::Psk => 2,
            TlsMode::Cert => 4,
        }
    }
}

/// The TLS settings of a host's agent connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredTls {
    pub connect: TlsMode,
    pub accept: BTreeSet<TlsMode>,
    /// Secret store names of the PSK identity and the PSK (both write-only in Zabbix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psk_identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psk: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
}

impl DesiredTls {
    /// Checks a config context's `tls`: PSK in either direction needs both PSK names, which
    /// must be secret names.
    pub fn check(&self) -> Result<(), String> {
        if self.accept.is_empty() {
            return Err("tls: accept needs at least one of none, psk, cert".into());
        }
        let psk = self.connect == TlsMode::Psk || self.accept.contains(&TlsMode::Psk);
        match (&self.psk_identity, &self.psk) {
            (Some(identity), Some(psk_name)) if psk => {
                check_secret_name(identity).map_err(|e| format!("tls: psk_identity: {e}"))?;
                check_secret_name(psk_name).map_err(|e| format!("tls: psk: {e}"))?;
            }
            (None, None) if !psk => {}
            _ if psk => {
                return Err("tls: PSK needs psk_identity and psk, each the name of a secret in the secret store".into());
            }
            _ => return Err("tls: psk_identity and psk are only for PSK (connect or accept \"psk\")".into()),
        }
        Ok(())
    }

    /// The modes of Zabbix's `tls_connect` or `tls_accept` bits.
    pub fn modes(bits: &str) -> BTreeSet<TlsMode> {
        let bits: u8 = bits.parse().unwrap_or(1);
        TlsMode::ALL.iter().copied().filter(|m| bits & m.bit() != 0).collect()
    }

    /// Zabbix's `tls_accept`: the sum of the modes' bits.
    pub fn accept_bits(&self) -> u8 {
        self.accept.iter().map(|m| m.bit()).sum()
    }

    /// The TLS settings as Zabbix answers them (the PSK names are compared by [`written_hash`]).
    pub fn compared(&self) -> String {
        let accept: Vec<String> = self.accept.iter().map(|m| m.to_string()).collect();
        format!(
            "connect {}, accept {}, issuer {:?}, subject {:?}",
            self.connect,
            accept.join("+"),
            self.issuer,
            self.subject
        )
    }
}

/// Secret store values by name, for the writes of a batch of hosts.
#[derive(Debug, Clone, Default)]
pub struct SecretValues(pub BTreeMap<String, Secret>);

impl SecretValues {
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.0.get(name)
    }
}

/// The secret store names a host refers to: its secret macros' and its PSK's.
pub fn secret_names<'a>(macros: &'a BTreeMap<String, DesiredMacro>, tls: Option<&'a DesiredTls>) -> BTreeSet<&'a str> {
    let mut names: BTreeSet<&str> = macros
        .values()
        .filter_map(|m| match m {
            DesiredMacro::Secret { secret } => Some(secret.as_str()),
            _ => None,
        })
        .collect();
    if let Some(tls) = tls {
        names.extend(tls.psk_identity.as_deref());
        names.extend(tls.psk.as_deref());
    }
    names
}

/// A hash of the write-only values a host gets (`None` when it gets none): stored with the host
/// config when written, and compared on the next sync, since Zabbix never returns them. Each
/// value is hashed with the object and where it goes, so equal secrets on two hosts (or in two
/// places) hash apart.
pub fn written_hash(
    object: ObjectRef,
    macros: &BTreeMap<String, DesiredMacro>,
    tls: Option<&DesiredTls>,
    values: &SecretValues,
) -> Option<String> {
    let mut places: Vec<(String, &str)> = macros
        .iter()
        .filter_map(|(name, m)| match m {
            DesiredMacro::Secret { secret } => Some((format!("macro {name}"), secret.as_str())),
            _ => None,
        })
        .collect();
    if let Some(tls) = tls {
        places.extend(tls.psk_identity.as_deref().map(|n| ("tls_psk_identity".to_string(), n)));
        places.extend(tls.psk.as_deref().map(|n| ("tls_psk".to_string(), n)));
    }
    if places.is_empty() {
        return None;
    }
    let mut hash = Sha256::new();
    hash.update(b"nzj written secrets v1\0");
    hash.update(object.to_string().as_bytes());
    for (place, name) in places {
        let value = values.get(name).map(Secret::expose).unwrap_or_default();
        for part in [place.as_bytes(), name.as_bytes(), value.as_bytes()] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
    }
    Some(format!("sha256:{}", hex::encode(hash.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netbox::ObjectKind;
    use serde_json::json;

    #[test]
    fn macros_from_a_config_context_are_text_secret_or_vault_and_a_value_in_clear_is_refused() {
        assert_eq!(DesiredMacro::from_context(&json!("80")).unwrap(), DesiredMacro::Text("80".into()));
        let secret = DesiredMacro::from_context(&json!({"secret": "snmp/campus-ro"})).unwrap();
        assert_eq!((secret.zabbix_type(), secret.compared()), (1, DesiredMacro::Secret { secret: String::new() }));
        assert_eq!(DesiredMacro::from_context(&json!({"vault": "secret/zbx:community"})).unwrap().zabbix_type(), 2);
        for (bad, says) in [
            (json!({"value": "hunter2"}), "never goes in NetBox"),
            (json!({"secret": "../etc/passwd"}), "is not a secret name"),
            (json!({"secret": "a", "vault": "b"}), "must be a text"),
            (json!(42), "must be a text"),
        ] {
            let err = DesiredMacro::from_context(&bad).unwrap_err();
            assert!(err.contains(says) && !err.contains("hunter2"), "{err}");
        }
        // Stored as written.
        let stored: DesiredMacro = serde_json::from_value(json!({"secret": "x"})).unwrap();
        assert_eq!(serde_json::to_value(&stored).unwrap(), json!({"secret": "x"}));
    }

    #[test]
    fn tls_with_psk_needs_both_names() {
        let tls = |v: Value| serde_json::from_value::<DesiredTls>(v).unwrap().check();
        tls(json!({"connect": "psk", "accept": ["psk"], "psk_identity": "psk/id", "psk": "psk/key"})).unwrap();
        tls(json!({"connect": "cert", "accept": ["cert", "none"], "issuer": "CN=CA"})).unwrap();
        assert!(
            tls(json!({"connect": "psk", "accept": ["psk"], "psk": "k"})).unwrap_err().contains("needs psk_identity")
        );
        assert!(tls(json!({"connect": "none", "accept": ["none"], "psk": "k", "psk_identity": "i"})).is_err());
        assert!(tls(json!({"connect": "none", "accept": []})).is_err());
    }

    #[test]
    fn the_written_hash_changes_with_a_value_and_never_shows_it() {
        let object = ObjectRef { kind: ObjectKind::Device, id: 1 };
        let macros = BTreeMap::from([("{$KEY}".to_string(), DesiredMacro::Secret { secret: "k".into() })]);
        let values = |v: &str| SecretValues(BTreeMap::from([("k".to_string(), Secret::new(v))]));
        let one = written_hash(object, &macros, None, &values("s3cr3t")).unwrap();
        assert_eq!(Some(one.clone()), written_hash(object, &macros, None, &values("s3cr3t")));
        assert_ne!(Some(one.clone()), written_hash(object, &macros, None, &values("rotated")));
        let other = ObjectRef { kind: ObjectKind::Device, id: 2 };
        assert_ne!(Some(one.clone()), written_hash(other, &macros, None, &values("s3cr3t")), "salted by object");
        assert!(!one.contains("s3cr3t"));
        assert_eq!(written_hash(object, &BTreeMap::new(), None, &values("x")), None);
    }
}
