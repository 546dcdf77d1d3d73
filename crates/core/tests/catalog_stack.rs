//! The REST catalog client against a real catalog (the local SeaweedFS stack).
//!
//! Needs `ICEPIPE_CATALOG_URI`, `ICEPIPE_WAREHOUSE` and `ICEPIPE_CATALOG_CREDENTIAL` (`id:secret`);
//! without them every test panics, so a missing stack can never pass silently.
#![cfg(feature = "native")]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use iceberg::spec::{NestedField, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec};
use iceberg::{NamespaceIdent, TableIdent, TableRequirement, TableUpdate};
use icepipe_core::catalog::{CatalogAuth, CatalogConfig, CatalogError, CreateTable, RestCatalog};
use icepipe_core::clock::SystemClock;
use icepipe_core::http::ReqwestHttpClient;

struct Stack {
    uri: String,
    warehouse: String,
    client_id: String,
    client_secret: String,
}

mod support;

fn stack() -> Stack {
    let var = support::env;
    let credential = var("ICEPIPE_CATALOG_CREDENTIAL");
    let (client_id, client_secret) = credential
        .split_once(':')
        .expect("ICEPIPE_CATALOG_CREDENTIAL must be id:secret");
    Stack {
        uri: var("ICEPIPE_CATALOG_URI"),
        warehouse: var("ICEPIPE_WAREHOUSE"),
        client_id: client_id.to_string(),
        client_secret: client_secret.to_string(),
    }
}

impl Stack {
    fn config(&self) -> CatalogConfig {
        CatalogConfig {
            uri: self.uri.clone(),
            warehouse: self.warehouse.clone(),
            auth: CatalogAuth::ClientCredentials {
                client_id: self.client_id.clone(),
                client_secret: self.client_secret.clone(),
                scope: None,
            },
        }
    }

    async fn connect(&self, config: CatalogConfig) -> Result<RestCatalog, CatalogError> {
        RestCatalog::connect(
            Arc::new(ReqwestHttpClient::with_timeout(Duration::from_secs(10))),
            Arc::new(SystemClock),
            config,
        )
        .await
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

fn schema() -> Schema {
    Schema::builder()
        .with_fields(vec![
            NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
            NestedField::optional(2, "ts", Type::Primitive(PrimitiveType::Timestamptz)).into(),
            NestedField::optional(3, "name", Type::Primitive(PrimitiveType::String)).into(),
        ])
        .build()
        .unwrap()
}

#[tokio::test]
async fn table_lifecycle_against_the_stack() {
    let stack = stack();
    let catalog = stack.connect(stack.config()).await.expect("connect");
    assert!(
        catalog.prefix().is_some(),
        "the stack's catalog routes by prefix"
    );

    let top = unique("icepipe_test");
    let namespace = NamespaceIdent::from_strs([top.as_str(), "events"]).unwrap();
    catalog.ensure_namespace(&namespace).await.unwrap();
    // Idempotent.
    catalog.ensure_namespace(&namespace).await.unwrap();
    let top_ns = NamespaceIdent::new(top.clone());
    let children = catalog.list_namespaces(Some(&top_ns)).await.unwrap();
    assert!(children.contains(&namespace), "{children:?}");
    let all = catalog.list_namespaces(None).await.unwrap();
    assert!(all.contains(&top_ns), "{all:?}");

    let table = TableIdent::new(namespace.clone(), "clicks".into());
    let create = CreateTable {
        schema: schema(),
        partition_spec: Some(
            UnboundPartitionSpec::builder()
                .add_partition_field(2, "ts_day", Transform::Day)
                .unwrap()
                .build(),
        ),
        write_order: None,
        properties: HashMap::from([("icepipe.test".to_string(), "yes".to_string())]),
    };
    let created = catalog.create_table(&table, create.clone()).await.unwrap();
    let metadata_location = created
        .metadata_location
        .clone()
        .expect("metadata location");
    assert!(
        metadata_location.starts_with(created.metadata.location()),
        "{metadata_location} outside {}",
        created.metadata.location()
    );
    let spec = created.metadata.default_partition_spec();
    assert_eq!(spec.fields().len(), 1);
    assert_eq!(spec.fields()[0].transform, Transform::Day);
    assert_eq!(created.metadata.properties()["icepipe.test"], "yes");
    assert_eq!(created.metadata.current_snapshot_id(), None);

    // Creating again (a concurrent creator) returns the same table.
    let again = catalog.create_table(&table, create).await.unwrap();
    assert_eq!(again.metadata.uuid(), created.metadata.uuid());

    let loaded = catalog.load_table(&table).await.unwrap();
    assert_eq!(loaded.metadata.uuid(), created.metadata.uuid());
    assert_eq!(
        loaded.metadata_location.as_deref(),
        Some(metadata_location.as_str())
    );

    let committed = catalog
        .commit_table(
            &table,
            vec![TableRequirement::UuidMatch {
                uuid: created.metadata.uuid(),
            }],
            vec![TableUpdate::SetProperties {
                updates: HashMap::from([("icepipe.commit".to_string(), "1".to_string())]),
            }],
        )
        .await
        .unwrap();
    assert_ne!(committed.metadata_location, metadata_location);
    assert_eq!(committed.metadata.properties()["icepipe.commit"], "1");

    let err = catalog
        .commit_table(
            &table,
            vec![TableRequirement::RefSnapshotIdMatch {
                r#ref: "main".into(),
                snapshot_id: Some(42),
            }],
            vec![TableUpdate::SetProperties {
                updates: HashMap::from([("icepipe.commit".to_string(), "2".to_string())]),
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CatalogError::CommitConflict { .. }),
        "{err:?}"
    );
    eprintln!("stale commit: {err}");

    let tables = catalog.list_tables(&namespace).await.unwrap();
    assert_eq!(tables, std::slice::from_ref(&table));

    catalog.drop_table(&table, true).await.unwrap();
    let err = catalog.load_table(&table).await.unwrap_err();
    assert!(matches!(err, CatalogError::TableNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn wrong_warehouse_is_reported_as_such() {
    let stack = stack();
    let config = CatalogConfig {
        warehouse: format!("s3://{}", unique("nosuchbucket").replace('_', "-")),
        ..stack.config()
    };
    let warehouse = config.warehouse.clone();
    let err = stack.connect(config).await.unwrap_err();
    eprintln!("wrong warehouse: {err}");
    assert!(
        matches!(err, CatalogError::WarehouseNotFound { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&warehouse));
    assert!(err.to_string().contains(&stack.uri));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn wrong_secret_is_unauthorized() {
    let stack = stack();
    let config = CatalogConfig {
        auth: CatalogAuth::ClientCredentials {
            client_id: stack.client_id.clone(),
            client_secret: "not-the-secret".into(),
            scope: None,
        },
        ..stack.config()
    };
    let err = stack.connect(config).await.unwrap_err();
    eprintln!("wrong secret: {err}");
    assert!(matches!(err, CatalogError::Unauthorized { .. }), "{err:?}");
    assert!(!err.to_string().contains("not-the-secret"));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn garbage_static_token_is_unauthorized() {
    let stack = stack();
    let config = CatalogConfig {
        auth: CatalogAuth::Token("not-a-token".into()),
        ..stack.config()
    };
    let err = stack.connect(config).await.unwrap_err();
    eprintln!("garbage token: {err}");
    assert!(matches!(err, CatalogError::Unauthorized { .. }), "{err:?}");
}
