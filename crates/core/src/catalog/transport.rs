//! Sending requests: authentication (with one refresh on 401), retries for idempotent requests,
//! and turning HTTP answers into [`CatalogError`]s.

use std::future::Future;
use std::sync::Arc;

use iceberg::{NamespaceIdent, TableIdent};

use super::auth::{CachedToken, TokenSource};
use super::config::CatalogAuth;
use super::error::{CatalogError, DEFAULT_RETRY_AFTER_SECONDS};
use super::types::{ErrorResponse, OAuthErrorResponse, TokenResponse};
use crate::clock::Clock;
use crate::http::retry::{
    is_overloaded_or_failing, parse_retry_after, retry_when_overloaded_or_failing,
    send_with_retries, AttemptError, Exhausted, RetryPolicy,
};
use crate::http::{HttpClient, HttpError, HttpRequest, HttpResponse, Method};

/// Why one attempt produced no response worth looking at: a transport failure, or a final typed
/// error (failing to get a token).
pub(crate) type SendError = AttemptError<CatalogError>;

/// What a 404 means for the request at hand.
#[derive(Clone, Copy)]
pub(crate) enum Subject<'a> {
    None,
    Namespace(&'a NamespaceIdent),
    Table(&'a TableIdent),
}

#[derive(Debug)]
pub(crate) struct Transport {
    pub http: Arc<dyn HttpClient>,
    pub clock: Arc<dyn Clock>,
    /// The configured URI without a trailing slash.
    pub uri: String,
    pub warehouse: String,
    pub retry: RetryPolicy,
    pub tokens: TokenSource,
}

impl Transport {
    // ---- errors ----

    pub fn unauthorized(&self, status: u16, detail: String) -> CatalogError {
        CatalogError::Unauthorized {
            uri: self.uri.clone(),
            warehouse: self.warehouse.clone(),
            status,
            detail,
        }
    }

    pub fn warehouse_not_found(&self, status: u16, detail: String) -> CatalogError {
        CatalogError::WarehouseNotFound {
            uri: self.uri.clone(),
            warehouse: self.warehouse.clone(),
            status,
            detail,
        }
    }

    pub fn invalid_response(&self, operation: &str, reason: impl ToString) -> CatalogError {
        CatalogError::InvalidResponse {
            uri: self.uri.clone(),
            warehouse: self.warehouse.clone(),
            operation: operation.to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn table_not_found(&self, table: &TableIdent) -> CatalogError {
        CatalogError::TableNotFound {
            uri: self.uri.clone(),
            warehouse: self.warehouse.clone(),
            table: table.to_string(),
        }
    }

    /// A commit that lost to a concurrent change (the answer's message is the detail).
    pub fn commit_conflict(&self, table: &TableIdent, response: &HttpResponse) -> CatalogError {
        CatalogError::CommitConflict {
            uri: self.uri.clone(),
            warehouse: self.warehouse.clone(),
            table: table.to_string(),
            detail: error_message(response).0,
        }
    }

    pub fn namespace_not_found(&self, namespace: &NamespaceIdent) -> CatalogError {
        CatalogError::NamespaceNotFound {
            uri: self.uri.clone(),
            warehouse: self.warehouse.clone(),
            namespace: namespace.to_string(),
        }
    }

    /// A transport failure that outlasted the retries of an idempotent request.
    pub fn transport_error(
        &self,
        operation: &str,
        error: HttpError,
        attempts: u32,
    ) -> CatalogError {
        match error {
            HttpError::Timeout { .. } => CatalogError::Timeout {
                uri: self.uri.clone(),
                warehouse: self.warehouse.clone(),
                operation: operation.to_string(),
                attempts,
            },
            HttpError::Connect { reason, .. } | HttpError::Other { reason, .. } => {
                CatalogError::Unreachable {
                    uri: self.uri.clone(),
                    warehouse: self.warehouse.clone(),
                    operation: operation.to_string(),
                    reason,
                }
            }
        }
    }

    /// Maps a non-success answer to an error. `attempts` is only used for 5xx/429.
    pub fn status_error(
        &self,
        operation: &str,
        subject: Subject<'_>,
        response: &HttpResponse,
        attempts: u32,
    ) -> CatalogError {
        let (message, kind) = error_message(response);
        let status = response.status;
        if status == 401 || status == 403 {
            return self.unauthorized(status, message);
        }
        if mentions_missing_warehouse(status, &kind, &message, subject) {
            return self.warehouse_not_found(status, message);
        }
        match (status, subject) {
            (429, _) => CatalogError::RateLimited {
                uri: self.uri.clone(),
                warehouse: self.warehouse.clone(),
                operation: operation.to_string(),
                retry_after_seconds: response
                    .header("retry-after")
                    .and_then(|v| parse_retry_after(v, self.clock.now_ms()))
                    .map_or(DEFAULT_RETRY_AFTER_SECONDS, |d| d.as_secs()),
                detail: message,
            },
            (404, Subject::Table(table)) => self.table_not_found(table),
            (404, Subject::Namespace(namespace)) => self.namespace_not_found(namespace),
            (status, _) if is_overloaded_or_failing(status) => CatalogError::Server {
                uri: self.uri.clone(),
                warehouse: self.warehouse.clone(),
                operation: operation.to_string(),
                status,
                attempts,
                detail: message,
            },
            _ => CatalogError::BadRequest {
                uri: self.uri.clone(),
                warehouse: self.warehouse.clone(),
                operation: operation.to_string(),
                status,
                message,
            },
        }
    }

    pub fn parse<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        response: &HttpResponse,
    ) -> Result<T, CatalogError> {
        serde_json::from_slice(&response.body).map_err(|e| {
            self.invalid_response(
                operation,
                format!("{e} in body: {}", response.body_snippet()),
            )
        })
    }

    // ---- sending ----

    /// One attempt with the current token; on a 401 with refreshable credentials, one new token
    /// and one resend (a 401 means the request was not processed, so even a commit may be resent).
    pub async fn send_authed(&self, request: HttpRequest) -> Result<HttpResponse, SendError> {
        let token = self.bearer().await.map_err(SendError::Fatal)?;
        let response = self
            .http
            .send(with_bearer(request.clone(), token.as_deref()))
            .await
            .map_err(SendError::Transport)?;
        match token {
            Some(stale) if response.status == 401 && self.tokens.can_refresh() => {
                self.forget_token(&stale).await;
                let fresh = self.bearer().await.map_err(SendError::Fatal)?;
                self.http
                    .send(with_bearer(request, fresh.as_deref()))
                    .await
                    .map_err(SendError::Transport)
            }
            _ => Ok(response),
        }
    }

    /// An idempotent request with retries. Returns any answer that is not 5xx/429 (the caller
    /// interprets it); 5xx/429 and transport errors that outlast the retries become errors.
    pub async fn send_idempotent(
        &self,
        operation: &str,
        subject: Subject<'_>,
        request: HttpRequest,
    ) -> Result<HttpResponse, CatalogError> {
        self.retrying(operation, subject, || self.send_authed(request.clone()))
            .await
    }

    /// The retry loop ([`send_with_retries`]), shared by authenticated requests and the token
    /// request; what outlasts the retries becomes a typed error.
    async fn retrying<F, Fut>(
        &self,
        operation: &str,
        subject: Subject<'_>,
        attempt_once: F,
    ) -> Result<HttpResponse, CatalogError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<HttpResponse, SendError>>,
    {
        let sent = send_with_retries(
            self.clock.as_ref(),
            &self.retry,
            retry_when_overloaded_or_failing,
            attempt_once,
        )
        .await;
        match sent {
            Ok(answered) => Ok(answered.response),
            Err(Exhausted::Status { response, attempts }) => {
                Err(self.status_error(operation, subject, &response, attempts))
            }
            Err(Exhausted::Transport { error, attempts }) => {
                Err(self.transport_error(operation, error, attempts))
            }
            Err(Exhausted::Fatal(error)) => Err(error),
        }
    }

    // ---- tokens ----

    async fn bearer(&self) -> Result<Option<String>, CatalogError> {
        match &self.tokens.auth {
            CatalogAuth::None => Ok(None),
            CatalogAuth::Token(token) => Ok(Some(token.clone())),
            CatalogAuth::ClientCredentials { .. } => {
                let mut cache = self.tokens.cache.lock().await;
                let now = self.clock.now_ms();
                if let Some(cached) = cache.as_ref().filter(|c| c.is_fresh(now)) {
                    return Ok(Some(cached.token.clone()));
                }
                let fetched = self.fetch_token().await?;
                let token = fetched.token.clone();
                *cache = Some(fetched);
                Ok(Some(token))
            }
        }
    }

    /// Drops the cached token if it is the one that was just rejected (another request may
    /// already have replaced it).
    async fn forget_token(&self, rejected: &str) {
        let mut cache = self.tokens.cache.lock().await;
        if cache.as_ref().is_some_and(|c| c.token == rejected) {
            *cache = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, CatalogError> {
        const OPERATION: &str = "issue an OAuth2 token";
        let Some(body) = self.tokens.token_request_body() else {
            unreachable!("only client credentials fetch tokens")
        };
        // The token endpoint sits at the root, not under the warehouse prefix.
        let request = HttpRequest::new(Method::Post, format!("{}/v1/oauth/tokens", self.uri))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body);
        let response = self
            .retrying(OPERATION, Subject::None, || async {
                self.http
                    .send(request.clone())
                    .await
                    .map_err(SendError::Transport)
            })
            .await?;
        match response.status {
            200..=299 => {
                let token: TokenResponse = self.parse(OPERATION, &response)?;
                Ok(CachedToken::new(
                    token.access_token,
                    self.clock.now_ms(),
                    token.expires_in,
                ))
            }
            // RFC 6749: bad client credentials are 400 invalid_client or 401.
            400 | 401 | 403 => Err(self.unauthorized(
                response.status,
                format!("token endpoint: {}", oauth_error_message(&response)),
            )),
            _ => Err(self.status_error(OPERATION, Subject::None, &response, 1)),
        }
    }
}

fn with_bearer(request: HttpRequest, token: Option<&str>) -> HttpRequest {
    match token {
        Some(token) => request.header("Authorization", format!("Bearer {token}")),
        None => request,
    }
}

/// `error.message` and `error.type` of a REST error body, or the raw body when it is not one.
pub(crate) fn error_message(response: &HttpResponse) -> (String, String) {
    match serde_json::from_slice::<ErrorResponse>(&response.body) {
        Ok(body) if !body.error.message.is_empty() => {
            let message = if body.error.kind.is_empty() {
                body.error.message
            } else {
                format!("{} ({})", body.error.message, body.error.kind)
            };
            (message, body.error.kind)
        }
        _ => {
            let snippet = response.body_snippet();
            let message = if snippet.is_empty() {
                "no error body".to_string()
            } else {
                snippet
            };
            (message, String::new())
        }
    }
}

fn oauth_error_message(response: &HttpResponse) -> String {
    match serde_json::from_slice::<OAuthErrorResponse>(&response.body) {
        Ok(e) => match e.error_description {
            Some(description) => format!("{}: {description}", e.error),
            None => e.error,
        },
        Err(_) => error_message(response).0,
    }
}

/// Whether an error answer says the warehouse itself is unknown.
///
/// The spec has `NoSuchWarehouseException` (404) but servers differ: SeaweedFS answers
/// `404 NoSuchNamespaceException "table bucket X not found: ... warehouse=s3://<table-bucket>/ ..."`.
/// Table and namespace names are removed before looking for the words so a table called
/// `warehouse_events` that does not exist stays a `TableNotFound`.
fn mentions_missing_warehouse(
    status: u16,
    kind: &str,
    message: &str,
    subject: Subject<'_>,
) -> bool {
    if kind == "NoSuchWarehouseException" {
        return true;
    }
    if !(status == 400 || status == 404) || kind == "NoSuchTableException" {
        return false;
    }
    let mut text = message.to_lowercase();
    let names: Vec<&str> = match subject {
        Subject::None => Vec::new(),
        Subject::Namespace(ns) => ns.iter().map(String::as_str).collect(),
        Subject::Table(t) => t
            .namespace
            .iter()
            .map(String::as_str)
            .chain([t.name.as_str()])
            .collect(),
    };
    for name in names {
        text = text.replace(&name.to_lowercase(), "");
    }
    let about_warehouse = text.contains("warehouse") || text.contains("bucket");
    let missing = [
        "not found",
        "does not exist",
        "unknown",
        "no such",
        "not exist",
    ]
    .iter()
    .any(|w| text.contains(w));
    about_warehouse && missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![],
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn seaweedfs_unknown_bucket_is_a_missing_warehouse() {
        let r = response(
            404,
            r#"{"error":{"message":"table bucket nope not found: each table bucket is a separate catalog, select one with warehouse=s3://<table-bucket>/","type":"NoSuchNamespaceException","code":404}}"#,
        );
        let (message, kind) = error_message(&r);
        assert!(mentions_missing_warehouse(
            404,
            &kind,
            &message,
            Subject::None
        ));
    }

    #[test]
    fn missing_table_named_like_a_warehouse_is_not_a_missing_warehouse() {
        let t = TableIdent::from_strs(["ns", "warehouse_events"]).unwrap();
        let r = response(
            404,
            r#"{"error":{"message":"Table does not exist: warehouse_events","type":"NoSuchNamespaceException","code":404}}"#,
        );
        let (message, kind) = error_message(&r);
        assert!(!mentions_missing_warehouse(
            404,
            &kind,
            &message,
            Subject::Table(&t)
        ));
    }

    #[test]
    fn error_body_falls_back_to_raw_text() {
        let (message, kind) = error_message(&response(502, "<html>bad gateway</html>"));
        assert_eq!(message, "<html>bad gateway</html>");
        assert!(kind.is_empty());
        assert_eq!(error_message(&response(500, "")).0, "no error body");
    }
}
