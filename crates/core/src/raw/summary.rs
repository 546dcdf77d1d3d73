//! The snapshot summary properties icepipe writes into every snapshot it commits (and the table
//! property its ledger keeps): the part of the table that remembers which raw objects and which
//! replace load it holds.

/// Snapshot summary property and table property: the path of the ledger index as of that
/// snapshot (summary) or as of the newest commit (table property, which survives snapshot
/// expiry); see [`crate::commit::ledger`].
pub const LEDGER_PROPERTY: &str = "icepipe.ledger";
/// How many raw objects a snapshot added (the ledger's delta of that commit names them).
pub const ADDED_OBJECTS_PROPERTY: &str = "icepipe.raw-objects-added";
/// The first ledger format: the JSON list of raw objects (key and eTag) whose rows a snapshot
/// added. Nothing writes it any more; tables that have it are migrated by the ledger.
pub const RAW_OBJECTS_PROPERTY: &str = "icepipe.raw-objects";
/// The replace load the table's rows come from after the snapshot (see
/// [`crate::commit::replace`]).
pub const REPLACE_LOAD_PROPERTY: &str = "icepipe.replace-load-id";

/// Table property naming a merge table's tombstone file (keys deleted, with their versions), so
/// that an older upsert arriving after a delete does not bring the key back.
pub const TOMBSTONES_PROPERTY: &str = "icepipe.merge.tombstones";
/// Table property naming a merge table's group tombstone file (merge-key groups replaced, with
/// the version of the load that last replaced each), so that an older load of a group arriving
/// after a newer one changes nothing.
pub const GROUP_TOMBSTONES_PROPERTY: &str = "icepipe.merge.group-tombstones";
