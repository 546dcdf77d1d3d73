//! Iceberg v2 position deletes: a delete file lists (`file_path`, `pos`) pairs, each the
//! 0-based ordinal of a deleted row in a data file, sorted by path then position. A delete file
//! applies to a data file of the same partition whose data sequence number is not above its own
//! (the spec's rule, so a data file added later is never hidden by an older delete file).
//!
//! Merge-on-read writes them ([`write`]); every icepipe path that reads data files applies them
//! ([`read`]): the merge scan skips deleted rows, compaction drops them and removes the delete
//! files it applied. Equality deletes (other engines') are not applied: callers refuse them.

pub mod read;
pub mod write;

pub use read::{live_mask, DeletedRows};
pub use write::{write_delete_manifests, write_position_deletes, NewDeleteFile};

/// Reserved field ids of a position delete file's columns (Iceberg spec, "Position Delete Files").
pub const FILE_PATH_FIELD_ID: i32 = 2_147_483_546;
pub const POS_FIELD_ID: i32 = 2_147_483_545;
