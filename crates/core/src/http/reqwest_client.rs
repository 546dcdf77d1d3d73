//! The native [`HttpClient`]: one pooled `reqwest::Client` shared by every request.

use std::error::Error as _;
use std::time::Duration;

use async_trait::async_trait;

use super::{HttpClient, HttpError, HttpRequest, HttpResponse, Method};

/// Default whole-request time limit: long enough for an 8 MiB part on a slow link.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// [`HttpClient`] over reqwest (rustls). Cloning shares the connection pool.
#[derive(Debug, Clone)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
}

impl ReqwestHttpClient {
    /// A client with the default 60 s time limit per request.
    pub fn new() -> Self {
        Self::with_timeout(DEFAULT_TIMEOUT)
    }

    /// A client whose requests (connect, send and reading the whole body) must finish within `timeout`.
    pub fn with_timeout(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A 3xx is an answer like any other (see [`HttpClient`]).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            // Only fails when the TLS backend cannot initialise, which is a broken build, not a runtime condition.
            .expect("cannot initialise the reqwest client (TLS backend)");
        Self { client }
    }

    /// Wraps an already configured reqwest client (proxies, custom roots...); it must not follow
    /// redirects (`redirect::Policy::none()`), as [`HttpClient`] requires.
    pub fn from_client(client: reqwest::Client) -> Self {
        Self { client }
    }
}

impl Default for ReqwestHttpClient {
    fn default() -> Self {
        Self::new()
    }
}

fn to_reqwest_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Delete => reqwest::Method::DELETE,
    }
}

/// reqwest's own message is terse ("error sending request"); the cause chain says what broke.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn map_error(url: &str, error: reqwest::Error) -> HttpError {
    let url = url.to_string();
    // A connect timeout is both; report it as Connect, since the request was certainly not sent.
    if error.is_connect() {
        HttpError::Connect {
            url,
            reason: describe(&error),
        }
    } else if error.is_timeout() {
        HttpError::Timeout { url }
    } else {
        HttpError::Other {
            url,
            reason: describe(&error),
        }
    }
}

#[async_trait]
impl HttpClient for ReqwestHttpClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let HttpRequest {
            method,
            url,
            headers,
            body,
        } = request;
        let mut builder = self.client.request(to_reqwest_method(method), &url);
        let has_content_length = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        // reqwest omits Content-Length for an empty body, and S3 answers 411 to a PUT without it.
        if body.is_empty() && matches!(method, Method::Put | Method::Post) && !has_content_length {
            builder = builder.header("content-length", "0");
        }
        if !body.is_empty() {
            builder = builder.body(body);
        }

        let response = builder.send().await.map_err(|e| map_error(&url, e))?;
        let status = response.status().as_u16();
        // reqwest's header names are already lower-case (http::HeaderName normalises them).
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.bytes().await.map_err(|e| map_error(&url, e))?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_connection_is_connect_error() {
        // Port 9 (discard) is closed on loopback in any sane test environment.
        let client = ReqwestHttpClient::with_timeout(Duration::from_secs(5));
        let err = client
            .send(HttpRequest::new(Method::Get, "http://127.0.0.1:9/"))
            .await
            .unwrap_err();
        assert!(err.never_sent(), "{err:?}");
    }
}
