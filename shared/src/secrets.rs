//! Resolves a [`SecretRef`] to its value: given directly (local/dev runs)
//! or by ARN, fetched with Secrets Manager `GetSecretValue` (AWS, where the
//! template passes only `*_SECRET_ARN` and each role may read exactly those
//! ARNs — docs/requests/ops.md).
//!
//! The value never reaches a log or an error message: errors name the ARN
//! (not secret) and the SDK's reason only, and the result is a
//! [`Secret`], whose `Debug` is redacted.

use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::config::{Secret, SecretRef};

/// Why a secret could not be resolved; always names the ARN, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The call failed (no permission, unknown ARN, network…).
    #[error("could not read secret {arn} from Secrets Manager: {reason}")]
    Fetch { arn: String, reason: String },
    /// The secret has neither a string nor a UTF-8 binary value.
    #[error("secret {arn} has no text value")]
    NotText { arn: String },
    /// The value is empty or whitespace: treated like an unset variable,
    /// since an empty HMAC key would sign links anyone can forge.
    #[error("secret {arn} is empty")]
    Empty { arn: String },
}

/// Fetches secrets given by reference. Cheap to clone; build one per
/// process and resolve each key once at start-up (cold start), not per
/// request.
#[derive(Clone, Debug)]
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
}

impl Secrets {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Secrets {
        Secrets { client }
    }

    /// No request is made here; a `SecretRef::Value` never calls AWS.
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Secrets {
        Secrets::new(aws_sdk_secretsmanager::Client::new(config))
    }

    /// The value behind `secret`. Values are trimmed the same way a
    /// directly given variable is (`config` trims), so the same key yields
    /// the same HMACs whichever way it is deployed.
    pub async fn resolve(&self, secret: &SecretRef) -> Result<Secret, SecretError> {
        match secret {
            SecretRef::Value(v) => Ok(v.clone()),
            SecretRef::SecretArn(arn) => self.fetch(arn).await,
        }
    }

    /// [`Secrets::resolve`] for an optional reference (unset variable).
    pub async fn resolve_opt(
        &self,
        secret: Option<&SecretRef>,
    ) -> Result<Option<Secret>, SecretError> {
        match secret {
            Some(s) => self.resolve(s).await.map(Some),
            None => Ok(None),
        }
    }

    /// A rotated secret: the current value and, during the grace period
    /// after a rotation, the one before it. By ARN these are Secrets
    /// Manager's `AWSCURRENT` and `AWSPREVIOUS` versions (a secret never
    /// rotated has no previous one); given directly, `previous` is the
    /// caller's second variable.
    pub async fn resolve_rotating(
        &self,
        secret: &SecretRef,
        previous: Option<&Secret>,
    ) -> Result<(Secret, Option<Secret>), SecretError> {
        match secret {
            SecretRef::Value(v) => Ok((v.clone(), previous.cloned())),
            SecretRef::SecretArn(arn) => {
                let current = self.fetch(arn).await?;
                let previous = self.fetch_stage(arn, Some("AWSPREVIOUS")).await.ok();
                Ok((current, previous))
            }
        }
    }

    async fn fetch(&self, arn: &str) -> Result<Secret, SecretError> {
        self.fetch_stage(arn, None).await
    }

    async fn fetch_stage(&self, arn: &str, stage: Option<&str>) -> Result<Secret, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .set_version_stage(stage.map(str::to_string))
            .send()
            .await
            .map_err(|e| SecretError::Fetch {
                arn: arn.to_string(),
                reason: DisplayErrorContext(&e).to_string(),
            })?;
        let secret = secret_value(
            arn,
            out.secret_string(),
            out.secret_binary().map(|b| b.as_ref()),
        )?;
        tracing::debug!(arn, "secret resolved");
        Ok(secret)
    }
}

/// The checks every fetched value passes, whichever way it is stored: text
/// (a string, or a binary that is UTF-8), trimmed, and not empty.
fn secret_value(
    arn: &str,
    string: Option<&str>,
    binary: Option<&[u8]>,
) -> Result<Secret, SecretError> {
    let text = match (string, binary) {
        (Some(s), _) => s.to_string(),
        (None, Some(b)) => String::from_utf8(b.to_vec()).map_err(|_| SecretError::NotText {
            arn: arn.to_string(),
        })?,
        (None, None) => {
            return Err(SecretError::NotText {
                arn: arn.to_string(),
            })
        }
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(SecretError::Empty {
            arn: arn.to_string(),
        });
    }
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_secretsmanager::config::Credentials;

    /// A client pointed at a closed local port: any real call fails fast,
    /// so a test passing through here proves no call was made (Value) or
    /// exercises the error path (ARN).
    fn offline() -> Secrets {
        let conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url("http://127.0.0.1:1")
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build();
        Secrets::new(aws_sdk_secretsmanager::Client::from_conf(conf))
    }

    #[tokio::test]
    async fn value_is_returned_without_calling_aws() {
        let s = offline();
        let got = s
            .resolve(&SecretRef::Value(Secret::new("k-123")))
            .await
            .unwrap();
        assert_eq!(got.expose(), "k-123");
        assert_eq!(s.resolve_opt(None).await.unwrap(), None);
        let got = s
            .resolve_opt(Some(&SecretRef::Value(Secret::new("k"))))
            .await
            .unwrap();
        assert_eq!(got.map(|g| g.expose().to_string()).as_deref(), Some("k"));
    }

    #[tokio::test]
    async fn a_rotating_value_keeps_the_previous_one() {
        let (cur, prev) = offline()
            .resolve_rotating(
                &SecretRef::Value(Secret::new("new")),
                Some(&Secret::new("old")),
            )
            .await
            .unwrap();
        assert_eq!(cur.expose(), "new");
        assert_eq!(prev.unwrap().expose(), "old");
        let err = offline()
            .resolve_rotating(&SecretRef::SecretArn("arn:r".into()), None)
            .await
            .unwrap_err();
        assert!(matches!(err, SecretError::Fetch { .. }), "{err}");
    }

    #[tokio::test]
    async fn failed_fetch_names_the_arn() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:unsub-AbCdEf";
        let err = offline()
            .resolve(&SecretRef::SecretArn(arn.into()))
            .await
            .unwrap_err();
        match &err {
            SecretError::Fetch { arn: a, reason } => {
                assert_eq!(a, arn);
                assert!(!reason.is_empty());
            }
            other => panic!("expected Fetch, got {other:?}"),
        }
        assert!(err.to_string().contains(arn), "{err}");
    }

    #[test]
    fn an_empty_or_blank_value_is_refused() {
        for empty in ["", "   ", "\n\t "] {
            let err = secret_value("arn:e", Some(empty), None).unwrap_err();
            assert_eq!(
                err,
                SecretError::Empty {
                    arn: "arn:e".into()
                }
            );
        }
        let err = secret_value("arn:e", None, Some(b"  \n")).unwrap_err();
        assert_eq!(
            err,
            SecretError::Empty {
                arn: "arn:e".into()
            }
        );
    }

    #[test]
    fn a_value_is_trimmed_and_binary_must_be_text() {
        let got = secret_value("arn:t", Some("  k-1\n"), None).unwrap();
        assert_eq!(got.expose(), "k-1");
        let got = secret_value("arn:t", None, Some(b"k-2")).unwrap();
        assert_eq!(got.expose(), "k-2");
        let err = secret_value("arn:t", None, Some(&[0xff, 0xfe])).unwrap_err();
        assert_eq!(
            err,
            SecretError::NotText {
                arn: "arn:t".into()
            }
        );
        let err = secret_value("arn:t", None, None).unwrap_err();
        assert_eq!(
            err,
            SecretError::NotText {
                arn: "arn:t".into()
            }
        );
    }

    #[test]
    fn errors_name_the_arn() {
        let e = SecretError::Empty {
            arn: "arn:x".into(),
        };
        assert_eq!(e.to_string(), "secret arn:x is empty");
        let e = SecretError::NotText {
            arn: "arn:y".into(),
        };
        assert!(e.to_string().contains("arn:y"));
    }
}
