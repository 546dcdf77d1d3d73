//! The snapshot summary properties icepipe writes into every snapshot it commits: the part of
//! the table that remembers which raw objects and which replace load it holds.

/// The JSON list of raw objects (key and eTag) whose rows a snapshot added: the exactly-once
/// ledger (see [`crate::commit::ledger`]).
pub const RAW_OBJECTS_PROPERTY: &str = "icepipe.raw-objects";
/// The replace load the table's rows come from after the snapshot (see
/// [`crate::commit::replace`]).
pub const REPLACE_LOAD_PROPERTY: &str = "icepipe.replace-load-id";
