//! The fetch loop of one resource: request, retry, follow same-host redirects, select records,
//! find the next page.
//!
//! Pull-style ([`Pager::next_page`]) so the caller writes each page out before asking for the
//! next one: memory holds one page, not the resource.
//!
//! An API may misbehave without ever failing a request; every such case ends the resource with
//! an error naming the URL instead of running forever or landing foreign data:
//! - redirects are followed here, never by the HTTP client, and only within the configured
//!   host (scheme, host, port), at most [`MAX_REDIRECTS`] hops: credentials go nowhere else;
//! - a page whose body repeats the previous page's (an API ignoring the page parameter), or a
//!   next link or cursor leading to a URL already requested, stops the paging;
//! - at most `max_pages` pages per resource and run.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use url::Url;

use super::config::{Paginator, ResourceConfig, SourceConfig};
use super::cursor;
use super::error::ExtractError;
use super::exact_json::parse_exact;
use super::jsonpath::JsonPath;
use super::request::{origin_of, resource_url, same_origin, set_params, WireAuth};
use crate::clock::Clock;
use crate::http::retry::{
    retry_when_overloaded_or_failing, send_with_retries, AttemptError, Exhausted, RetryPolicy,
};
use crate::http::{HttpClient, HttpRequest, HttpResponse, Method};

/// Redirect hops followed for one page request (same host only).
pub const MAX_REDIRECTS: u32 = 5;

/// A digest of a page body or a URL, to recognise repeats without keeping them.
type Digest = [u8; 32];

/// Where a page's records are in its body (see `Pager::locate_records`).
enum RecordsAt {
    /// At the resource's `data_selector`.
    Selector,
    /// In this top-level field, the body's first array.
    Field(String),
    /// The body itself.
    Body,
}

fn digest(bytes: &[u8]) -> Digest {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// What the pager needs from the outside (`retry`: usually [`RetryPolicy::api_default`]).
#[derive(Debug, Clone)]
pub struct Fetcher {
    pub http: Arc<dyn HttpClient>,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
}

/// Where the next request goes.
#[derive(Debug, Clone)]
enum Next {
    /// A URL given by the server (link paginators): used as is.
    Link(Url),
    /// The resource URL with these paginator params.
    Params(Vec<(String, String)>),
    /// This page was fine but no further page can be fetched: reported on the next call, so
    /// the page's records are still delivered.
    Failed(ExtractError),
    Done,
}

/// Iterates the pages of one resource.
#[derive(Debug)]
pub struct Pager<'a> {
    fetcher: &'a Fetcher,
    source: &'a SourceConfig,
    resource: &'a ResourceConfig,
    auth: WireAuth,
    first_url: Url,
    next: Next,
    /// Offset or page number of the next request.
    position: u64,
    pub pages: u64,
    /// Every URL requested so far (a next link or cursor leading back is a loop).
    requested: HashSet<Digest>,
    /// The previous page's body (an API ignoring the page parameter repeats it).
    previous_body: Option<Digest>,
}

impl<'a> Pager<'a> {
    /// `start` is the incremental start value already lagged (sent as the incremental param);
    /// pages are returned as the API sent them (filtering is [`super::incremental`]'s job).
    pub fn new(
        fetcher: &'a Fetcher,
        source: &'a SourceConfig,
        resource: &'a ResourceConfig,
        auth: WireAuth,
        start: Option<&Value>,
    ) -> Result<Self, ExtractError> {
        let mut params = resource.params.clone();
        if let (Some(incremental), Some(start)) = (&resource.incremental, start) {
            params.push((incremental.param.clone(), cursor::as_param(start)));
        }
        let first_url = resource_url(source, &resource.path, &params)?;
        let position = match &resource.paginator {
            Paginator::PageNumber { base_page, .. } => *base_page,
            _ => 0,
        };
        let mut pager = Self {
            fetcher,
            source,
            resource,
            auth,
            first_url,
            next: Next::Done,
            position,
            pages: 0,
            requested: HashSet::new(),
            previous_body: None,
        };
        pager.next = Next::Params(pager.position_params());
        Ok(pager)
    }

    /// Paginator params for the current position (offset/limit, page number).
    fn position_params(&self) -> Vec<(String, String)> {
        match &self.resource.paginator {
            Paginator::Offset {
                offset_param,
                limit_param,
                limit,
                ..
            } => vec![
                (offset_param.clone(), self.position.to_string()),
                (limit_param.clone(), limit.to_string()),
            ],
            Paginator::PageNumber {
                page_param, limit, ..
            } => {
                let mut params = vec![(page_param.clone(), self.position.to_string())];
                if let Some((param, value)) = limit {
                    params.push((param.clone(), value.to_string()));
                }
                params
            }
            _ => Vec::new(),
        }
    }

    /// The next page's records, or `None` when the resource is exhausted.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Value>>, ExtractError> {
        let url = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => return Ok(None),
            Next::Failed(error) => return Err(error),
            Next::Link(url) => url,
            Next::Params(params) => {
                let mut url = self.first_url.clone();
                set_params(&mut url, &params);
                url
            }
        };
        self.check_progress(&url)?;
        let (answered_by, response) = self.fetch(&url).await?;
        let body_digest = digest(&response.body);
        if self.previous_body == Some(body_digest) {
            return Err(ExtractError::Pagination {
                url: self.auth.redact(&url),
                reason: "the page repeats the previous page (same body): the API ignores the \
                         paginator's parameters, so paging would never end"
                    .into(),
            });
        }
        self.previous_body = Some(body_digest);
        let body: Value = parse_exact(&response.body).map_err(|e| ExtractError::BadJson {
            url: self.auth.redact(&url),
            reason: e.to_string(),
            snippet: response.body_snippet(),
        })?;
        // Count first: `advance` reads the body (next links, cursors) before the records move out.
        let (at, count) = self.locate_records(&body, &url)?;
        self.pages += 1;
        self.next = self
            .advance(&url, &answered_by, &response, &body, count)
            .unwrap_or_else(Next::Failed);
        Ok(Some(self.take_records(body, at)))
    }

    /// Refuses a request past `max_pages`, and one for a URL already requested this run.
    fn check_progress(&mut self, url: &Url) -> Result<(), ExtractError> {
        if self.pages >= self.resource.max_pages {
            return Err(ExtractError::Pagination {
                url: self.auth.redact(url),
                reason: format!(
                    "the resource has more than max_pages = {} pages; raise max_pages (per source \
                     or resource) if the API really has that many",
                    self.resource.max_pages
                ),
            });
        }
        if !self.requested.insert(digest(url.as_str().as_bytes())) {
            return Err(ExtractError::Pagination {
                url: self.auth.redact(url),
                reason: "this URL was already requested in this run: the next link or cursor \
                         does not advance"
                    .into(),
            });
        }
        Ok(())
    }

    /// Where the records of a page are, and how many: the selector's array, else the body if it
    /// is an array, else the first array among the top-level fields (dlt's guess), else the body
    /// as one record. An error when `data_selector` matches nothing.
    fn locate_records(&self, body: &Value, url: &Url) -> Result<(RecordsAt, usize), ExtractError> {
        let (at, selected) = match &self.resource.data_selector {
            Some(path) => (
                RecordsAt::Selector,
                path.find(body).ok_or_else(|| ExtractError::Selector {
                    url: self.auth.redact(url),
                    reason: format!("data_selector {path} matches nothing in the response"),
                })?,
            ),
            None => match body
                .as_object()
                .and_then(|m| m.iter().find(|(_, v)| v.is_array()))
            {
                Some((key, value)) => (RecordsAt::Field(key.clone()), value),
                None => (RecordsAt::Body, body),
            },
        };
        let count = match selected {
            Value::Array(items) => items.len(),
            Value::Null => 0,
            _ => 1,
        };
        Ok((at, count))
    }

    /// The records [`Self::locate_records`] found, moved out of the body (a page is large: no
    /// copy).
    fn take_records(&self, body: Value, at: RecordsAt) -> Vec<Value> {
        let selected = match (at, body) {
            (RecordsAt::Selector, body) => self
                .resource
                .data_selector
                .as_ref()
                .and_then(|path| path.take(body))
                .unwrap_or(Value::Null),
            (RecordsAt::Field(key), Value::Object(mut map)) => {
                map.remove(&key).unwrap_or(Value::Null)
            }
            (_, body) => body,
        };
        match selected {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        }
    }

    /// Decides the next request from the paginator and what this page said.
    /// `url` is the URL requested, `answered_by` the one that answered (after redirects):
    /// relative next links resolve against the latter, as a browser would.
    fn advance(
        &mut self,
        url: &Url,
        answered_by: &Url,
        response: &HttpResponse,
        body: &Value,
        count: usize,
    ) -> Result<Next, ExtractError> {
        Ok(match &self.resource.paginator {
            Paginator::SinglePage => Next::Done,
            Paginator::JsonLink { next_url_path } => match next_url_path.find(body) {
                Some(Value::String(link)) if !link.is_empty() => {
                    Next::Link(self.follow(answered_by, link)?)
                }
                _ => Next::Done,
            },
            Paginator::HeaderLink => match response.header("link").and_then(next_link) {
                Some(link) => Next::Link(self.follow(answered_by, &link)?),
                None => Next::Done,
            },
            Paginator::Offset {
                limit, total_path, ..
            } => {
                // total_path gives the number of records.
                let end = number_at(total_path.as_ref(), body);
                self.step(*limit, end, count)
            }
            Paginator::PageNumber {
                base_page,
                total_path,
                ..
            } => {
                // total_path gives the number of pages; the last page is base + total - 1.
                let end = number_at(total_path.as_ref(), body).map(|total| base_page + total);
                self.step(1, end, count)
            }
            Paginator::Cursor {
                cursor_path,
                cursor_param,
            } => match cursor_path.find(body) {
                None | Some(Value::Null) => Next::Done,
                Some(Value::String(s)) if s.is_empty() => Next::Done,
                Some(value) => {
                    let mut next = url.clone();
                    set_params(
                        &mut next,
                        &[(cursor_param.clone(), cursor::as_param(value))],
                    );
                    Next::Link(next)
                }
            },
        })
    }

    /// Moves the offset or page number on; stops after an empty page or at `end`.
    fn step(&mut self, by: u64, end: Option<u64>, count: usize) -> Next {
        self.position += by;
        if count == 0 || end.is_some_and(|end| self.position >= end) {
            Next::Done
        } else {
            Next::Params(self.position_params())
        }
    }

    /// Resolves a next link against the current URL and refuses other hosts.
    fn follow(&self, current: &Url, link: &str) -> Result<Url, ExtractError> {
        let next = current.join(link).map_err(|e| ExtractError::Pagination {
            url: self.auth.redact(current),
            reason: format!("next link {link:?} is not a URL: {e}"),
        })?;
        if !same_origin(&self.source.base_url, &next) {
            return Err(ExtractError::ForeignHost {
                link: next.to_string(),
                base_url: self.source.base_url.to_string(),
            });
        }
        Ok(next)
    }

    /// One page request: retries, then same-host redirects followed by hand (the HTTP clients
    /// never follow them). Returns the URL that answered (without the auth query) and the answer.
    async fn fetch(&self, url: &Url) -> Result<(Url, HttpResponse), ExtractError> {
        let mut current = url.clone();
        let mut hops = 0;
        loop {
            let response = self.fetch_with_retries(&current).await?;
            let Some(location) = redirect_location(&response) else {
                return Ok((current, response));
            };
            if hops == MAX_REDIRECTS {
                return Err(ExtractError::Redirect {
                    url: self.auth.redact(url),
                    reason: format!("more than {MAX_REDIRECTS} redirects"),
                });
            }
            hops += 1;
            current = self.redirect_target(&current, response.status, location)?;
        }
    }

    /// Where a redirect goes, if it stays on the configured host.
    fn redirect_target(
        &self,
        current: &Url,
        status: u16,
        location: &str,
    ) -> Result<Url, ExtractError> {
        let target = current.join(location).map_err(|e| ExtractError::Redirect {
            url: self.auth.redact(current),
            reason: format!("HTTP {status} with a Location that is not a URL ({e})"),
        })?;
        if !same_origin(&self.source.base_url, &target) {
            return Err(ExtractError::ForeignRedirect {
                url: self.auth.redact(current),
                status,
                target: origin_of(&target),
                base_url: origin_of(&self.source.base_url),
            });
        }
        Ok(self.auth.strip_query(&target))
    }

    /// One request with retries; a redirect is returned as is, any other final non-2xx becomes
    /// an error with a body snippet.
    async fn fetch_with_retries(&self, url: &Url) -> Result<HttpResponse, ExtractError> {
        let mut wire_url = url.clone();
        self.auth.apply_query(&mut wire_url);
        let shown = self.auth.redact(&wire_url);
        let sent = send_with_retries::<_, _, std::convert::Infallible>(
            self.fetcher.clock.as_ref(),
            &self.fetcher.retry,
            retry_when_overloaded_or_failing,
            || {
                let mut request = HttpRequest::new(Method::Get, wire_url.as_str());
                for (name, value) in self.source.headers.iter().chain(self.auth.headers()) {
                    request = request.header(name.clone(), value.clone());
                }
                // Transport failures are retried too: a GET is safe to repeat.
                async move {
                    self.fetcher
                        .http
                        .send(request)
                        .await
                        .map_err(AttemptError::Transport)
                }
            },
        )
        .await;
        match sent {
            Ok(answered)
                if answered.response.is_success()
                    || redirect_location(&answered.response).is_some() =>
            {
                Ok(answered.response)
            }
            Ok(answered) => Err(status_error(shown, answered.response, answered.attempts)),
            Err(Exhausted::Status { response, attempts }) => {
                Err(status_error(shown, response, attempts))
            }
            Err(Exhausted::Transport { error, attempts }) => Err(ExtractError::Transport {
                url: shown,
                attempts,
                reason: error.to_string(),
            }),
            Err(Exhausted::Fatal(never)) => match never {},
        }
    }
}

fn status_error(url: String, response: HttpResponse, attempts: u32) -> ExtractError {
    ExtractError::Status {
        url,
        status: response.status,
        attempts,
        snippet: response.body_snippet(),
    }
}

/// The `Location` of a redirect (301, 302, 303, 307, 308; a GET stays a GET for each).
fn redirect_location(response: &HttpResponse) -> Option<&str> {
    matches!(response.status, 301 | 302 | 303 | 307 | 308)
        .then(|| response.header("location"))
        .flatten()
}

/// A non-negative integer at `path` in the body (totals of the offset and page paginators).
fn number_at(path: Option<&JsonPath>, body: &Value) -> Option<u64> {
    path.and_then(|p| p.find(body)).and_then(Value::as_u64)
}

/// The `rel="next"` target of an RFC 8288 `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        is_next.then(|| target.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_rel_next_among_links() {
        let header = r#"<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next", <https://a/x?page=9>; rel=last"#;
        assert_eq!(next_link(header).as_deref(), Some("https://a/x?page=3"));
        assert_eq!(
            next_link(r#"</p?page=2>; rel="next last""#).as_deref(),
            Some("/p?page=2")
        );
        assert_eq!(next_link(r#"<https://a/x>; rel="prev""#), None);
    }
}
