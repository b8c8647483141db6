//! The product's secret store (docs/product.md §3.2): where the value of a secret macro or a
//! PSK that NetBox names is looked up when a host is written. NetBox holds only the name, so a
//! secret is never in NetBox, a host config, a plan or a job record. Two adapters behind one
//! trait: [`LocalSecrets`] (`NZJ_SECRET_<NAME>` variables, then files in `NZJ_SECRETS_DIR`) for
//! `nzj serve`, and [`SsmSecrets`] (SSM Parameter Store) on AWS.

use async_trait::async_trait;
use nzj_core::config::{SecretsConfig, secret_variable};
use nzj_core::credentials::{SecretValues, check_secret_name};
use nzj_core::secret::Secret;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[cfg(feature = "ssm")]
mod ssm;
#[cfg(feature = "ssm")]
pub use ssm::SsmSecrets;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// The store could not be asked (a retry may help); never quotes a value.
    #[error("the secret store is unavailable: {0}")]
    Unavailable(String),
}

/// What a lookup found: the values, and the names the store does not have.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    pub values: SecretValues,
    /// Name -> where it was looked for (for the host's failure).
    pub missing: BTreeMap<String, String>,
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The values of `names`; a name the store does not have is in `missing`, not an error.
    async fn lookup(&self, names: &BTreeSet<String>) -> Result<Lookup, SecretsError>;
}

/// No secret store: every name is missing (a deployment that names no secret needs none).
pub struct NoSecrets;

#[async_trait]
impl SecretStore for NoSecrets {
    async fn lookup(&self, names: &BTreeSet<String>) -> Result<Lookup, SecretsError> {
        let missing = names.iter().map(|n| (n.clone(), "no secret store is configured".to_string())).collect();
        Ok(Lookup { values: SecretValues::default(), missing })
    }
}

/// `nzj serve`'s store: the variable `NZJ_SECRET_<NAME>` (read at start), else the file
/// `<NZJ_SECRETS_DIR>/<name>` (read each time, so a rotated file is picked up), its trailing
/// newline dropped.
pub struct LocalSecrets {
    variables: BTreeMap<String, Secret>,
    dir: Option<PathBuf>,
}

impl LocalSecrets {
    pub fn new(config: &SecretsConfig) -> LocalSecrets {
        LocalSecrets { variables: config.variables.clone(), dir: config.dir.clone() }
    }

    fn read_file(&self, name: &str) -> Result<Option<Secret>, SecretsError> {
        let Some(dir) = &self.dir else { return Ok(None) };
        // Names are checked (no `..`, no leading `/`), so the file is inside the directory.
        match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => Ok(Some(Secret::new(text.strip_suffix('\n').unwrap_or(&text).trim_end_matches('\r')))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SecretsError::Unavailable(format!("{}: {}", dir.join(name).display(), e.kind()))),
        }
    }
}

#[async_trait]
impl SecretStore for LocalSecrets {
    async fn lookup(&self, names: &BTreeSet<String>) -> Result<Lookup, SecretsError> {
        let mut found = Lookup::default();
        for name in names {
            let variable = secret_variable(name);
            let value = match (check_secret_name(name), self.variables.get(&variable)) {
                (Err(_), _) => None,
                (Ok(()), Some(value)) => Some(value.clone()),
                (Ok(()), None) => self.read_file(name)?,
            };
            match value {
                Some(value) => {
                    found.values.0.insert(name.clone(), value);
                }
                None => {
                    let place = match &self.dir {
                        Some(dir) => format!("neither {variable} nor {} is set", dir.join(name).display()),
                        None => format!("{variable} is not set (and NZJ_SECRETS_DIR is not set)"),
                    };
                    found.missing.insert(name.clone(), place);
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(all: &[&str]) -> BTreeSet<String> {
        all.iter().map(|n| n.to_string()).collect()
    }

    #[tokio::test]
    async fn variables_then_files_and_a_missing_name_says_where_it_was_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("snmp")).unwrap();
        std::fs::write(dir.path().join("snmp/campus-ro"), "from-file\n").unwrap();
        let config = SecretsConfig {
            variables: BTreeMap::from([("NZJ_SECRET_PSK_KEY".to_string(), Secret::new("from-env"))]),
            dir: Some(dir.path().to_path_buf()),
            ssm_prefix: None,
        };
        let store = LocalSecrets::new(&config);
        let found = store.lookup(&names(&["psk/key", "snmp/campus-ro", "nowhere", "../etc"])).await.unwrap();
        assert_eq!(found.values.get("psk/key").unwrap().expose(), "from-env");
        assert_eq!(found.values.get("snmp/campus-ro").unwrap().expose(), "from-file");
        assert_eq!(found.missing.keys().collect::<Vec<_>>(), ["../etc", "nowhere"]);
        assert!(found.missing["nowhere"].contains("NZJ_SECRET_NOWHERE"), "{:?}", found.missing);
        // A rotated file is read again.
        std::fs::write(dir.path().join("snmp/campus-ro"), "rotated").unwrap();
        let again = store.lookup(&names(&["snmp/campus-ro"])).await.unwrap();
        assert_eq!(again.values.get("snmp/campus-ro").unwrap().expose(), "rotated");
        let none = NoSecrets.lookup(&names(&["x"])).await.unwrap();
        assert!(none.missing["x"].contains("no secret store"));
    }
}
