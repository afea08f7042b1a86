//! [`Mailer`] over SES v2 `SendEmail` with Simple content (HTML + text,
//! list headers), an optional configuration set, a send-rate throttle and
//! retries of throttling errors.

use std::sync::Arc;

use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageHeader};
use aws_sdk_sesv2::Client;
use futures::future::BoxFuture;

use super::throttle::Throttle;
use super::{Email, MailError, Mailer};
use crate::retry::{Attempt, RetryPolicy};

/// Default send rate: the SES sandbox maximum (1 message/s) is the one
/// every account starts with; production accounts raise it by config.
pub const DEFAULT_RATE_PER_SECOND: f64 = 1.0;

pub struct SesMailer {
    client: Client,
    from: String,
    configuration_set: Option<String>,
    throttle: Arc<Throttle>,
    retry: RetryPolicy,
}

pub struct SesMailerBuilder {
    client: Client,
    from: String,
    configuration_set: Option<String>,
    rate_per_second: f64,
    retry: RetryPolicy,
}

impl SesMailerBuilder {
    pub fn configuration_set(mut self, name: Option<String>) -> Self {
        self.configuration_set = name;
        self
    }
    /// Messages per second (0 = unthrottled, for the local emulator).
    pub fn rate_per_second(mut self, rate: f64) -> Self {
        self.rate_per_second = rate;
        self
    }
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
    pub fn build(self) -> SesMailer {
        SesMailer {
            client: self.client,
            from: self.from,
            configuration_set: self.configuration_set,
            throttle: Arc::new(Throttle::per_second(self.rate_per_second)),
            retry: self.retry,
        }
    }
}

fn content(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Template {
            name: "content".into(),
            message: e.to_string(),
        })
}

/// SES signals throttling with `TooManyRequestsException` (v2) or the
/// generic `Throttling` code (rate exceeded at the API front door).
fn is_throttling(e: &SdkError<SendEmailError>) -> bool {
    match e.as_service_error() {
        Some(s) => {
            s.is_too_many_requests_exception()
                || matches!(s.code(), Some("Throttling" | "ThrottlingException"))
        }
        None => e.raw_response().is_some_and(|r| r.status().as_u16() == 429),
    }
}

/// Errors that will repeat for this message no matter how often we retry.
fn is_rejection(e: &SdkError<SendEmailError>) -> bool {
    e.as_service_error().is_some_and(|s| {
        s.is_message_rejected()
            || s.is_mail_from_domain_not_verified_exception()
            || s.is_account_suspended_exception()
            || s.is_sending_paused_exception()
            || s.is_bad_request_exception()
            || s.is_not_found_exception()
    })
}

impl SesMailer {
    pub fn builder(client: Client, from: impl Into<String>) -> SesMailerBuilder {
        SesMailerBuilder {
            client,
            from: from.into(),
            configuration_set: None,
            rate_per_second: DEFAULT_RATE_PER_SECOND,
            retry: RetryPolicy::MAIL,
        }
    }

    /// Builder with a client made from `config` (endpoint, region, keys).
    pub fn from_sdk_config(
        config: &aws_config::SdkConfig,
        from: impl Into<String>,
    ) -> SesMailerBuilder {
        SesMailer::builder(Client::new(config), from)
    }

    pub fn from_address(&self) -> &str {
        &self.from
    }

    /// Creates the sender identity if it does not exist yet. For the local
    /// emulator and dev runner only: in AWS the identity is verified once
    /// by ops (and the function's role may only call `ses:SendEmail`).
    pub async fn ensure_identity(&self) -> Result<(), MailError> {
        match self
            .client
            .create_email_identity()
            .email_identity(&self.from)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(MailError::Transport {
                to: self.from.clone(),
                message: DisplayErrorContext(&e).to_string(),
            }),
        }
    }

    fn message(&self, email: &Email) -> Result<Message, MailError> {
        let headers = email
            .list_headers()
            .into_iter()
            .map(|(n, v)| {
                MessageHeader::builder()
                    .name(n)
                    .value(v)
                    .build()
                    .map_err(|e| MailError::Template {
                        name: "header".into(),
                        message: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .html(content(&email.html)?)
                    .text(content(&email.text)?)
                    .build(),
            )
            .set_headers((!headers.is_empty()).then_some(headers))
            .build())
    }

    async fn send_once(&self, email: &Email, msg: &Message) -> Attempt<String, MailError> {
        self.throttle.acquire().await;
        let res = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(msg.clone()).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match res {
            Ok(out) => Attempt::Done(out.message_id().unwrap_or_default().to_string()),
            Err(e) => {
                let message = DisplayErrorContext(&e).to_string();
                let to = email.to.clone();
                if is_throttling(&e) {
                    Attempt::Throttled(MailError::Throttled { to, attempts: 0 })
                } else if is_rejection(&e) {
                    Attempt::Failed(MailError::Rejected { to, message })
                } else {
                    Attempt::Failed(MailError::Transport { to, message })
                }
            }
        }
    }
}

impl Mailer for SesMailer {
    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<String, MailError>> {
        Box::pin(async move {
            let msg = self.message(email)?;
            match self.retry.run(|| self.send_once(email, &msg)).await {
                Ok(id) => {
                    tracing::debug!(to = %email.to, message_id = %id, "mail sent");
                    Ok(id)
                }
                Err((MailError::Throttled { to, .. }, attempts)) => {
                    Err(MailError::Throttled { to, attempts })
                }
                Err((e, _)) => {
                    tracing::warn!(to = %email.to, error = %e, "mail not sent");
                    Err(e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer() -> SesMailer {
        let conf = aws_sdk_sesv2::Config::builder()
            .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
            .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
            .build();
        SesMailer::builder(Client::from_conf(conf), "from@x.test").build()
    }

    #[test]
    fn message_has_both_bodies_and_list_headers() {
        let m = mailer();
        let email = Email {
            to: "to@x.test".into(),
            subject: "S".into(),
            html: "<p>H</p>".into(),
            text: "T".into(),
            unsubscribe_url: Some("https://p.test/unsubscribe/tok".into()),
        };
        let msg = m.message(&email).unwrap();
        assert_eq!(msg.subject().map(|c| c.data()), Some("S"));
        let body = msg.body().unwrap();
        assert_eq!(body.html().map(|c| c.data()), Some("<p>H</p>"));
        assert_eq!(body.text().map(|c| c.data()), Some("T"));
        let headers: Vec<(&str, &str)> = msg
            .headers()
            .iter()
            .map(|h| (h.name(), h.value()))
            .collect();
        assert_eq!(
            headers,
            vec![
                ("List-Unsubscribe", "<https://p.test/unsubscribe/tok>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ]
        );
        let plain = m
            .message(&Email {
                unsubscribe_url: None,
                ..email
            })
            .unwrap();
        assert!(plain.headers().is_empty());
    }
}
