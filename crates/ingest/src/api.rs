//! The HTTP surface's routes and bodies, decided without the runtime (so they are tested
//! natively); what a run or a push does and which status it answers is the core's
//! (`icepipe_core::ingest::{run, push}`):
//!
//! - `GET /health` (open)
//! - `POST /sources/<source>/run[?resource=<name>]`: run one source now
//! - `POST /events/<source>/<resource>`: land pushed events (JSON array or NDJSON)
//!
//! Everything but `/health` needs `Authorization: Bearer <ADMIN_TOKEN>`.

use icepipe_core::ingest::RunReport;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    RunSource {
        source: String,
        resource: Option<String>,
    },
    Events {
        source: String,
        resource: String,
    },
}

impl Route {
    pub fn needs_auth(&self) -> bool {
        !matches!(self, Route::Health)
    }
}

/// A request that matches no route: the status and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRoute {
    pub status: u16,
    pub error: String,
}

/// The route of `method` + `path` (`query` without the `?`).
pub fn route(method: &str, path: &str, query: Option<&str>) -> Result<Route, NoRoute> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (route, allowed) = match segments.as_slice() {
        ["health"] => (Route::Health, "GET"),
        ["sources", source, "run"] => (
            Route::RunSource {
                source: source.to_string(),
                resource: query_param(query, "resource"),
            },
            "POST",
        ),
        ["events", source, resource] => (
            Route::Events {
                source: source.to_string(),
                resource: resource.to_string(),
            },
            "POST",
        ),
        _ => {
            return Err(NoRoute {
                status: 404,
                error: "not found: the routes are GET /health, POST /sources/<source>/run, POST /events/<source>/<resource>".into(),
            })
        }
    };
    if !method.eq_ignore_ascii_case(allowed) {
        return Err(NoRoute {
            status: 405,
            error: format!("method not allowed: use {allowed} {path}"),
        });
    }
    Ok(route)
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// The response body of a run: the report, plus the raw bucket it wrote to.
pub fn run_body(report: &RunReport, raw_bucket: &str) -> Value {
    let mut body =
        serde_json::to_value(report).unwrap_or_else(|e| json!({ "error": e.to_string() }));
    if let Value::Object(map) = &mut body {
        map.insert("raw_bucket".into(), json!(raw_bucket));
        map.insert("ok".into(), json!(report.is_success()));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_their_methods() {
        assert_eq!(route("GET", "/health", None), Ok(Route::Health));
        assert_eq!(
            route(
                "POST",
                "/sources/api_jsonplaceholder/run",
                Some("resource=posts&x=1")
            ),
            Ok(Route::RunSource {
                source: "api_jsonplaceholder".into(),
                resource: Some("posts".into())
            })
        );
        assert_eq!(
            route("POST", "/sources/s/run/", Some("resource=")),
            Ok(Route::RunSource {
                source: "s".into(),
                resource: None
            })
        );
        assert_eq!(
            route("post", "/events/app/clicks", None),
            Ok(Route::Events {
                source: "app".into(),
                resource: "clicks".into()
            })
        );
        assert_eq!(
            route("GET", "/events/app/clicks", None).unwrap_err().status,
            405
        );
        assert_eq!(route("POST", "/health", None).unwrap_err().status, 405);
        assert_eq!(route("GET", "/", None).unwrap_err().status, 404);
        assert_eq!(route("POST", "/events/app", None).unwrap_err().status, 404);
        assert!(!Route::Health.needs_auth());
        assert!(Route::Events {
            source: "a".into(),
            resource: "b".into()
        }
        .needs_auth());
    }

    #[test]
    fn a_failed_resource_makes_the_run_a_502_with_the_report() {
        let mut report = RunReport {
            source: "s".into(),
            load_id: "l".into(),
            resources: vec![],
            errors: vec![],
            duration_ms: 5,
        };
        assert_eq!(report.status(), 200);
        let body = run_body(&report, "icepipe-raw");
        assert_eq!(body["raw_bucket"], "icepipe-raw");
        assert_eq!(body["ok"], true);
        report.errors.push("posts: HTTP 500".into());
        assert_eq!(report.status(), 502);
        assert_eq!(run_body(&report, "b")["errors"][0], "posts: HTTP 500");
    }
}
