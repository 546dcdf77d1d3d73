//! The first ledger's format, read for migration: each snapshot's summary listed the raw objects
//! it added (`icepipe.raw-objects`), checked over the current ancestry. Nothing writes it any more.

use iceberg::spec::Snapshot;

use crate::raw::object::RawObjectId;
use crate::raw::summary::RAW_OBJECTS_PROPERTY;

/// The raw objects a snapshot's summary names in the first ledger format.
pub fn summary_objects(snapshot: &Snapshot) -> Vec<RawObjectId> {
    snapshot
        .summary()
        .additional_properties
        .get(RAW_OBJECTS_PROPERTY)
        // A summary we cannot parse was not written by us; it holds nothing we know of.
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}
