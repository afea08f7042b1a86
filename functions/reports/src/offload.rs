//! Exports too large for a synchronous Lambda response. Lambda refuses a
//! response over 6 MB (API Gateway then answers 500/502), and the full
//! `user-certifications` export passes that at the reference data set. Such
//! a file is written to the export bucket (objects expire after a day, see
//! template.yaml) and the request answers `303 See Other` to a presigned
//! GET URL valid for a few minutes; smaller files stay inline.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use lambda_http::http::{header, HeaderValue, Response, StatusCode};
use lambda_http::Body;

use crate::http::ApiError;

/// Largest file answered inline, counted as it travels in the Lambda
/// response (a binary body base64-encoded, a text body JSON-escaped), with
/// room under Lambda's 6 MB for the envelope and headers.
pub const INLINE_LIMIT: usize = 5 * 1024 * 1024;
/// How long the presigned download URL works.
pub const URL_LIFETIME: Duration = Duration::from_secs(300);

/// Where large exports go.
#[derive(Clone, Debug)]
pub struct Offload {
    client: aws_sdk_s3::Client,
    bucket: String,
    inline_limit: usize,
}

impl Offload {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Offload {
        Offload {
            client,
            bucket: bucket.into(),
            inline_limit: INLINE_LIMIT,
        }
    }

    /// From the SDK configuration. With an endpoint override (the local
    /// emulator, one host for every bucket) objects are addressed by path;
    /// on AWS by virtual host.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> Offload {
        let conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Offload::new(aws_sdk_s3::Client::from_conf(conf), bucket)
    }

    /// Files whose response size exceeds `bytes` are offloaded.
    pub fn with_inline_limit(mut self, bytes: usize) -> Offload {
        self.inline_limit = bytes;
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `resp` as is when it fits a Lambda response or is not a file
    /// download; else the file moved to the bucket and a 303 to it.
    pub async fn deliver(&self, resp: Response<Body>) -> Result<Response<Body>, ApiError> {
        if wire_len(resp.body()) <= self.inline_limit {
            return Ok(resp);
        }
        let header_of = |name: header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (Some(disposition), Some(content_type)) = (
            header_of(header::CONTENT_DISPOSITION),
            header_of(header::CONTENT_TYPE),
        ) else {
            // Not a download: JSON pages and HTML are bounded by their own
            // paging, so they go out as they are.
            return Ok(resp);
        };
        let filename = disposition
            .split_once("filename=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map_or("export", |(name, _)| name)
            .to_string();
        let bytes = match resp.into_body() {
            Body::Text(s) => s.into_bytes(),
            Body::Binary(b) => b,
            Body::Empty => Vec::new(),
            // The enum is non-exhaustive; any other body is bytes too.
            other => other.as_ref().to_vec(),
        };
        let url = self
            .put(&filename, &content_type, &disposition, bytes)
            .await?;
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = StatusCode::SEE_OTHER;
        let location =
            HeaderValue::from_str(&url).map_err(|e| ApiError::Internal(e.to_string()))?;
        r.headers_mut().insert(header::LOCATION, location);
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(r)
    }

    async fn put(
        &self,
        filename: &str,
        content_type: &str,
        disposition: &str,
        bytes: Vec<u8>,
    ) -> Result<String, ApiError> {
        let size = bytes.len();
        // A random prefix: the URL (not the name) is the secret, and two
        // exports of the same report never collide.
        let key = format!("exports/{}/{filename}", uuid::Uuid::new_v4());
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(content_type)
            .content_disposition(disposition)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| {
                ApiError::Internal(format!(
                    "export to s3://{}/{key}: {}",
                    self.bucket,
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ))
            })?;
        let presigning = PresigningConfig::expires_in(URL_LIFETIME)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let url = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(presigning)
            .await
            .map_err(|e| {
                ApiError::Internal(format!(
                    "presigning s3://{}/{key}: {}",
                    self.bucket,
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ))
            })?;
        tracing::info!(bucket = %self.bucket, size, "export offloaded to S3");
        Ok(url.uri().to_string())
    }
}

/// Bytes `body` takes in a Lambda response document: base64 for binary,
/// JSON string escapes for text.
pub fn wire_len(body: &Body) -> usize {
    match body {
        Body::Empty => 0,
        Body::Text(s) => {
            s.len()
                + s.bytes()
                    .map(|b| match b {
                        b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
                        0..=0x1f => 5,
                        _ => 0,
                    })
                    .sum::<usize>()
        }
        Body::Binary(b) => b.len().div_ceil(3) * 4,
        other => other.as_ref().len().div_ceil(3) * 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_length_counts_encoding() {
        assert_eq!(wire_len(&Body::Empty), 0);
        assert_eq!(wire_len(&Body::Text("a,b\n\"c\"".into())), 7 + 3);
        assert_eq!(wire_len(&Body::Text("\u{1}".into())), 6);
        assert_eq!(wire_len(&Body::Binary(vec![0; 3])), 4);
        assert_eq!(wire_len(&Body::Binary(vec![0; 4])), 8);
    }
}
