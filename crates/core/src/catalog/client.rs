//! The catalog operations icepipe needs, over [`HttpClient`] so it runs natively and in a Worker.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::{NamespaceIdent, TableIdent, TableRequirement, TableUpdate};

use super::auth::TokenSource;
use super::config::CatalogConfig;
use super::error::CatalogError;
use super::ops::{CatalogOp, CatalogOps, OpCounts};
use super::paths::{encode_namespace, encode_segment, query};
use super::transport::{error_message, SendError, Subject, Transport};
use super::types::{
    CommitResult, CommitTableRequest, CommitTableResponse, ConfigResponse, CreateNamespaceRequest,
    CreateTable, CreateTableRequest, ListNamespacesResponse, ListTablesResponse, LoadTableResponse,
    LoadedTable,
};
use crate::clock::Clock;
use crate::http::retry::{is_overloaded_or_failing, RetryPolicy};
use crate::http::{HttpClient, HttpError, HttpRequest, HttpResponse, Method};

/// A guard against a server that keeps handing out page tokens.
const MAX_PAGES: usize = 10_000;

/// An Iceberg REST catalog bound to one warehouse.
///
/// Cheap to clone (shared token cache).
#[derive(Clone, Debug)]
pub struct RestCatalog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    transport: Transport,
    /// `{uri}/v1` or `{uri}/v1/{prefix}`.
    base: String,
    prefix: Option<String>,
    /// Server defaults, then the client's warehouse, then server overrides (the spec's order).
    properties: HashMap<String, String>,
    ops: CatalogOps,
}

impl RestCatalog {
    /// Reads `/v1/config` for the warehouse and checks that the warehouse answers, so a wrong URI,
    /// credential or warehouse fails here with a clear error rather than in the middle of a commit.
    pub async fn connect(
        http: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
        config: CatalogConfig,
    ) -> Result<RestCatalog, CatalogError> {
        Self::connect_with_retry(http, clock, config, RetryPolicy::catalog_default()).await
    }

    /// [`Self::connect`] with a custom backoff for idempotent requests.
    pub async fn connect_with_retry(
        http: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
        config: CatalogConfig,
        retry: RetryPolicy,
    ) -> Result<RestCatalog, CatalogError> {
        let uri = config.uri.trim_end_matches('/').to_string();
        let transport = Transport {
            http,
            clock,
            uri: uri.clone(),
            warehouse: config.warehouse.clone(),
            retry,
            tokens: TokenSource::new(config.auth),
        };

        const OPERATION: &str = "read the catalog config";
        let request = json_request(
            Method::Get,
            format!(
                "{uri}/v1/config{}",
                query(&[("warehouse", &config.warehouse)])
            ),
        );
        let response = transport
            .send_idempotent(OPERATION, Subject::None, request)
            .await?;
        let server: ConfigResponse = match response.status {
            200..=299 => transport.parse(OPERATION, &response)?,
            // The reference server answers 404 NoSuchWarehouseException; 400 is the other common
            // answer to a malformed warehouse name. Auth errors still win (mapped below).
            400 | 404 => {
                return Err(
                    transport.warehouse_not_found(response.status, error_message(&response).0)
                )
            }
            _ => return Err(transport.status_error(OPERATION, Subject::None, &response, 1)),
        };

        let mut properties = server.defaults;
        properties.insert("warehouse".to_string(), config.warehouse);
        properties.extend(server.overrides);
        let prefix = properties
            .get("prefix")
            .map(|p| p.trim_matches('/').to_string())
            .filter(|p| !p.is_empty());
        let base = match &prefix {
            Some(prefix) => format!("{uri}/v1/{prefix}"),
            None => format!("{uri}/v1"),
        };
        let catalog = RestCatalog {
            inner: Arc::new(Inner {
                transport,
                base,
                prefix,
                properties,
                ops: CatalogOps::default(),
            }),
        };
        catalog.probe_warehouse().await?;
        Ok(catalog)
    }

    /// The route prefix the server chose (`/v1/{prefix}/...`), if any.
    pub fn prefix(&self) -> Option<&str> {
        self.inner.prefix.as_deref()
    }

    /// The merged catalog properties (defaults, the warehouse, overrides).
    pub fn properties(&self) -> &HashMap<String, String> {
        &self.inner.properties
    }

    pub fn uri(&self) -> &str {
        &self.inner.transport.uri
    }

    pub fn warehouse(&self) -> &str {
        &self.inner.transport.warehouse
    }

    /// Operations this client (and its clones) has sent so far, by kind.
    pub fn ops(&self) -> OpCounts {
        self.inner.ops.read()
    }

    fn count(&self, op: CatalogOp) {
        self.inner.ops.count(op);
    }

    /// Creates every missing level of `namespace` (`a`, then `a.b`, ...). A concurrent creator
    /// winning the race (409) counts as success.
    pub async fn ensure_namespace(&self, namespace: &NamespaceIdent) -> Result<(), CatalogError> {
        // Usually it exists already: one GET and done.
        if self.namespace_exists(namespace).await? {
            return Ok(());
        }
        for depth in 1..=namespace.len() {
            let level = NamespaceIdent::from_vec(namespace[..depth].to_vec())
                .expect("a prefix of a non-empty namespace is non-empty");
            if depth < namespace.len() && self.namespace_exists(&level).await? {
                continue;
            }
            self.create_namespace(&level).await?;
        }
        Ok(())
    }

    /// The levels of `namespace` that do not exist yet, outermost first (what
    /// [`Self::ensure_namespace`] would create), for callers that pace each creation.
    pub async fn missing_namespaces(
        &self,
        namespace: &NamespaceIdent,
    ) -> Result<Vec<NamespaceIdent>, CatalogError> {
        if self.namespace_exists(namespace).await? {
            return Ok(Vec::new());
        }
        let mut missing = Vec::new();
        for depth in 1..=namespace.len() {
            let level = NamespaceIdent::from_vec(namespace[..depth].to_vec())
                .expect("a prefix of a non-empty namespace is non-empty");
            if depth == namespace.len() || !self.namespace_exists(&level).await? {
                missing.push(level);
            }
        }
        Ok(missing)
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool, CatalogError> {
        self.count(CatalogOp::NamespaceRead);
        let operation = format!("look up namespace {namespace}");
        let url = format!(
            "{}/namespaces/{}",
            self.inner.base,
            encode_namespace(namespace)
        );
        let t = &self.inner.transport;
        let subject = Subject::Namespace(namespace);
        let response = t
            .send_idempotent(&operation, subject, json_request(Method::Get, url))
            .await?;
        match response.status {
            200..=299 => Ok(true),
            404 => match t.status_error(&operation, subject, &response, 1) {
                CatalogError::NamespaceNotFound { .. } => Ok(false),
                other => Err(other),
            },
            _ => Err(t.status_error(&operation, subject, &response, 1)),
        }
    }

    /// Creates one namespace level (its parent must exist); one that exists already is success.
    pub async fn create_namespace(&self, namespace: &NamespaceIdent) -> Result<(), CatalogError> {
        self.count(CatalogOp::NamespaceWrite);
        let operation = format!("create namespace {namespace}");
        let body = serde_json::to_vec(&CreateNamespaceRequest {
            namespace,
            properties: HashMap::new(),
        })
        .expect("namespace request serializes");
        let request =
            json_request(Method::Post, format!("{}/namespaces", self.inner.base)).body(body);
        let t = &self.inner.transport;
        let subject = Subject::Namespace(namespace);
        // Retrying is safe: a replay of a create that went through answers 409, which is success.
        let response = t.send_idempotent(&operation, subject, request).await?;
        match response.status {
            200..=299 | 409 => Ok(()),
            // 404 here means a missing parent, which is not this namespace's absence.
            _ => Err(t.status_error(&operation, Subject::None, &response, 1)),
        }
    }

    /// Namespaces under `parent` (all top-level ones for `None`), following `next-page-token`.
    pub async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>, CatalogError> {
        self.count(CatalogOp::List);
        let operation = match parent {
            Some(parent) => format!("list namespaces under {parent}"),
            None => "list namespaces".to_string(),
        };
        let subject = parent.map_or(Subject::None, Subject::Namespace);
        let parent_param = parent.map(|p| p.to_url_string());
        let mut namespaces = Vec::new();
        self.paginate(
            &operation,
            subject,
            |page_token| {
                let mut params: Vec<(&str, &str)> = Vec::new();
                if let Some(parent) = &parent_param {
                    params.push(("parent", parent));
                }
                if let Some(token) = page_token {
                    params.push(("pageToken", token));
                }
                format!("{}/namespaces{}", self.inner.base, query(&params))
            },
            |response| {
                let page: ListNamespacesResponse =
                    self.inner.transport.parse(&operation, response)?;
                namespaces.extend(page.namespaces);
                Ok(page.next_page_token)
            },
        )
        .await?;
        Ok(namespaces)
    }

    /// Tables in `namespace`, following `next-page-token`.
    pub async fn list_tables(
        &self,
        namespace: &NamespaceIdent,
    ) -> Result<Vec<TableIdent>, CatalogError> {
        self.count(CatalogOp::List);
        let operation = format!("list tables in namespace {namespace}");
        let base = format!(
            "{}/namespaces/{}/tables",
            self.inner.base,
            encode_namespace(namespace)
        );
        let mut tables = Vec::new();
        self.paginate(
            &operation,
            Subject::Namespace(namespace),
            |page_token| match page_token {
                Some(token) => format!("{base}{}", query(&[("pageToken", token)])),
                None => base.clone(),
            },
            |response| {
                let page: ListTablesResponse = self.inner.transport.parse(&operation, response)?;
                tables.extend(page.identifiers);
                Ok(page.next_page_token)
            },
        )
        .await?;
        Ok(tables)
    }

    async fn paginate(
        &self,
        operation: &str,
        subject: Subject<'_>,
        url_for: impl Fn(Option<&str>) -> String,
        mut take_page: impl FnMut(&HttpResponse) -> Result<Option<String>, CatalogError>,
    ) -> Result<(), CatalogError> {
        let t = &self.inner.transport;
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let request = json_request(Method::Get, url_for(page_token.as_deref()));
            let response = t.send_idempotent(operation, subject, request).await?;
            if !response.is_success() {
                return Err(t.status_error(operation, subject, &response, 1));
            }
            let next = take_page(&response)?.filter(|token| !token.is_empty());
            if next.is_none() || next == page_token {
                return Ok(());
            }
            page_token = next;
        }
        Err(t.invalid_response(operation, format!("more than {MAX_PAGES} pages")))
    }

    /// Loads the current metadata. A missing namespace also reads as [`CatalogError::TableNotFound`]:
    /// either way the table does not exist.
    pub async fn load_table(&self, table: &TableIdent) -> Result<LoadedTable, CatalogError> {
        self.count(CatalogOp::LoadTable);
        let operation = format!("load table {table}");
        let t = &self.inner.transport;
        let subject = Subject::Table(table);
        let request = json_request(Method::Get, self.table_url(table));
        let response = t.send_idempotent(&operation, subject, request).await?;
        if !response.is_success() {
            return Err(t.status_error(&operation, subject, &response, 1));
        }
        let loaded: LoadTableResponse = t.parse(&operation, &response)?;
        Ok(loaded.into())
    }

    /// Creates the table where the catalog chooses. If it already exists (a concurrent creator, or
    /// our own earlier attempt whose answer was lost), loads and returns it instead.
    pub async fn create_table(
        &self,
        table: &TableIdent,
        create: CreateTable,
    ) -> Result<LoadedTable, CatalogError> {
        self.count(CatalogOp::CreateTable);
        let operation = format!("create table {table}");
        let t = &self.inner.transport;
        let body = serde_json::to_vec(&CreateTableRequest {
            name: &table.name,
            schema: &create.schema,
            partition_spec: create.partition_spec.as_ref(),
            write_order: create.write_order.as_ref(),
            stage_create: false,
            properties: &create.properties,
        })
        .expect("create request serializes");
        let url = format!(
            "{}/namespaces/{}/tables",
            self.inner.base,
            encode_namespace(&table.namespace)
        );
        let request = json_request(Method::Post, url).body(body);

        // Not a blind retry: after an unknown outcome, look first, and only create again if the
        // table is still absent.
        let attempts = t.retry.attempts();
        for attempt in 1..=attempts {
            let backoff = t.retry.backoff.get(attempt as usize - 1).copied();
            let failure = match t.send_authed(request.clone()).await {
                Ok(response) if response.is_success() => {
                    let created: LoadTableResponse = t.parse(&operation, &response)?;
                    return Ok(created.into());
                }
                Ok(response) if response.status == 409 => return self.load_table(table).await,
                // Over a rate limit: nothing was created, and the wait is the caller's to make.
                Ok(response) if response.status == 429 => {
                    return Err(t.status_error(&operation, Subject::None, &response, attempt));
                }
                Ok(response) if is_overloaded_or_failing(response.status) => {
                    t.status_error(&operation, Subject::None, &response, attempt)
                }
                Ok(response) => {
                    // 404 on create means the namespace is missing.
                    let subject = Subject::Namespace(&table.namespace);
                    return Err(t.status_error(&operation, subject, &response, attempt));
                }
                Err(SendError::Fatal(error)) => return Err(error),
                Err(SendError::Transport(error)) => {
                    let never_sent = error.never_sent();
                    let failure = t.transport_error(&operation, error, attempt);
                    if never_sent {
                        match backoff {
                            Some(wait) => {
                                t.clock.sleep(wait).await;
                                continue;
                            }
                            None => return Err(failure),
                        }
                    }
                    failure
                }
            };
            // The create may have happened: the table's presence is the answer.
            match self.load_table(table).await {
                Ok(loaded) => return Ok(loaded),
                Err(CatalogError::TableNotFound { .. }) => {}
                Err(other) => return Err(other),
            }
            match backoff {
                Some(wait) => t.clock.sleep(wait).await,
                None => return Err(failure),
            }
        }
        unreachable!("the last attempt always returns")
    }

    /// Applies `updates` if all `requirements` hold. Sent exactly once: on anything but a clear
    /// answer the outcome is [`CatalogError::CommitOutcomeUnknown`] and the committer must reload.
    pub async fn commit_table(
        &self,
        table: &TableIdent,
        requirements: Vec<TableRequirement>,
        updates: Vec<TableUpdate>,
    ) -> Result<CommitResult, CatalogError> {
        self.count(CatalogOp::Commit);
        let operation = format!("commit to table {table}");
        let t = &self.inner.transport;
        let body = serde_json::to_vec(&CommitTableRequest {
            identifier: table,
            requirements: &requirements,
            updates: &updates,
        })
        .map_err(|e| CatalogError::BadRequest {
            uri: t.uri.clone(),
            warehouse: t.warehouse.clone(),
            operation: operation.clone(),
            status: 0,
            message: format!("the commit request does not serialize: {e}"),
        })?;
        let request = json_request(Method::Post, self.table_url(table)).body(body);
        let unknown = |reason: String| CatalogError::CommitOutcomeUnknown {
            uri: t.uri.clone(),
            warehouse: t.warehouse.clone(),
            table: table.to_string(),
            reason,
        };

        let response = match t.send_authed(request).await {
            Ok(response) => response,
            Err(SendError::Fatal(error)) => return Err(error),
            // Connect errors are the one transport failure where the request never left.
            Err(SendError::Transport(error @ HttpError::Connect { .. })) => {
                return Err(t.transport_error(&operation, error, 1))
            }
            Err(SendError::Transport(error)) => return Err(unknown(error.to_string())),
        };
        match response.status {
            200..=299 => {
                // A 200 means applied; if its body is unreadable the committer still has to reload
                // to learn the new state, which is what "unknown" tells it to do.
                let committed: CommitTableResponse =
                    t.parse(&operation, &response).map_err(|e| {
                        unknown(format!(
                            "HTTP {} with an unreadable body: {e}",
                            response.status
                        ))
                    })?;
                Ok(CommitResult {
                    metadata_location: committed.metadata_location,
                    metadata: committed.metadata,
                })
            }
            // 409: a requirement failed. R2 Data Catalog also answers 400 ConcurrentUpdateError
            // when two commits passed their checks at once and this one lost: the same race.
            409 => Err(t.commit_conflict(table, &response)),
            400 if is_concurrent_update(&response) => Err(t.commit_conflict(table, &response)),
            status if (500..=599).contains(&status) => Err(unknown(format!(
                "HTTP {status}: {}",
                error_message(&response).0
            ))),
            _ => Err(t.status_error(&operation, Subject::Table(table), &response, 1)),
        }
    }

    /// Drops the table; `purge` also asks the catalog to delete its files.
    pub async fn drop_table(&self, table: &TableIdent, purge: bool) -> Result<(), CatalogError> {
        let operation = format!("drop table {table}");
        let t = &self.inner.transport;
        let subject = Subject::Table(table);
        let url = format!(
            "{}{}",
            self.table_url(table),
            query(&[("purgeRequested", if purge { "true" } else { "false" })])
        );
        let response = t
            .send_idempotent(&operation, subject, json_request(Method::Delete, url))
            .await?;
        if response.is_success() {
            Ok(())
        } else {
            Err(t.status_error(&operation, subject, &response, 1))
        }
    }

    fn table_url(&self, table: &TableIdent) -> String {
        format!(
            "{}/namespaces/{}/tables/{}",
            self.inner.base,
            encode_namespace(&table.namespace),
            encode_segment(&table.name)
        )
    }

    /// Lists the root namespaces once: the cheapest authenticated call that fails for an unknown
    /// warehouse (SeaweedFS's config endpoint accepts any warehouse and answers 404 only here).
    async fn probe_warehouse(&self) -> Result<(), CatalogError> {
        const OPERATION: &str = "list namespaces (warehouse check)";
        let t = &self.inner.transport;
        let url = format!("{}/namespaces", self.inner.base);
        let response = t
            .send_idempotent(OPERATION, Subject::None, json_request(Method::Get, url))
            .await?;
        match response.status {
            200..=299 => Ok(()),
            // The root of a warehouse has no other reason to be missing.
            404 => Err(t.warehouse_not_found(404, error_message(&response).0)),
            _ => Err(t.status_error(OPERATION, Subject::None, &response, 1)),
        }
    }
}

fn json_request(method: Method, url: String) -> HttpRequest {
    let request = HttpRequest::new(method, url).header("Accept", "application/json");
    match method {
        Method::Post | Method::Put => request.header("Content-Type", "application/json"),
        _ => request,
    }
}

/// R2 Data Catalog's answer to a commit that lost a race after passing its requirement checks.
fn is_concurrent_update(response: &HttpResponse) -> bool {
    let (message, kind) = error_message(response);
    kind == "ConcurrentUpdateError"
        || (kind.is_empty() && message.to_lowercase().contains("concurrent update"))
}
