//! APIs that misbehave without failing a request: redirects (followed only within the configured
//! host, bounded, credentials never sent elsewhere), pages that repeat, cursors that do not
//! advance, and more pages than `max_pages`. Each ends the resource with an error naming the URL,
//! lands nothing from the offending answer and leaves the cursor where it was.
#![cfg(feature = "native")]

mod ingest_common;

use icepipe_core::ingest::RunReport;
use icepipe_core::raw::reserved::state_key;
use ingest_common::{config, ints, serve_page, Harness};
use serde_json::json;
use wiremock::matchers::{path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn ok(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn redirect(status: u16, location: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).insert_header("location", location)
}

const SECRET: &str = "s3cr3t-value";

/// The secret of a source in every place auth can put it.
const AUTHS: [&str; 3] = [
    r#"auth = { type = "bearer", secret = "TOKEN" }"#,
    r#"auth = { type = "api_key", name = "x-api-key", location = "header", secret = "TOKEN" }"#,
    r#"auth = { type = "api_key", name = "api_key", location = "query", secret = "TOKEN" }"#,
];

fn harness_with_secret() -> Harness {
    let mut harness = Harness::new();
    harness.secrets.0.insert("TOKEN".into(), SECRET.into());
    harness
}

/// Whether a request carries the secret anywhere (URL or any header).
fn carries_secret(request: &Request) -> bool {
    request.url.as_str().contains(SECRET)
        || request
            .headers
            .values()
            .any(|v| v.to_str().unwrap_or("").contains(SECRET))
}

fn only_error(report: &RunReport) -> String {
    assert_eq!(report.resources.len(), 1, "{report:?}");
    report.resources[0]
        .error
        .clone()
        .unwrap_or_else(|| panic!("the resource should have failed: {report:?}"))
}

/// Keys the run wrote under `sources/` and `_state/`.
fn landed(harness: &Harness) -> Vec<String> {
    harness
        .store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("sources/") || k.starts_with("_state/"))
        .collect()
}

#[tokio::test]
async fn redirects_within_the_configured_host_are_followed_with_the_credentials() {
    for auth in AUTHS {
        let server = MockServer::start().await;
        // A relative Location, then an absolute one on the same origin.
        Mock::given(path("/items"))
            .respond_with(redirect(301, "/v2/items?moved=1"))
            .mount(&server)
            .await;
        Mock::given(path("/v2/items"))
            .respond_with(redirect(307, &format!("{}/v3/items", server.uri())))
            .mount(&server)
            .await;
        Mock::given(path("/v3/items"))
            .respond_with(ok(json!([{"id": 1}, {"id": 2}])))
            .expect(1)
            .mount(&server)
            .await;
        let config = config(
            &server.uri(),
            &format!("{auth}\n[sources.api_test.resources.items]\n"),
        );
        let harness = harness_with_secret();
        harness.run_ok(&config).await;
        assert_eq!(
            ints(&harness.read_table("items").await, "id"),
            [Some(1), Some(2)]
        );
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 3, "{auth}");
        for request in &requests {
            assert!(carries_secret(request), "{auth}: {}", request.url);
            // The query key is sent once per request, never doubled by a redirect.
            assert!(
                request
                    .url
                    .query_pairs()
                    .filter(|(k, _)| k == "api_key")
                    .count()
                    <= 1,
                "{}",
                request.url
            );
        }
    }
}

#[tokio::test]
async fn a_redirect_to_another_host_is_refused_and_nothing_from_it_lands() {
    for auth in AUTHS {
        let api = MockServer::start().await;
        // Another port on the same address is another origin: an internal service, say.
        let internal = MockServer::start().await;
        Mock::given(path("/items"))
            .respond_with(ok(json!([{"id": 666}])))
            .expect(0)
            .mount(&internal)
            .await;
        let target = format!("{}/items?page=2", internal.uri());
        for status in [302, 307] {
            Mock::given(path("/items"))
                .respond_with(redirect(status, &target))
                .up_to_n_times(1)
                .mount(&api)
                .await;
            let config = config(
                &api.uri(),
                &format!("{auth}\n[sources.api_test.resources.items]\nprimary_key = \"id\"\nincremental = {{ cursor_path = \"id\", param = \"since\", initial_value = 0 }}\n"),
            );
            let harness = harness_with_secret();
            let report = harness.run(&config, None).await;
            let error = only_error(&report);
            assert!(
                error.contains(&format!(
                    "answered HTTP {status} redirecting to another host {}",
                    internal.uri()
                )),
                "{error}"
            );
            assert!(
                error.contains(&format!("GET {}/items", api.uri())),
                "{error}"
            );
            assert!(!error.contains(SECRET), "{error}");
            assert!(
                !error.contains("page=2"),
                "only the other host is named: {error}"
            );
            assert!(report.resources[0].files.is_empty(), "{report:?}");
            assert!(landed(&harness).is_empty(), "{:?}", landed(&harness));
        }
        // Never asked, so no credential went there.
        let asked = internal.received_requests().await.unwrap();
        assert!(asked.is_empty(), "{auth}: {asked:?}");
        assert!(!asked.iter().any(carries_secret));
    }
}

#[tokio::test]
async fn a_later_page_redirected_elsewhere_ends_the_resource_and_keeps_the_cursor() {
    let api = MockServer::start().await;
    let internal = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ok(json!([{"id": 666}])))
        .expect(0)
        .mount(&internal)
        .await;
    Mock::given(path("/items"))
        .and(query_param("page", "1"))
        .respond_with(ok(json!([{"id": 1}])))
        .mount(&api)
        .await;
    Mock::given(path("/items"))
        .and(query_param("page", "2"))
        .respond_with(redirect(308, &format!("{}/items", internal.uri())))
        .mount(&api)
        .await;
    let config = config(
        &api.uri(),
        "[sources.api_test.resources.items]\nprimary_key = \"id\"\nincremental = { cursor_path = \"id\", param = \"since\", initial_value = 0 }\npaginator = { type = \"page_number\" }\n",
    );
    let harness = harness_with_secret();
    let report = harness.run(&config, None).await;
    let error = only_error(&report);
    assert!(error.contains("redirecting to another host"), "{error}");
    // The first page is stored (as for any failure mid-resource); the foreign records are not,
    // and the cursor does not move.
    assert_eq!(ints(&harness.read_table("items").await, "id"), [Some(1)]);
    assert!(!landed(&harness).contains(&state_key("api_test", "items")));
}

#[tokio::test]
async fn redirects_are_bounded() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(redirect(302, "/items"))
        .mount(&server)
        .await;
    let config = config(&server.uri(), "[sources.api_test.resources.items]\n");
    let harness = Harness::new();
    let error = only_error(&harness.run(&config, None).await);
    assert!(
        error.contains(&format!(
            "GET {}/items: more than 5 redirects",
            server.uri()
        )),
        "{error}"
    );
    // The first request and five hops.
    assert_eq!(server.received_requests().await.unwrap().len(), 6);
    assert!(landed(&harness).is_empty());
}

#[tokio::test]
async fn a_page_that_repeats_the_previous_one_stops_the_paging() {
    let server = MockServer::start().await;
    // An API that ignores the page parameter: the same page forever.
    Mock::given(path("/items"))
        .respond_with(ok(json!([{"id": 1}, {"id": 2}])))
        .mount(&server)
        .await;
    let config = config(
        &server.uri(),
        "[sources.api_test.resources.items]\nprimary_key = \"id\"\nincremental = { cursor_path = \"id\", param = \"since\", initial_value = 0 }\npaginator = { type = \"page_number\" }\n",
    );
    let harness = Harness::new();
    let report = harness.run(&config, None).await;
    let error = only_error(&report);
    assert!(
        error.contains(&format!(
            "pagination stopped at {}/items?since=0&page=2: the page repeats the previous page",
            server.uri()
        )),
        "{error}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    // The repeated page is not loaded twice; the cursor does not move.
    assert_eq!(report.resources[0].rows, 2);
    assert_eq!(
        ints(&harness.read_table("items").await, "id"),
        [Some(1), Some(2)]
    );
    assert!(!landed(&harness).contains(&state_key("api_test", "items")));
}

/// A two-page API: the first page (without `param`) leads to `param=value`, whose page leads
/// back to a URL already requested. The paging stops there with an error; both pages land.
async fn paging_that_leads_back(
    param: &str,
    value: &str,
    first: serde_json::Value,
    second: serde_json::Value,
    paginator: &str,
) -> (MockServer, String) {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .and(query_param_is_missing(param))
        .respond_with(ok(first))
        .mount(&server)
        .await;
    serve_page(&server, param, value, second).await;
    let config = config(
        &server.uri(),
        &format!("[sources.api_test.resources.items]\ndata_selector = \"data\"\npaginator = {paginator}\n"),
    );
    let harness = Harness::new();
    let error = only_error(&harness.run(&config, None).await);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(
        ints(&harness.read_table("items").await, "id"),
        [Some(1), Some(2)]
    );
    (server, error)
}

#[tokio::test]
async fn a_cursor_or_next_link_that_does_not_advance_stops_the_paging() {
    let cases = [
        // Different records, but the same cursor again.
        (
            "cursor",
            "abc",
            json!({"data": [{"id": 1}], "next": "abc"}),
            json!({"data": [{"id": 2}], "next": "abc"}),
            "{ type = \"cursor\", cursor_path = \"next\" }",
            "/items?cursor=abc",
        ),
        // A next link back to the first page.
        (
            "after",
            "1",
            json!({"data": [{"id": 1}], "next": "/items?after=1"}),
            json!({"data": [{"id": 2}], "next": "/items"}),
            "{ type = \"json_link\", next_url_path = \"next\" }",
            "/items",
        ),
    ];
    for (param, value, first, second, paginator, repeated) in cases {
        let (server, error) = paging_that_leads_back(param, value, first, second, paginator).await;
        assert!(
            error.contains(&format!(
                "pagination stopped at {}{repeated}: this URL was already requested in this run",
                server.uri()
            )),
            "{error}"
        );
    }
}

/// An endless API: page N holds record N.
async fn endless_pages(server: &MockServer) {
    Mock::given(path("/items"))
        .respond_with(|request: &Request| {
            let page: i64 = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "page")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            ResponseTemplate::new(200).set_body_json(json!([{ "id": page }]))
        })
        .mount(server)
        .await;
}

#[tokio::test]
async fn paging_stops_at_max_pages_with_an_error_naming_the_url() {
    let server = MockServer::start().await;
    endless_pages(&server).await;
    // The source's max_pages applies to its resources; a resource's own wins.
    let config = config(
        &server.uri(),
        "max_pages = 50\npaginator = { type = \"page_number\" }\n[sources.api_test.resources.items]\nmax_pages = 3\n[sources.api_test.resources.other]\npath = \"/items\"\n",
    );
    let harness = Harness::new();
    let report = harness.run(&config, Some("items")).await;
    let error = only_error(&report);
    assert!(
        error.contains(&format!(
            "pagination stopped at {}/items?page=4: the resource has more than max_pages = 3 pages",
            server.uri()
        )),
        "{error}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    assert_eq!(report.resources[0].pages, 3);

    let report = harness.run(&config, Some("other")).await;
    let error = only_error(&report);
    assert!(error.contains("more than max_pages = 50 pages"), "{error}");
    assert_eq!(report.resources[0].pages, 50);
}

#[tokio::test]
async fn a_resource_with_exactly_max_pages_pages_succeeds() {
    let server = MockServer::start().await;
    for page in 1..=3 {
        serve_page(&server, "page", &page.to_string(), json!([{"id": page}])).await;
    }
    serve_page(&server, "page", "4", json!([])).await;
    // Pages 1-3 hold records, page 4 is the empty page that ends the paging.
    let config = config(
        &server.uri(),
        "[sources.api_test.resources.items]\nmax_pages = 4\npaginator = { type = \"page_number\" }\n",
    );
    let harness = Harness::new();
    let report = harness.run_ok(&config).await;
    assert_eq!(report.resources[0].pages, 4);
    assert_eq!(
        ints(&harness.read_table("items").await, "id"),
        [1, 2, 3].map(Some)
    );
}

#[tokio::test]
async fn max_pages_must_be_at_least_one() {
    let text = "[sources.api_test]\nbase_url = \"https://a.example.com\"\n[sources.api_test.resources.items]\nmax_pages = 0\n";
    let error = icepipe_core::ingest::IngestConfig::parse(text)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "sources.api_test.resources.items.max_pages: must be at least 1"
    );
    let default = config(
        "https://a.example.com",
        "[sources.api_test.resources.items]\n",
    );
    assert_eq!(
        default.sources["api_test"].resources["items"].max_pages,
        icepipe_core::ingest::config::DEFAULT_MAX_PAGES
    );
}
