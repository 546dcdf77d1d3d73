//! [`HttpClient`] over the Workers `fetch`: the REST catalog client, the S3 store and the ingest's
//! API extractor use it. It never follows redirects (see [`HttpClient`]).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::{select, Either};
use icepipe_core::http::{HttpClient, HttpError, HttpRequest, HttpResponse, Method};
use worker::js_sys::{self, Uint8Array};
use worker::send::SendFuture;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Delay, Headers};

/// Headers `fetch` sets itself (and refuses or ignores when given).
const FORBIDDEN: &[&str] = &["content-length", "host", "connection"];

/// `fetch` with a whole-request time limit (send and read the body); past it the request is
/// aborted and reported as [`HttpError::Timeout`].
#[derive(Debug, Clone)]
pub struct FetchClient {
    timeout: Duration,
}

impl FetchClient {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

#[async_trait]
impl HttpClient for FetchClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        // A Worker is single-threaded: the JS futures never cross a thread.
        SendFuture::new(send_with_timeout(request, self.timeout)).await
    }
}

async fn send_with_timeout(
    request: HttpRequest,
    timeout: Duration,
) -> Result<HttpResponse, HttpError> {
    let url = request.url.clone();
    let controller = web_sys::AbortController::new().map_err(|e| other(&url, &e))?;
    let fetch = Box::pin(fetch(request, controller.signal()));
    let delay = Box::pin(Delay::from(timeout));
    match select(fetch, delay).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => {
            controller.abort();
            Err(HttpError::Timeout { url })
        }
    }
}

async fn fetch(
    request: HttpRequest,
    signal: web_sys::AbortSignal,
) -> Result<HttpResponse, HttpError> {
    let HttpRequest {
        method,
        url,
        headers,
        body,
    } = request;
    let init = web_sys::RequestInit::new();
    init.set_method(method.as_str());
    let js_headers = web_sys::Headers::new().map_err(|e| other(&url, &e))?;
    for (name, value) in &headers {
        if FORBIDDEN.iter().any(|f| name.eq_ignore_ascii_case(f)) {
            continue;
        }
        js_headers
            .append(name, value)
            .map_err(|e| other(&url, &e))?;
    }
    init.set_headers(&js_headers);
    if !body.is_empty() {
        init.set_body(&Uint8Array::from(&body[..]));
    }
    init.set_signal(Some(&signal));
    // A 3xx comes back as it is: the ingest follows redirects itself, and only to the
    // configured host (`icepipe_core::ingest::extract`); nothing else should follow them.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let js_request =
        web_sys::Request::new_with_str_and_init(&url, &init).map_err(|e| other(&url, &e))?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let response = JsFuture::from(global.fetch_with_request(&js_request))
        .await
        .map_err(|e| transport(&url, &e))?;
    let response: web_sys::Response = response.dyn_into().map_err(|e| other(&url, &e))?;
    let status = response.status();
    let headers: Vec<(String, String)> = Headers(response.headers())
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let body = if method == Method::Head {
        Bytes::new()
    } else {
        let buffer = JsFuture::from(response.array_buffer().map_err(|e| other(&url, &e))?)
            .await
            .map_err(|e| transport(&url, &e))?;
        Bytes::from(Uint8Array::new(&buffer).to_vec())
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// The message of a JS error (or whatever was thrown).
pub fn js_error_text(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

fn other(url: &str, value: &JsValue) -> HttpError {
    HttpError::Other {
        url: url.to_string(),
        reason: js_error_text(value),
    }
}

/// A rejected `fetch`: a refused or unresolvable connection certainly sent nothing; anything else
/// may have reached the server.
fn transport(url: &str, value: &JsValue) -> HttpError {
    let reason = js_error_text(value);
    let lower = reason.to_ascii_lowercase();
    if [
        "refused",
        "dns",
        "resolve",
        "unreachable",
        "could not connect",
        "connect failed",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
    {
        HttpError::Connect {
            url: url.to_string(),
            reason,
        }
    } else {
        HttpError::Other {
            url: url.to_string(),
            reason,
        }
    }
}
