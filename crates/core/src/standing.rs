//! Where a raw object stands with its table: held (the ledger says its rows are in), superseded
//! (an object of a replace load older than the table's), recorded (an error record says why it
//! was not converted), or unaccounted (none of these: a lost notification, or one still on its
//! way). The reconciliation sweep queues the unaccounted; the audit lists them.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::io::FileIO;
use iceberg::spec::TableMetadata;
use serde::Serialize;

use crate::catalog::{CatalogError, RestCatalog};
use crate::commit::ledger::{Ledger, LedgerError, TableHoldings};
use crate::convert::reader::ObjectReader;
use crate::raw::error_record::ErrorIndex;
use crate::raw::footer::LoadFooter;
use crate::raw::key::TableName;
use crate::raw::object::RawObjectId;
use crate::storage::{ObjectMeta, ObjectStore, StorageError};

/// A raw object's standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "standing")]
pub enum Standing {
    Held,
    Superseded { load: String, by_load: String },
    Recorded,
    Unaccounted,
}

/// What the sweep and the audit need to know about one table, for the raw objects they examine.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    /// `None` when the table does not exist (yet).
    pub metadata: Option<TableMetadata>,
    pub metadata_location: Option<String>,
    /// Which of the examined objects the table holds (its ledger is asked once for them all,
    /// reading only their days' segments).
    pub holdings: TableHoldings,
    /// The replace load the table's rows come from, if any.
    pub replace_load: Option<String>,
}

impl TableState {
    /// The table's state as far as `objects` go; a table that does not exist holds nothing.
    pub async fn load(
        catalog: &RestCatalog,
        file_io: &FileIO,
        table: &TableName,
        objects: &[&ObjectMeta],
    ) -> Result<Self, StandingError> {
        let loaded = match catalog.load_table(&table.to_ident()).await {
            Ok(loaded) => loaded,
            Err(CatalogError::TableNotFound { .. }) => return Ok(Self::default()),
            Err(e) => return Err(e.into()),
        };
        let ledger = Ledger::load(file_io, &loaded.metadata).await?;
        let ids: Vec<RawObjectId> = objects.iter().map(|o| object_id(o)).collect();
        Ok(Self {
            holdings: ledger.holdings(file_io, &ids).await?,
            replace_load: ledger.replace_load().map(str::to_string),
            metadata_location: loaded.metadata_location,
            metadata: Some(loaded.metadata),
        })
    }
}

/// The states of the tables of a page of raw objects, each loaded once for its objects.
#[derive(Debug, Default)]
pub struct TableStates {
    loaded: HashMap<String, Arc<TableState>>,
}

impl TableStates {
    pub async fn load(
        catalog: &RestCatalog,
        file_io: &FileIO,
        objects: &[(TableName, &ObjectMeta)],
    ) -> Result<Self, StandingError> {
        let mut by_table: HashMap<String, (&TableName, Vec<&ObjectMeta>)> = HashMap::new();
        for (table, object) in objects {
            by_table
                .entry(table.to_string())
                .or_insert_with(|| (table, Vec::new()))
                .1
                .push(object);
        }
        let mut loaded = HashMap::new();
        for (name, (table, objects)) in by_table {
            let state = TableState::load(catalog, file_io, table, &objects).await?;
            loaded.insert(name, Arc::new(state));
        }
        Ok(Self { loaded })
    }

    /// The state of `table` (one of those loaded).
    pub fn get(&self, table: &TableName) -> Arc<TableState> {
        self.loaded
            .get(&table.to_string())
            .cloned()
            .unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StandingError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Ledger(Box<LedgerError>),
}

impl From<LedgerError> for StandingError {
    fn from(err: LedgerError) -> Self {
        StandingError::Ledger(Box::new(err))
    }
}

impl StandingError {
    pub fn is_transient(&self) -> bool {
        match self {
            StandingError::Catalog(e) => e.is_transient(),
            StandingError::Storage(e) => !matches!(e, StorageError::Denied { .. }),
            StandingError::Ledger(e) => e.is_transient(),
        }
    }
}

fn object_id(object: &ObjectMeta) -> RawObjectId {
    RawObjectId {
        key: object.key.clone(),
        etag: object.etag.clone(),
    }
}

/// The standing of `object` in `state`. Footers are read only for objects the table does not
/// hold while it has a replace load (to tell a superseded part from a missing one).
pub async fn standing_of(
    raw: &Arc<dyn ObjectStore>,
    object: &ObjectMeta,
    state: &TableState,
    errors: &mut ErrorIndex<'_>,
) -> Result<Standing, StandingError> {
    if state.holdings.contains(&object_id(object)) {
        return Ok(Standing::Held);
    }
    if let Some(by_load) = &state.replace_load {
        if let Some(load) = replace_load_of(raw, object).await {
            if load < *by_load {
                return Ok(Standing::Superseded {
                    load,
                    by_load: by_load.clone(),
                });
            }
        }
    }
    if errors
        .recorded(&object.key, &object.etag, object.last_modified_ms)
        .await?
    {
        return Ok(Standing::Recorded);
    }
    Ok(Standing::Unaccounted)
}

/// The load a raw object belongs to, from its footer (`None`: not part of a load, or unreadable:
/// the converter will say why).
pub async fn load_of(raw: &Arc<dyn ObjectStore>, object: &ObjectMeta) -> Option<LoadFooter> {
    let mut reader = ObjectReader::new(raw.clone(), object.key.clone(), object.size);
    let footer = reader.load_footer().await.ok()?;
    LoadFooter::read(footer.file_metadata().key_value_metadata()).ok()
}

async fn replace_load_of(raw: &Arc<dyn ObjectStore>, object: &ObjectMeta) -> Option<String> {
    load_of(raw, object)
        .await?
        .replace_load()
        .map(str::to_string)
}
