//! SigV4 signing for `nzj --endpoint <Function URL>`: the deployed jobs API sits behind a Lambda
//! Function URL with IAM auth, so each request is signed (service `lambda`) with the caller's AWS
//! credentials from the usual chain (environment, profile, SSO, instance role).

use anyhow::{Context, anyhow};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use std::time::SystemTime;

pub struct Signer {
    credentials: SharedCredentialsProvider,
    region: String,
}

/// The region of a Function URL host (`<id>.lambda-url.<region>.on.aws`).
pub fn region_of(host: &str) -> Option<String> {
    let rest = host.split_once(".lambda-url.")?.1;
    rest.strip_suffix(".on.aws").map(str::to_string)
}

impl Signer {
    /// Credentials from the default chain; the region from the URL, else `AWS_REGION`.
    pub async fn for_endpoint(url: &reqwest::Url) -> anyhow::Result<Signer> {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let region = url
            .host_str()
            .and_then(region_of)
            .or_else(|| config.region().map(|r| r.to_string()))
            .ok_or_else(|| anyhow!("SigV4: no region (not a Function URL, and AWS_REGION is not set)"))?;
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| anyhow!("SigV4: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID)"))?;
        Ok(Signer::new(credentials, region))
    }

    pub fn new(credentials: SharedCredentialsProvider, region: String) -> Signer {
        Signer { credentials, region }
    }

    /// Adds the SigV4 headers (`authorization`, `x-amz-date`, and the session token if any).
    pub async fn sign(&self, request: &mut reqwest::Request, at: SystemTime) -> anyhow::Result<()> {
        let identity = self.credentials.provide_credentials().await.context("SigV4: reading AWS credentials")?.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("lambda")
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| anyhow!("SigV4: {e}"))?
            .into();
        let body = request.body().and_then(|b| b.as_bytes()).unwrap_or_default().to_vec();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.url().as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| anyhow!("SigV4: {e}"))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| anyhow!("SigV4: {e}"))?.into_parts();
        for (name, value) in instructions.headers() {
            request.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes())?,
                reqwest::header::HeaderValue::from_str(value)?,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    #[test]
    fn the_region_comes_from_a_function_url() {
        assert_eq!(region_of("abc123.lambda-url.eu-west-1.on.aws").as_deref(), Some("eu-west-1"));
        assert_eq!(region_of("127.0.0.1"), None);
    }

    #[tokio::test]
    async fn a_request_is_signed_for_lambda_in_its_region_with_the_session_token() {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("tok".into()),
            None,
            "test",
        );
        let signer = Signer::new(SharedCredentialsProvider::new(credentials), "eu-west-1".into());
        let client = reqwest::Client::new();
        let mut request = client
            .post("https://abc123.lambda-url.eu-west-1.on.aws/api/jobs")
            .header("content-type", "application/json")
            .body(r#"{"name":"SyncHostsNow"}"#)
            .build()
            .unwrap();
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        signer.sign(&mut request, at).await.unwrap();
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261118/eu-west-1/lambda/aws4_request"),
            "{auth}"
        );
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"), "{auth}");
        assert_eq!(request.headers()["x-amz-date"], "20261118T110640Z");
        assert_eq!(request.headers()["x-amz-security-token"], "tok");
        // The same request and time sign the same; another body signs differently.
        let mut again = client
            .post("https://abc123.lambda-url.eu-west-1.on.aws/api/jobs")
            .header("content-type", "application/json")
            .body(r#"{"name":"SyncHostsNow"}"#)
            .build()
            .unwrap();
        signer.sign(&mut again, at).await.unwrap();
        assert_eq!(again.headers()["authorization"], request.headers()["authorization"]);
        let mut other = client.post("https://abc123.lambda-url.eu-west-1.on.aws/api/jobs").body("{}").build().unwrap();
        signer.sign(&mut other, at).await.unwrap();
        assert_ne!(other.headers()["authorization"], request.headers()["authorization"]);
    }
}
