//! Where a raw object stands with its table: held (the ledger says its rows are in), superseded
//! (an object of a replace load older than the table's), recorded (an error record says why it
//! was not converted), or unaccounted (none of these: a lost notification, or one still on its
//! way). The reconciliation sweep queues the unaccounted; the audit lists them.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::spec::TableMetadata;
use serde::Serialize;

use crate::catalog::{CatalogError, RestCatalog};
use crate::commit::ledger::TableHoldings;
use crate::commit::replace::current_replace_load;
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

/// What the sweep and the audit need to know about one table.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    /// `None` when the table does not exist (yet).
    pub metadata: Option<TableMetadata>,
    pub metadata_location: Option<String>,
    pub holdings: TableHoldings,
    /// The replace load the table's rows come from, if any.
    pub replace_load: Option<String>,
}

impl TableState {
    pub async fn load(catalog: &RestCatalog, table: &TableName) -> Result<Self, CatalogError> {
        match catalog.load_table(&table.to_ident()).await {
            Ok(loaded) => Ok(Self {
                holdings: TableHoldings::of(Some(&loaded.metadata)),
                replace_load: current_replace_load(&loaded.metadata),
                metadata_location: loaded.metadata_location,
                metadata: Some(loaded.metadata),
            }),
            Err(CatalogError::TableNotFound { .. }) => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }
}

/// Table states loaded once per run.
#[derive(Debug)]
pub struct TableStates<'a> {
    catalog: &'a RestCatalog,
    loaded: HashMap<String, Arc<TableState>>,
}

impl<'a> TableStates<'a> {
    pub fn new(catalog: &'a RestCatalog) -> Self {
        Self {
            catalog,
            loaded: HashMap::new(),
        }
    }

    pub async fn get(&mut self, table: &TableName) -> Result<Arc<TableState>, CatalogError> {
        let name = table.to_string();
        if let Some(state) = self.loaded.get(&name) {
            return Ok(state.clone());
        }
        let state = Arc::new(TableState::load(self.catalog, table).await?);
        self.loaded.insert(name, state.clone());
        Ok(state)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StandingError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl StandingError {
    pub fn is_transient(&self) -> bool {
        match self {
            StandingError::Catalog(e) => e.is_transient(),
            StandingError::Storage(e) => !matches!(e, StorageError::Denied { .. }),
        }
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
    let id = RawObjectId {
        key: object.key.clone(),
        etag: object.etag.clone(),
    };
    if state.holdings.holds(&id) {
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
