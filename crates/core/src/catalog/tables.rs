//! Walking a namespace tree and summarizing tables: `icepipe tables` and the Worker's `GET /tables`.

use iceberg::{NamespaceIdent, TableIdent};
use serde::Serialize;

use super::{CatalogError, LoadedTable, RestCatalog};

impl RestCatalog {
    /// `root` and every namespace below it (every namespace when `root` is `None`), parents first.
    pub async fn list_namespaces_under(
        &self,
        root: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>, CatalogError> {
        let mut found: Vec<NamespaceIdent> = root.into_iter().cloned().collect();
        let mut queue: Vec<Option<NamespaceIdent>> = vec![root.cloned()];
        while let Some(parent) = queue.pop() {
            for child in self.list_namespaces(parent.as_ref()).await? {
                // Some catalogs answer a parent query with the parent itself or unrelated levels.
                if Some(&child) == parent.as_ref() || found.contains(&child) {
                    continue;
                }
                found.push(child.clone());
                queue.push(Some(child));
            }
        }
        Ok(found)
    }

    /// Every table in `root` and the namespaces below it (every table when `root` is `None`).
    /// A missing `root` has no tables.
    pub async fn list_tables_under(
        &self,
        root: Option<&NamespaceIdent>,
    ) -> Result<Vec<TableIdent>, CatalogError> {
        let namespaces = match self.list_namespaces_under(root).await {
            Err(CatalogError::NamespaceNotFound { .. }) => return Ok(Vec::new()),
            other => other?,
        };
        let mut tables = Vec::new();
        for namespace in &namespaces {
            match self.list_tables(namespace).await {
                Ok(found) => tables.extend(found),
                // Dropped between the two listings.
                Err(CatalogError::NamespaceNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(tables)
    }
}

/// A table at a glance: its current snapshot and the totals of that snapshot's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSummary {
    pub table: String,
    pub metadata_location: Option<String>,
    pub current_snapshot_id: Option<i64>,
    pub snapshot_count: usize,
    /// `total-data-files`, `total-records` and `total-files-size` of the current snapshot.
    pub data_files: u64,
    pub rows: u64,
    pub bytes: u64,
    pub last_updated_ms: i64,
    /// Why the table could not be loaded (its other fields are then empty): one broken table is
    /// reported, not allowed to fail the listing of the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_error: Option<String>,
}

impl TableSummary {
    pub fn of(table: &TableIdent, loaded: &LoadedTable) -> TableSummary {
        let metadata = &loaded.metadata;
        let total = |name: &str| {
            metadata
                .current_snapshot()
                .and_then(|s| s.summary().additional_properties.get(name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        TableSummary {
            table: format!("{}.{}", table.namespace().join("."), table.name()),
            metadata_location: loaded.metadata_location.clone(),
            current_snapshot_id: metadata.current_snapshot_id(),
            snapshot_count: metadata.snapshots().count(),
            data_files: total("total-data-files"),
            rows: total("total-records"),
            bytes: total("total-files-size"),
            last_updated_ms: metadata.last_updated_ms(),
            load_error: None,
        }
    }

    /// A table listed but not loadable, with the reason.
    pub fn unloadable(table: &TableIdent, error: &CatalogError) -> TableSummary {
        TableSummary {
            table: format!("{}.{}", table.namespace().join("."), table.name()),
            metadata_location: None,
            current_snapshot_id: None,
            snapshot_count: 0,
            data_files: 0,
            rows: 0,
            bytes: 0,
            last_updated_ms: 0,
            load_error: Some(error.to_string()),
        }
    }
}

/// Whether loading a table failed for a reason no other table would escape (credentials the
/// catalog refuses, no such warehouse): then a listing fails; otherwise it reports that table.
pub fn fails_every_table(error: &CatalogError) -> bool {
    matches!(
        error,
        CatalogError::Unauthorized { .. } | CatalogError::WarehouseNotFound { .. }
    )
}

impl RestCatalog {
    /// Loads and summarizes every table under `root`; a table that cannot be loaded is listed
    /// with its reason ([`TableSummary::load_error`]): a table whose metadata nothing can read
    /// (or that the catalog fails to serve) never hides the others. Only credentials the
    /// catalog refuses fail the whole listing.
    pub async fn summarize_tables_under(
        &self,
        root: Option<&NamespaceIdent>,
    ) -> Result<Vec<TableSummary>, CatalogError> {
        let mut summaries = Vec::new();
        for ident in self.list_tables_under(root).await? {
            match self.load_table(&ident).await {
                Ok(loaded) => summaries.push(TableSummary::of(&ident, &loaded)),
                // Dropped since the listing.
                Err(CatalogError::TableNotFound { .. }) => {}
                Err(e) if fails_every_table(&e) => return Err(e),
                Err(e) => summaries.push(TableSummary::unloadable(&ident, &e)),
            }
        }
        Ok(summaries)
    }
}

#[cfg(test)]
mod tests {
    use iceberg::spec::TableMetadata;

    use super::*;

    const METADATA: &str = r#"{
      "format-version": 2,
      "table-uuid": "9c12d441-03fe-4693-9a96-a0705ddf69c1",
      "location": "s3://warehouse/analytics/shop/orders",
      "last-sequence-number": 2,
      "last-updated-ms": 1795549004379,
      "last-column-id": 1,
      "current-schema-id": 0,
      "schemas": [{"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "required": false, "type": "long"}]}],
      "default-spec-id": 0,
      "partition-specs": [{"spec-id": 0, "fields": []}],
      "last-partition-id": 999,
      "default-sort-order-id": 0,
      "sort-orders": [{"order-id": 0, "fields": []}],
      "properties": {},
      "current-snapshot-id": 2,
      "refs": {"main": {"snapshot-id": 2, "type": "branch"}},
      "snapshots": [
        {"snapshot-id": 1, "sequence-number": 1, "timestamp-ms": 1795549000000, "manifest-list": "s3://warehouse/m1.avro",
         "summary": {"operation": "append", "total-data-files": "1", "total-records": "10", "total-files-size": "100"}, "schema-id": 0},
        {"snapshot-id": 2, "parent-snapshot-id": 1, "sequence-number": 2, "timestamp-ms": 1795549004379, "manifest-list": "s3://warehouse/m2.avro",
         "summary": {"operation": "append", "total-data-files": "3", "total-records": "30", "total-files-size": "345"}, "schema-id": 0}
      ],
      "snapshot-log": [],
      "metadata-log": []
    }"#;

    #[test]
    fn summarizes_the_current_snapshot() {
        let metadata: TableMetadata = serde_json::from_str(METADATA).unwrap();
        let loaded = LoadedTable {
            metadata_location: Some("s3://warehouse/m.json".into()),
            metadata,
            config: Default::default(),
        };
        let ident = TableIdent::from_strs(["analytics", "shop", "orders"]).unwrap();
        let summary = TableSummary::of(&ident, &loaded);
        assert_eq!(
            summary,
            TableSummary {
                table: "analytics.shop.orders".into(),
                metadata_location: Some("s3://warehouse/m.json".into()),
                current_snapshot_id: Some(2),
                snapshot_count: 2,
                data_files: 3,
                rows: 30,
                bytes: 345,
                last_updated_ms: 1_795_549_004_379,
                load_error: None,
            }
        );
        let serialized = serde_json::to_value(&summary).unwrap();
        assert!(serialized.get("load_error").is_none(), "{serialized}");
        let error = CatalogError::InvalidResponse {
            uri: "http://catalog".into(),
            warehouse: "w".into(),
            operation: "load table a.t".into(),
            reason: "partition spec day(_loaded_at) of a string".into(),
        };
        assert!(!fails_every_table(&error));
        let broken = TableSummary::unloadable(&TableIdent::from_strs(["a", "t"]).unwrap(), &error);
        assert_eq!(broken.table, "a.t");
        assert_eq!(broken.load_error, Some(error.to_string()));
    }
}
