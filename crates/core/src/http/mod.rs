//! The HTTP seam of the core: the catalog client, the S3 store and the ingest's API extractor speak
//! to the world only through [`HttpClient`], so the same code runs natively (reqwest) and in a
//! Worker (`worker::Fetch`). [`retry`]: the one retry policy and loop for requests safe to repeat.

#[cfg(feature = "native")]
mod reqwest_client;
pub mod retry;
#[cfg(feature = "native")]
pub use reqwest_client::ReqwestHttpClient;

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;

/// HTTP method of a request; only what the catalog and S3 need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fully formed request: absolute URL, headers, body.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl HttpRequest {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
}

/// A response with the whole body read.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names are lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl HttpResponse {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text, cut short for error messages.
    pub fn body_snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if text.len() > 500 {
            let mut end = 500;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}...", &text[..end])
        } else {
            text.to_string()
        }
    }
}

/// Transport failures: the request did not produce an HTTP status.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    /// Nothing answered (DNS, refused, TLS): the request was certainly not processed.
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The request may or may not have been processed.
    #[error("no answer from {url} within the time limit")]
    Timeout { url: String },
    /// Anything else that broke mid-flight; the outcome is unknown.
    #[error("request to {url} failed: {reason}")]
    Other { url: String, reason: String },
}

impl HttpError {
    /// True when the server certainly never saw the request, so a retry cannot duplicate anything.
    pub fn never_sent(&self) -> bool {
        matches!(self, HttpError::Connect { .. })
    }
}

/// Sends one request and reads the whole response. Implementations apply their own timeout.
///
/// Implementations never follow redirects: a 3xx is returned as it is, so that the caller
/// decides (the ingest follows them only within the configured host, where its credentials
/// may go), and the native and Worker runtimes behave the same.
///
/// Futures are `Send` so the trait fits the `iceberg` crate's `Send` storage traits; single-threaded
/// runtimes (Workers) wrap their futures to satisfy that.
#[async_trait]
pub trait HttpClient: Send + Sync + fmt::Debug {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError>;
}
