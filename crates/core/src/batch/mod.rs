//! The queue batch: a batch of queue messages (R2 event notifications) turned into Iceberg
//! commits, what the convert Worker does per batch, without the Worker; and replay, which sends
//! notification-shaped messages again.
//!
//! - [`plan`]: classify the messages (convert, grouped by table; or decided at once) and decide
//!   each one's fate from what became of its raw key.
//! - [`run`]: one batch end to end: HEAD the objects, convert each table in one snapshot, decide,
//!   write error records.
//! - [`report`]: the batch log line and each message's disposition; [`note`]: the log lines
//!   about single messages.
//! - [`redelivery`]: how long the queue waits before a retried message comes back.
//! - [`replay`]: which raw objects or error records to send to the queue again.

pub mod note;
pub mod plan;
pub mod redelivery;
pub mod replay;
pub mod report;
pub mod run;

pub use note::Note;
pub use plan::Incoming;
pub use redelivery::RedeliveryDelay;
pub use report::{BatchError, BatchReport, BatchTable, Disposition};
pub use run::{run_batch, BatchSettings};
