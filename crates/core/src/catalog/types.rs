//! Request and response bodies of the Iceberg REST spec, on top of the `iceberg` crate's spec types.

use std::collections::HashMap;
use std::fmt;

use iceberg::spec::{Schema, SortOrder, TableMetadata, UnboundPartitionSpec};
use iceberg::{NamespaceIdent, TableIdent, TableRequirement, TableUpdate};
use serde::{Deserialize, Serialize};

/// A table as the catalog returned it (load or create).
#[derive(Clone)]
pub struct LoadedTable {
    /// Absent only for staged creates, which this client never asks for.
    pub metadata_location: Option<String>,
    pub metadata: TableMetadata,
    /// Table-level client config from the catalog (may hold vended storage credentials).
    pub config: HashMap<String, String>,
}

impl fmt::Debug for LoadedTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `config` may carry vended credentials: print its keys only.
        let mut config_keys: Vec<&String> = self.config.keys().collect();
        config_keys.sort();
        f.debug_struct("LoadedTable")
            .field("metadata_location", &self.metadata_location)
            .field("metadata", &self.metadata)
            .field("config_keys", &config_keys)
            .finish()
    }
}

/// What to create. No location: the catalog chooses it (R2 and SeaweedFS lay tables out differently).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateTable {
    pub schema: Schema,
    pub partition_spec: Option<UnboundPartitionSpec>,
    pub write_order: Option<SortOrder>,
    pub properties: HashMap<String, String>,
}

impl CreateTable {
    pub fn new(schema: Schema) -> Self {
        Self {
            schema,
            partition_spec: None,
            write_order: None,
            properties: HashMap::new(),
        }
    }
}

/// The new state after a successful commit.
#[derive(Clone, Debug)]
pub struct CommitResult {
    pub metadata_location: String,
    pub metadata: TableMetadata,
}

// ---- wire types (crate-private) ----

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ConfigResponse {
    #[serde(default)]
    pub defaults: HashMap<String, String>,
    #[serde(default)]
    pub overrides: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    /// Seconds; absent means "no known expiry".
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// `{"error":"invalid_client","error_description":"..."}` (RFC 6749 section 5.2).
#[derive(Debug, Deserialize)]
pub(crate) struct OAuthErrorResponse {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// `{"error":{"message","type","code"}}` (the REST spec's ErrorModel).
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorResponse {
    pub error: ErrorModel,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorModel {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct CreateNamespaceRequest<'a> {
    pub namespace: &'a NamespaceIdent,
    pub properties: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ListNamespacesResponse {
    pub namespaces: Vec<NamespaceIdent>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ListTablesResponse {
    pub identifiers: Vec<TableIdent>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct CreateTableRequest<'a> {
    pub name: &'a str,
    pub schema: &'a Schema,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_spec: Option<&'a UnboundPartitionSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_order: Option<&'a SortOrder>,
    pub stage_create: bool,
    pub properties: &'a HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct LoadTableResponse {
    #[serde(default)]
    pub metadata_location: Option<String>,
    pub metadata: TableMetadata,
    #[serde(default)]
    pub config: Option<HashMap<String, String>>,
}

impl From<LoadTableResponse> for LoadedTable {
    fn from(r: LoadTableResponse) -> Self {
        LoadedTable {
            metadata_location: r.metadata_location,
            metadata: r.metadata,
            config: r.config.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct CommitTableRequest<'a> {
    pub identifier: &'a TableIdent,
    pub requirements: &'a [TableRequirement],
    pub updates: &'a [TableUpdate],
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct CommitTableResponse {
    pub metadata_location: String,
    pub metadata: TableMetadata,
}
