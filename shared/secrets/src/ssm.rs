//! Secrets in SSM Parameter Store (SecureString), parameter `<prefix><name>`, read with
//! decryption ten names per `GetParameters` call (its limit).

use crate::{Lookup, SecretStore, SecretsError};
use async_trait::async_trait;
use nzj_core::credentials::check_secret_name;
use nzj_core::secret::Secret;
use std::collections::BTreeSet;

pub struct SsmSecrets {
    client: aws_sdk_ssm::Client,
    prefix: String,
}

impl SsmSecrets {
    pub fn new(client: aws_sdk_ssm::Client, prefix: impl Into<String>) -> SsmSecrets {
        SsmSecrets { client, prefix: prefix.into() }
    }
}

#[async_trait]
impl SecretStore for SsmSecrets {
    async fn lookup(&self, names: &BTreeSet<String>) -> Result<Lookup, SecretsError> {
        let mut found = Lookup::default();
        let (valid, invalid): (Vec<&String>, Vec<&String>) = names.iter().partition(|n| check_secret_name(n).is_ok());
        for name in invalid {
            found.missing.insert(name.clone(), "not a secret name".into());
        }
        for chunk in valid.chunks(10) {
            let parameters: Vec<String> = chunk.iter().map(|n| format!("{}{n}", self.prefix)).collect();
            let answer = self
                .client
                .get_parameters()
                .set_names(Some(parameters))
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| SecretsError::Unavailable(aws_sdk_ssm::error::DisplayErrorContext(e).to_string()))?;
            for parameter in answer.parameters() {
                let (Some(full), Some(value)) = (parameter.name(), parameter.value()) else { continue };
                if let Some(name) = full.strip_prefix(&self.prefix) {
                    found.values.0.insert(name.to_string(), Secret::new(value));
                }
            }
            for name in chunk {
                if found.values.get(name).is_none() {
                    found
                        .missing
                        .insert((*name).clone(), format!("SSM parameter {}{name} does not exist", self.prefix));
                }
            }
        }
        Ok(found)
    }
}
