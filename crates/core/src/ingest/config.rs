//! Declarative API sources (TOML), in the spirit of dlt's `rest_api` source.
//!
//! The file is walked by hand rather than through `#[derive(Deserialize)]` so that every error names
//! the full key that is wrong (`sources.x.resources.y.paginator.type: ...`); serde's messages only
//! give a line. Secrets are referenced by name; their values never live in the file.

use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use super::json_arrow::contract::SchemaContract;
use super::json_arrow::naming::normalize;
use super::jsonpath::JsonPath;
use crate::raw::columns::LOADED_AT_COLUMN;
use crate::raw::footer::{MergeKeys, WriteDisposition};
use crate::raw::key::is_valid_name;

/// Every source in a config file, by name.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub sources: BTreeMap<String, SourceConfig>,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub base_url: Url,
    pub headers: Vec<(String, String)>,
    pub auth: Option<Auth>,
    /// The cron expression (one of the Worker's `[triggers] crons`) this source runs on; a source
    /// without one runs on every trigger.
    pub schedule: Option<String>,
    pub resources: BTreeMap<String, ResourceConfig>,
}

/// Pages one run may fetch of a resource unless `max_pages` says otherwise: enough for any sane
/// API (10,000 pages of 100 records is a million records per run), small enough that an API
/// that never stops paging ends the run in minutes instead of never.
pub const DEFAULT_MAX_PAGES: u64 = 10_000;

impl SourceConfig {
    /// Whether the cron trigger `cron` (as the runtime reports it) is this source's; a source
    /// with nothing to pull (every resource `push_only`) never is.
    pub fn is_due(&self, cron: &str) -> bool {
        self.pulled_resources().next().is_some()
            && self
                .schedule
                .as_deref()
                .is_none_or(|schedule| normalize_cron(schedule) == normalize_cron(cron))
    }

    /// The resources a run pulls: all but the `push_only` ones.
    pub fn pulled_resources(&self) -> impl Iterator<Item = &ResourceConfig> {
        self.resources.values().filter(|r| !r.push_only)
    }
}

/// Cron fields separated by single spaces, for comparison.
fn normalize_cron(cron: &str) -> String {
    cron.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How requests authenticate; `secret` names a value looked up in [`super::Secrets`].
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    Bearer {
        secret: String,
    },
    ApiKey {
        name: String,
        location: KeyLocation,
        secret: String,
    },
    Basic {
        username: String,
        secret: String,
    },
}

impl Auth {
    /// The name of the secret holding the credential.
    pub fn secret_name(&self) -> &str {
        match self {
            Auth::Bearer { secret } | Auth::ApiKey { secret, .. } | Auth::Basic { secret, .. } => {
                secret
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLocation {
    Header,
    Query,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Paginator {
    SinglePage,
    /// The next page's URL at a path in the body.
    JsonLink {
        next_url_path: JsonPath,
    },
    /// RFC 8288 `Link: <...>; rel="next"`.
    HeaderLink,
    Offset {
        offset_param: String,
        limit_param: String,
        limit: u64,
        total_path: Option<JsonPath>,
    },
    PageNumber {
        page_param: String,
        base_page: u64,
        /// Sent with every request when set (e.g. `_limit`).
        limit: Option<(String, u64)>,
        total_path: Option<JsonPath>,
    },
    Cursor {
        cursor_path: JsonPath,
        cursor_param: String,
    },
}

const PAGINATORS: &str = "single_page, json_link, header_link, offset, page_number, cursor";

/// Where arrays of objects go: child tables (dlt's default) or nested list/struct columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    ChildTables,
    Nested,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incremental {
    pub cursor_path: JsonPath,
    pub initial_value: Option<Value>,
    /// The request parameter the start value is sent as.
    pub param: String,
    /// Subtracted from the stored cursor (seconds for timestamps, the value for numbers).
    pub lag: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ResourceConfig {
    pub name: String,
    pub path: String,
    pub params: Vec<(String, String)>,
    pub data_selector: Option<JsonPath>,
    pub primary_key: Vec<String>,
    pub incremental: Option<Incremental>,
    pub write_disposition: WriteDisposition,
    /// What a `merge` resource merges on (`Some` exactly for merge), as raw-file column names.
    pub merge: Option<MergeKeys>,
    pub nesting: Nesting,
    /// What loads may do to the resource's recorded schema (`schema_contract`: `evolve`,
    /// `freeze`, `discard_value`; see [`crate::ingest::json_arrow::contract`]).
    pub schema_contract: SchemaContract,
    /// `push_only = true`: the resource only receives pushed events (`POST /events`); runs and
    /// the cron never pull it, so it has none of the pull keys (`path`, `paginator`, ...).
    pub push_only: bool,
    /// The resource's own paginator, else the source's, else single page.
    pub paginator: Paginator,
    /// Most pages one run fetches (the resource's `max_pages`, else the source's, else
    /// [`DEFAULT_MAX_PAGES`]); a resource with more pages fails naming the URL and the limit.
    pub max_pages: u64,
}

/// A config error: the dotted key at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

type Table = toml::Table;

/// A table in the file with its dotted key, so every lookup can report where it failed.
struct Node<'a> {
    key: String,
    table: &'a Table,
}

impl<'a> Node<'a> {
    fn err(&self, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: self.child_key(field),
            message: message.into(),
        }
    }

    fn child_key(&self, field: &str) -> String {
        if self.key.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.key)
        }
    }

    fn only(&self, allowed: &[&str]) -> Result<(), ConfigError> {
        match self.table.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(self.err(
                k,
                format!("unknown key; expected one of {}", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn table(&self, field: &str) -> Result<Option<Node<'a>>, ConfigError> {
        match self.table.get(field) {
            None => Ok(None),
            Some(toml::Value::Table(table)) => Ok(Some(Node {
                key: self.child_key(field),
                table,
            })),
            Some(other) => Err(self.err(
                field,
                format!("expected a table, found {}", other.type_str()),
            )),
        }
    }

    fn opt_str(&self, field: &str) -> Result<Option<String>, ConfigError> {
        match self.table.get(field) {
            None => Ok(None),
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(toml::Value::String(_)) => Err(self.err(field, "must not be empty")),
            Some(other) => Err(self.err(
                field,
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    }

    fn str(&self, field: &str) -> Result<String, ConfigError> {
        self.opt_str(field)?
            .ok_or_else(|| self.err(field, "missing"))
    }

    fn opt_u64(&self, field: &str) -> Result<Option<u64>, ConfigError> {
        match self.table.get(field) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) if *i >= 0 => Ok(Some(*i as u64)),
            Some(other) => Err(self.err(
                field,
                format!("expected a non-negative integer, found {other}"),
            )),
        }
    }

    fn opt_path(&self, field: &str) -> Result<Option<JsonPath>, ConfigError> {
        self.opt_str(field)?
            .map(|text| JsonPath::parse(&text).map_err(|e| self.err(field, e.to_string())))
            .transpose()
    }

    fn path(&self, field: &str) -> Result<JsonPath, ConfigError> {
        self.opt_path(field)?
            .ok_or_else(|| self.err(field, "missing"))
    }

    /// A table of scalar values rendered as strings (headers, query params).
    fn string_map(&self, field: &str) -> Result<Vec<(String, String)>, ConfigError> {
        let Some(node) = self.table(field)? else {
            return Ok(Vec::new());
        };
        node.table
            .iter()
            .map(|(k, v)| match v {
                toml::Value::String(s) => Ok((k.clone(), s.clone())),
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    Ok((k.clone(), v.to_string()))
                }
                other => Err(node.err(k, format!("expected a scalar, found {}", other.type_str()))),
            })
            .collect()
    }

    /// One of `choices`, named in the error when it is not.
    fn choice<T: Copy>(
        &self,
        field: &str,
        choices: &[(&str, T)],
        default: T,
    ) -> Result<T, ConfigError> {
        let Some(text) = self.opt_str(field)? else {
            return Ok(default);
        };
        choices
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.err(
                    field,
                    format!(
                        "unknown value {text:?}; expected one of {}",
                        names.join(", ")
                    ),
                )
            })
    }
}

impl IngestConfig {
    /// Parses and validates a whole config file.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let root: Table = toml::from_str(text).map_err(|e| ConfigError {
            key: "(file)".into(),
            message: e.to_string().trim().to_string(),
        })?;
        let root = Node {
            key: String::new(),
            table: &root,
        };
        root.only(&["sources"])?;
        let sources_node = root
            .table("sources")?
            .ok_or_else(|| root.err("sources", "missing: define at least one [sources.<name>]"))?;
        let mut sources = BTreeMap::new();
        for name in sources_node.table.keys() {
            let node = sources_node.table(name)?.expect("key exists");
            sources.insert(name.clone(), parse_source(name, &node)?);
        }
        if sources.is_empty() {
            return Err(root.err("sources", "no source defined"));
        }
        Ok(Self { sources })
    }

    /// The named source, or an error listing the ones that exist.
    pub fn source(&self, name: &str) -> Result<&SourceConfig, ConfigError> {
        self.sources.get(name).ok_or_else(|| ConfigError {
            key: format!("sources.{name}"),
            message: format!(
                "no such source; the config defines {}",
                self.sources.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    }
}

impl SourceConfig {
    /// Points the source at another server (a local sample API, a test double).
    pub fn with_base_url(mut self, base_url: &str) -> Result<Self, ConfigError> {
        self.base_url = parse_base_url(base_url, "--base-url-override")?;
        Ok(self)
    }
}

/// An http(s) URL with a host; the error names `key`.
fn parse_base_url(text: &str, key: &str) -> Result<Url, ConfigError> {
    let fail = |message: String| ConfigError {
        key: key.to_string(),
        message,
    };
    let url = Url::parse(text).map_err(|e| fail(format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(fail("must be an http(s) URL with a host".into()));
    }
    Ok(url)
}

fn check_name(node: &Node, name: &str) -> Result<(), ConfigError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(ConfigError {
            key: node.key.clone(),
            message: format!(
                "name {name:?} must match [a-z][a-z0-9_]{{0,63}} (it becomes a table name)"
            ),
        })
    }
}

fn parse_source(name: &str, node: &Node) -> Result<SourceConfig, ConfigError> {
    check_name(node, name)?;
    node.only(&[
        "base_url",
        "headers",
        "auth",
        "paginator",
        "schedule",
        "max_pages",
        "resources",
    ])?;
    let base_url = parse_base_url(&node.str("base_url")?, &node.child_key("base_url"))?;
    let auth = node.table("auth")?.map(|n| parse_auth(&n)).transpose()?;
    let default_paginator = node
        .table("paginator")?
        .map(|n| parse_paginator(&n))
        .transpose()?;
    let default_max_pages = parse_max_pages(node)?.unwrap_or(DEFAULT_MAX_PAGES);
    let resources_node = node
        .table("resources")?
        .ok_or_else(|| node.err("resources", "missing: define at least one resource"))?;
    let mut resources = BTreeMap::new();
    for resource in resources_node.table.keys() {
        let rnode = resources_node.table(resource)?.expect("key exists");
        resources.insert(
            resource.clone(),
            parse_resource(
                resource,
                &rnode,
                default_paginator.as_ref(),
                default_max_pages,
            )?,
        );
    }
    if resources.is_empty() {
        return Err(node.err("resources", "no resource defined"));
    }
    Ok(SourceConfig {
        name: name.to_string(),
        base_url,
        headers: node.string_map("headers")?,
        auth,
        schedule: node.opt_str("schedule")?,
        resources,
    })
}

/// `max_pages`: at least 1 when set.
fn parse_max_pages(node: &Node) -> Result<Option<u64>, ConfigError> {
    match node.opt_u64("max_pages")? {
        Some(0) => Err(node.err("max_pages", "must be at least 1")),
        other => Ok(other),
    }
}

fn parse_auth(node: &Node) -> Result<Auth, ConfigError> {
    match node.str("type")?.as_str() {
        "bearer" => {
            node.only(&["type", "secret"])?;
            Ok(Auth::Bearer {
                secret: node.str("secret")?,
            })
        }
        "api_key" => {
            node.only(&["type", "name", "location", "secret"])?;
            Ok(Auth::ApiKey {
                name: node.str("name")?,
                location: node.choice(
                    "location",
                    &[
                        ("header", KeyLocation::Header),
                        ("query", KeyLocation::Query),
                    ],
                    KeyLocation::Header,
                )?,
                secret: node.str("secret")?,
            })
        }
        "basic" => {
            node.only(&["type", "username", "secret"])?;
            Ok(Auth::Basic {
                username: node.str("username")?,
                secret: node.str("secret")?,
            })
        }
        other => Err(node.err(
            "type",
            format!("unknown auth {other:?}; expected one of bearer, api_key, basic"),
        )),
    }
}

fn parse_paginator(node: &Node) -> Result<Paginator, ConfigError> {
    let kind = node.str("type")?;
    match kind.as_str() {
        "single_page" => {
            node.only(&["type"])?;
            Ok(Paginator::SinglePage)
        }
        "json_link" => {
            node.only(&["type", "next_url_path"])?;
            Ok(Paginator::JsonLink {
                next_url_path: node.path("next_url_path")?,
            })
        }
        "header_link" => {
            node.only(&["type"])?;
            Ok(Paginator::HeaderLink)
        }
        "offset" => {
            node.only(&["type", "offset_param", "limit_param", "limit", "total_path"])?;
            let limit = node
                .opt_u64("limit")?
                .ok_or_else(|| node.err("limit", "missing"))?;
            if limit == 0 {
                return Err(node.err("limit", "must be at least 1"));
            }
            Ok(Paginator::Offset {
                offset_param: node
                    .opt_str("offset_param")?
                    .unwrap_or_else(|| "offset".into()),
                limit_param: node
                    .opt_str("limit_param")?
                    .unwrap_or_else(|| "limit".into()),
                limit,
                total_path: node.opt_path("total_path")?,
            })
        }
        "page_number" => {
            node.only(&[
                "type",
                "page_param",
                "base_page",
                "limit_param",
                "limit",
                "total_path",
            ])?;
            let limit = match (node.opt_str("limit_param")?, node.opt_u64("limit")?) {
                (Some(param), Some(limit)) => Some((param, limit)),
                (None, None) => None,
                (Some(_), None) => return Err(node.err("limit", "missing (limit_param is set)")),
                (None, Some(_)) => return Err(node.err("limit_param", "missing (limit is set)")),
            };
            Ok(Paginator::PageNumber {
                page_param: node.opt_str("page_param")?.unwrap_or_else(|| "page".into()),
                base_page: node.opt_u64("base_page")?.unwrap_or(1),
                limit,
                total_path: node.opt_path("total_path")?,
            })
        }
        "cursor" => {
            node.only(&["type", "cursor_path", "cursor_param"])?;
            Ok(Paginator::Cursor {
                cursor_path: node.path("cursor_path")?,
                cursor_param: node
                    .opt_str("cursor_param")?
                    .unwrap_or_else(|| "cursor".into()),
            })
        }
        other => Err(node.err(
            "type",
            format!("unknown paginator {other:?}; expected one of {PAGINATORS}"),
        )),
    }
}

fn parse_incremental(node: &Node) -> Result<Incremental, ConfigError> {
    node.only(&["cursor_path", "initial_value", "param", "lag"])?;
    let initial_value = match node.table.get("initial_value") {
        None => None,
        Some(toml::Value::String(s)) => Some(Value::String(s.clone())),
        Some(toml::Value::Integer(i)) => Some(Value::from(*i)),
        Some(toml::Value::Float(f)) => Some(Value::from(*f)),
        Some(other) => {
            return Err(node.err(
                "initial_value",
                format!("expected a string or number, found {}", other.type_str()),
            ))
        }
    };
    let lag = match node.table.get("lag") {
        None => None,
        Some(toml::Value::Integer(i)) if *i >= 0 => Some(*i as f64),
        Some(toml::Value::Float(f)) if *f >= 0.0 => Some(*f),
        Some(other) => {
            return Err(node.err(
                "lag",
                format!("expected a non-negative number, found {other}"),
            ))
        }
    };
    Ok(Incremental {
        cursor_path: node.path("cursor_path")?,
        initial_value,
        param: node.str("param")?,
        lag,
    })
}

fn parse_resource(
    name: &str,
    node: &Node,
    default: Option<&Paginator>,
    default_max_pages: u64,
) -> Result<ResourceConfig, ConfigError> {
    check_name(node, name)?;
    node.only(&[
        "path",
        "params",
        "data_selector",
        "primary_key",
        "incremental",
        "write_disposition",
        "version_column",
        "hard_delete",
        "merge_key",
        "nesting",
        "schema_contract",
        "paginator",
        "max_pages",
        "push_only",
    ])?;
    let push_only = parse_push_only(node)?;
    let primary_key = column_list(node, "primary_key")?;
    let paginator = match node.table("paginator")? {
        Some(n) => parse_paginator(&n)?,
        None => default.cloned().unwrap_or(Paginator::SinglePage),
    };
    let incremental = node
        .table("incremental")?
        .map(|n| parse_incremental(&n))
        .transpose()?;
    let write_disposition = node.choice(
        "write_disposition",
        &[
            ("append", WriteDisposition::Append),
            ("replace", WriteDisposition::Replace),
            ("merge", WriteDisposition::Merge),
        ],
        WriteDisposition::Append,
    )?;
    if push_only && write_disposition == WriteDisposition::Replace {
        return Err(node.err(
            "write_disposition",
            "a push_only resource cannot be \"replace\": each push is one batch of events, and \
             replacing the table with every push would drop the rows pushed before (use \
             \"append\" or \"merge\")",
        ));
    }
    let nesting = node.choice(
        "nesting",
        &[
            ("child_tables", Nesting::ChildTables),
            ("nested", Nesting::Nested),
        ],
        Nesting::ChildTables,
    )?;
    let merge = parse_merge(
        node,
        write_disposition,
        nesting,
        &primary_key,
        incremental.as_ref(),
    )?;
    Ok(ResourceConfig {
        name: name.to_string(),
        path: node.opt_str("path")?.unwrap_or_else(|| name.to_string()),
        params: node.string_map("params")?,
        data_selector: node.opt_path("data_selector")?,
        primary_key,
        incremental,
        write_disposition,
        merge,
        nesting,
        schema_contract: node.choice(
            "schema_contract",
            &[
                ("evolve", SchemaContract::Evolve),
                ("freeze", SchemaContract::Freeze),
                ("discard_value", SchemaContract::DiscardValue),
            ],
            SchemaContract::Evolve,
        )?,
        push_only,
        paginator,
        max_pages: parse_max_pages(node)?.unwrap_or(default_max_pages),
    })
}

/// `field` of `node`: one column name or a list of them (none when absent).
fn column_list(node: &Node, field: &str) -> Result<Vec<String>, ConfigError> {
    let expected = || node.err(field, "expected a string or an array of strings");
    match node.table.get(field) {
        None => Ok(Vec::new()),
        Some(toml::Value::String(s)) => Ok(vec![s.clone()]),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(expected),
        Some(_) => Err(expected()),
    }
}

/// Keys that only say how a resource is pulled: a push-only resource may not set them.
const PULL_KEYS: [&str; 6] = [
    "path",
    "params",
    "data_selector",
    "incremental",
    "paginator",
    "max_pages",
];

/// `push_only` (default false); a push-only resource setting a pull key is an error naming it,
/// since the key would be silently ignored.
fn parse_push_only(node: &Node) -> Result<bool, ConfigError> {
    let push_only = match node.table.get("push_only") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(other) => {
            return Err(node.err(
                "push_only",
                format!("expected true or false, found {}", other.type_str()),
            ))
        }
    };
    if push_only {
        if let Some(key) = PULL_KEYS.iter().find(|k| node.table.contains_key(**k)) {
            return Err(node.err(
                key,
                "a push_only resource is never pulled: remove this key (or push_only)",
            ));
        }
    }
    Ok(push_only)
}

/// A merge resource's keys, as the raw file's column names: `primary_key` is required;
/// `version_column` defaults to the incremental cursor when it is a top-level field, else
/// `_loaded_at`; `hard_delete` names the delete marker; `merge_key` (a column or a list) makes
/// each load restate whole groups (crate::merge::groups). Merge needs `nesting = "nested"`:
/// child tables have no key of their own to merge on.
fn parse_merge(
    node: &Node,
    disposition: WriteDisposition,
    nesting: Nesting,
    primary_key: &[String],
    incremental: Option<&Incremental>,
) -> Result<Option<MergeKeys>, ConfigError> {
    let version_column = node.opt_str("version_column")?;
    let hard_delete = node.opt_str("hard_delete")?;
    let merge_key = column_list(node, "merge_key")?;
    if disposition != WriteDisposition::Merge {
        for (field, set) in [
            ("version_column", version_column.is_some()),
            ("hard_delete", hard_delete.is_some()),
            ("merge_key", node.table.contains_key("merge_key")),
        ] {
            if set {
                return Err(node.err(field, "only applies to write_disposition = \"merge\""));
            }
        }
        return Ok(None);
    }
    if primary_key.is_empty() {
        return Err(node.err(
            "primary_key",
            "write_disposition = \"merge\" needs a primary_key (a column or a list of columns)",
        ));
    }
    if nesting != Nesting::Nested {
        return Err(node.err(
            "nesting",
            "write_disposition = \"merge\" needs nesting = \"nested\" (child tables have no key to merge on)",
        ));
    }
    let column = |name: &str| normalize(name);
    let version_column = match (version_column, incremental) {
        (Some(name), _) => column(&name),
        (None, Some(inc)) if inc.cursor_path.segments().len() == 1 => {
            column(&inc.cursor_path.segments()[0])
        }
        (None, _) => LOADED_AT_COLUMN.to_string(),
    };
    let unusable = merge_key.is_empty() || merge_key.iter().any(|k| k.trim().is_empty());
    if node.table.contains_key("merge_key") && unusable {
        return Err(node.err(
            "merge_key",
            "expected a column or a non-empty list of columns",
        ));
    }
    Ok(Some(MergeKeys {
        primary_key: primary_key.iter().map(|k| column(k)).collect(),
        version_column,
        hard_delete_column: hard_delete.as_deref().map(column),
        merge_key: merge_key.iter().map(|k| column(k)).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../../config/sources.toml");

    #[test]
    fn the_shipped_example_parses() {
        let config = IngestConfig::parse(EXAMPLE).unwrap();
        let source = config.source("api_jsonplaceholder").unwrap();
        assert_eq!(
            source.base_url.as_str(),
            "https://jsonplaceholder.typicode.com/"
        );
        let names: Vec<&str> = source.resources.keys().map(String::as_str).collect();
        assert_eq!(names, ["comments", "posts", "todos", "users"]);
        let posts = &source.resources["posts"];
        assert!(
            matches!(posts.paginator, Paginator::PageNumber { ref page_param, .. } if page_param == "_page")
        );
        assert_eq!(posts.incremental.as_ref().unwrap().param, "updated_at_gte");
        assert_eq!(
            source.resources["users"].write_disposition,
            WriteDisposition::Replace
        );
        assert_eq!(posts.schema_contract, SchemaContract::Evolve);
        // The demo's merge: one row per id, the cursor as version, `deleted` removes.
        assert_eq!(posts.write_disposition, WriteDisposition::Merge);
        assert_eq!(
            posts.merge,
            Some(MergeKeys {
                primary_key: vec!["id".into()],
                version_column: "updated_at".into(),
                hard_delete_column: Some("deleted".into()),
                merge_key: Vec::new(),
            })
        );
        // The pushed merge: never pulled, newest `version` wins.
        let todos = &source.resources["todos"];
        assert!(todos.push_only);
        assert_eq!(
            todos.merge,
            Some(MergeKeys {
                primary_key: vec!["id".into()],
                version_column: "version".into(),
                hard_delete_column: Some("deleted".into()),
                merge_key: Vec::new(),
            })
        );
        let pulled: Vec<&str> = source.pulled_resources().map(|r| r.name.as_str()).collect();
        assert_eq!(pulled, ["comments", "posts", "users"]);
    }

    #[test]
    fn push_only_resources_are_never_pulled_and_take_no_pull_keys() {
        let base = "[sources.app]\nbase_url = \"https://api.example.com\"\n[sources.app.resources.todos]\npush_only = true\n";
        let config = IngestConfig::parse(&format!(
            "{base}write_disposition = \"merge\"\nnesting = \"nested\"\nprimary_key = \"id\"\n"
        ))
        .unwrap();
        let app = config.source("app").unwrap();
        assert!(app.resources["todos"].push_only);
        // Nothing to pull: no run of it is due on any trigger.
        assert_eq!(app.pulled_resources().count(), 0);
        assert!(!app.is_due("0 * * * *"));
        // Without a version_column (and no cursor to borrow), the push's load time decides.
        assert_eq!(
            app.resources["todos"]
                .merge
                .as_ref()
                .unwrap()
                .version_column,
            "_loaded_at"
        );
        for key in [
            "path = \"/todos\"",
            "params = { a = 1 }",
            "data_selector = \"data\"",
            "incremental = { cursor_path = \"u\", param = \"u\" }",
            "paginator = { type = \"single_page\" }",
            "max_pages = 3",
        ] {
            let e = error_of(&format!("{base}{key}\n"));
            let field = key.split(' ').next().unwrap();
            assert!(
                e.starts_with(&format!(
                    "sources.app.resources.todos.{field}: a push_only resource is never pulled"
                )),
                "{e}"
            );
        }
        let e = error_of(&format!("{base}write_disposition = \"replace\"\n"));
        assert!(
            e.starts_with("sources.app.resources.todos.write_disposition: a push_only resource cannot be \"replace\""),
            "{e}"
        );
        let e = error_of("[sources.app]\nbase_url = \"https://a.b\"\n[sources.app.resources.t]\npush_only = \"yes\"\n");
        assert!(
            e.starts_with("sources.app.resources.t.push_only: expected true or false"),
            "{e}"
        );
    }

    #[test]
    fn schema_contracts_parse_and_default_to_evolve() {
        let base = "[sources.api_x]\nbase_url = \"https://api.example.com\"\n";
        for (text, contract) in [
            ("freeze", SchemaContract::Freeze),
            ("discard_value", SchemaContract::DiscardValue),
            ("evolve", SchemaContract::Evolve),
        ] {
            let config = IngestConfig::parse(&format!(
                "{base}[sources.api_x.resources.r]\nschema_contract = \"{text}\"\n"
            ))
            .unwrap();
            assert_eq!(
                config.sources["api_x"].resources["r"].schema_contract,
                contract
            );
        }
        let e = error_of(&format!(
            "{base}[sources.api_x.resources.r]\nschema_contract = \"discard_row\"\n"
        ));
        assert!(
            e.starts_with("sources.api_x.resources.r.schema_contract:"),
            "{e}"
        );
    }

    #[test]
    fn a_source_is_due_on_its_own_schedule_or_on_every_trigger() {
        let config = IngestConfig::parse(
            r#"
            [sources.hourly]
            base_url = "https://a.example.com"
            schedule = "0  * * * *"
            [sources.hourly.resources.x]
            path = "/x"
            [sources.always]
            base_url = "https://b.example.com"
            [sources.always.resources.y]
            path = "/y"
            "#,
        )
        .unwrap();
        let hourly = config.source("hourly").unwrap();
        assert!(hourly.is_due("0 * * * *"));
        assert!(!hourly.is_due("*/5 * * * *"));
        assert!(config.source("always").unwrap().is_due("*/5 * * * *"));
    }

    fn error_of(text: &str) -> String {
        IngestConfig::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn merge_resources_name_their_keys_as_columns() {
        let base = "[sources.api_x]\nbase_url = \"https://api.example.com\"\n[sources.api_x.resources.posts]\n";
        let config = IngestConfig::parse(&format!(
            "{base}write_disposition = \"merge\"\nnesting = \"nested\"\nprimary_key = [\"tenantId\", \"id\"]\nhard_delete = \"isDeleted\"\nincremental = {{ cursor_path = \"updatedAt\", param = \"since\" }}\n"
        ))
        .unwrap();
        let posts = &config.source("api_x").unwrap().resources["posts"];
        assert_eq!(
            posts.merge,
            Some(MergeKeys {
                primary_key: vec!["tenant_id".into(), "id".into()],
                version_column: "updated_at".into(),
                hard_delete_column: Some("is_deleted".into()),
                merge_key: Vec::new(),
            })
        );
        // No cursor (or a nested one): the load time decides; or the configured column.
        let config = IngestConfig::parse(&format!(
            "{base}write_disposition = \"merge\"\nnesting = \"nested\"\nprimary_key = \"id\"\n"
        ))
        .unwrap();
        let merge = config.source("api_x").unwrap().resources["posts"]
            .merge
            .clone();
        assert_eq!(merge.unwrap().version_column, "_loaded_at");
        let config = IngestConfig::parse(&format!(
            "{base}write_disposition = \"merge\"\nnesting = \"nested\"\nprimary_key = \"id\"\nversion_column = \"rev\"\n"
        ))
        .unwrap();
        let merge = config.source("api_x").unwrap().resources["posts"]
            .merge
            .clone();
        assert_eq!(merge.unwrap().version_column, "rev");
    }

    #[test]
    fn a_merge_key_is_one_column_or_a_list_normalized() {
        let base = "[sources.api_x]\nbase_url = \"https://api.example.com\"\n[sources.api_x.resources.posts]\n";
        let merge = "write_disposition = \"merge\"\nnesting = \"nested\"\nprimary_key = \"id\"\n";
        let merge_key = |text: &str| {
            IngestConfig::parse(&format!("{base}{merge}{text}"))
                .unwrap()
                .source("api_x")
                .unwrap()
                .resources["posts"]
                .merge
                .clone()
                .unwrap()
                .merge_key
        };
        assert_eq!(merge_key("merge_key = \"tenantId\"\n"), ["tenant_id"]);
        assert_eq!(
            merge_key("merge_key = [\"tenantId\", \"Day\"]\n"),
            ["tenant_id", "day"]
        );
        assert!(merge_key("").is_empty());
        for bad in [
            "merge_key = []\n",
            "merge_key = 3\n",
            "merge_key = [\"\"]\n",
        ] {
            let e = error_of(&format!("{base}{merge}{bad}"));
            assert!(
                e.starts_with("sources.api_x.resources.posts.merge_key: expected"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn merge_needs_a_primary_key_and_nested_rows() {
        let base = "[sources.api_x]\nbase_url = \"https://api.example.com\"\n[sources.api_x.resources.posts]\n";
        let e = error_of(&format!(
            "{base}write_disposition = \"merge\"\nnesting = \"nested\"\n"
        ));
        assert!(e.starts_with("sources.api_x.resources.posts.primary_key: write_disposition = \"merge\" needs a primary_key"), "{e}");
        let e = error_of(&format!(
            "{base}write_disposition = \"merge\"\nprimary_key = \"id\"\n"
        ));
        assert!(
            e.starts_with("sources.api_x.resources.posts.nesting:"),
            "{e}"
        );
        for (field, value) in [("hard_delete", "deleted"), ("merge_key", "day")] {
            let e = error_of(&format!("{base}{field} = \"{value}\"\n"));
            let want = format!("sources.api_x.resources.posts.{field}: only applies");
            assert!(e.starts_with(&want), "{e}");
        }
    }

    #[test]
    fn errors_name_the_offending_key() {
        let base = "[sources.api_x]\nbase_url = \"https://api.example.com\"\n";
        let e = error_of(&format!(
            "{base}[sources.api_x.resources.posts]\npaginator = {{ type = \"pages\" }}\n"
        ));
        assert!(e.starts_with("sources.api_x.resources.posts.paginator.type: unknown paginator \"pages\"; expected one of single_page"), "{e}");
        let e = error_of(&format!(
            "{base}[sources.api_x.resources.posts]\nwrite_disposition = \"upsert\"\n"
        ));
        assert!(
            e.starts_with(
                "sources.api_x.resources.posts.write_disposition: unknown value \"upsert\""
            ),
            "{e}"
        );
        let e = error_of(&format!(
            "{base}[sources.api_x.resources.posts]\npth = \"/p\"\n"
        ));
        assert!(
            e.starts_with("sources.api_x.resources.posts.pth: unknown key"),
            "{e}"
        );
        let e = error_of(&format!(
            "{base}[sources.api_x.resources.posts]\ndata_selector = \"a..b\"\n"
        ));
        assert!(
            e.starts_with("sources.api_x.resources.posts.data_selector: invalid path"),
            "{e}"
        );
        let e = error_of(&format!(
            "{base}auth = {{ type = \"bearer\" }}\n[sources.api_x.resources.p]\n"
        ));
        assert_eq!(e, "sources.api_x.auth.secret: missing");
        let e = error_of("[sources.Api]\nbase_url = \"https://a.b\"\n[sources.Api.resources.p]\n");
        assert!(e.starts_with("sources.Api: name \"Api\" must match"), "{e}");
        let e = error_of("[sources.a]\nbase_url = \"ftp://a.b\"\n[sources.a.resources.p]\n");
        assert!(
            e.starts_with("sources.a.base_url: must be an http(s) URL"),
            "{e}"
        );
        let e = error_of(&format!(
            "{base}[sources.api_x.resources.p.incremental]\ncursor_path = \"u\"\n"
        ));
        assert_eq!(e, "sources.api_x.resources.p.incremental.param: missing");
    }
}
