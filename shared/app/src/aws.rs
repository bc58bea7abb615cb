//! The AWS SDK settings every adapter shares (DynamoDB, SES, SNS, SQS), loaded once.
//!
//! Their HTTPS client trusts the roots of AWS service endpoints only (`amazon-roots.pem`:
//! Amazon Root CA 1-4 and the Starfield root that cross-signs them), embedded in the binary.
//! The SDK's default reads the platform's whole certificate store when the client is built,
//! file by file: on a Lambda cold start that was most of the start-up time (PERFORMANCE.md).
//! `OUTREACH_TLS_NATIVE_ROOTS=1` trusts the platform's store instead, for an endpoint
//! behind a proxy that presents its own certificates.

use anyhow::{Context, Result, bail};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};

const AMAZON_ROOTS: &[u8] = include_bytes!("amazon-roots.pem");

/// Whether the platform's certificate store is trusted (`OUTREACH_TLS_NATIVE_ROOTS`).
fn native_roots() -> Result<bool> {
    match std::env::var("OUTREACH_TLS_NATIVE_ROOTS").ok().as_deref() {
        None | Some("" | "0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => bail!("OUTREACH_TLS_NATIVE_ROOTS={other:?}: expected 1 or 0"),
    }
}

/// The trust store of the SDK's HTTPS client.
fn trust_store(native: bool) -> TrustStore {
    if native {
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(AMAZON_ROOTS)
    }
}

/// The SDK settings from the environment (region, credentials, `AWS_ENDPOINT_URL`), with the
/// HTTPS client described above.
pub async fn sdk_config() -> Result<SdkConfig> {
    let tls = TlsContext::builder()
        .with_trust_store(trust_store(native_roots()?))
        .build()
        .context("the AWS SDK's TLS settings")?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls)
        .build_https();
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await)
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[test]
    fn the_embedded_roots_are_the_five_amazon_trust_services_certificates() {
        let text = std::str::from_utf8(AMAZON_ROOTS).unwrap();
        assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert_eq!(text.matches("-----END CERTIFICATE-----").count(), 5);
    }

    /// The client builds its TLS settings from the embedded roots (a root that does not parse
    /// would panic there) and opens a TLS handshake: an HTTPS endpoint on 127.0.0.1 gets a
    /// ClientHello. The endpoint then hangs up, so the call fails, as it must.
    #[tokio::test]
    async fn the_sdk_client_speaks_tls_with_the_embedded_roots() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hello = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut first = [0u8; 3];
            socket.read_exact(&mut first).await.unwrap();
            first
        });
        let sdk = sdk_config().await.unwrap();
        let config = aws_sdk_sqs::config::Builder::from(&sdk)
            .endpoint_url(format!("https://127.0.0.1:{port}"))
            .region(aws_sdk_sqs::config::Region::new("ap-southeast-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let result = aws_sdk_sqs::Client::from_conf(config).list_queues().send().await;
        assert!(result.is_err(), "the endpoint hung up");
        // A TLS handshake record (0x16) of TLS 1.x (0x03).
        assert_eq!(&hello.await.unwrap()[..2], &[0x16, 0x03]);
    }
}
