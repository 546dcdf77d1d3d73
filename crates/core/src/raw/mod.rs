//! The raw bucket's contract: what the ingest writes and the converter reads. Both depend on
//! this module, never on each other.
//!
//! - [`key`]: `sources/<source>/<resource>/year=YYYY/month=MM/day=DD/<name>.parquet`, formatted
//!   and parsed, and the table a key names (`<root>.<source>.<resource>`).
//! - [`columns`]: icepipe's own columns (`_loaded_at`, `_load_id`, `_row_id`, ...) and the
//!   types raw files must give them.
//! - [`limits`]: the Parquet settings for wide files (memory per column).
//! - [`reserved`]: the reserved prefixes `_state/`, `_state/events/` and `_errors/`, and their keys.
//! - [`footer`]: the load a file belongs to (`load_id`, [`footer::WriteDisposition`]), in its
//!   Parquet footer.
//! - [`object`]: a raw object and its identity (key and eTag).
//! - [`notification`]: the R2 event notification that hands a raw object to the converter, and
//!   icepipe's continuation messages for one [`slice`] of an object too large for one invocation.
//! - [`error_record`]: the record of a raw object that could not be converted.
//! - [`summary`]: the snapshot summary properties that remember which raw objects a table holds.

pub mod columns;
pub mod error_record;
pub mod footer;
pub mod key;
pub mod limits;
pub mod notification;
pub mod object;
pub mod reserved;
pub mod slice;
pub mod summary;
