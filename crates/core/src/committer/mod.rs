//! The commit coordinator: how data files written by many converters become snapshots of a table,
//! exactly once, within the catalog's rate limits (R2 Data Catalog: 20 commits per table and 120
//! writes per catalog per minute).
//!
//! Converters never write to the catalog themselves. They hand what they wrote to the table's
//! committer ([`Committer`]), which keeps it ([`store`]) and commits every ready object in one
//! snapshot per round ([`table::TableCommitter`]), paced per table ([`pacing`]) and inside the
//! catalog-wide budget ([`budget`], behind a [`gate::WriteGate`]). Table creation and schema
//! changes go through it too, so one writer per table assigns field ids.
//!
//! - In the convert Worker, each table's committer is a Durable Object and the budget is another
//!   (crates/convert); consumers talk to them in the JSON of [`handoff`].
//! - In the CLI, [`local::LocalCommitter`] runs the same committers in process.

pub mod budget;
pub mod error;
pub mod gate;
pub mod handoff;
pub mod local;
pub mod pacing;
pub mod protocol;
pub mod status;
pub mod store;
pub mod table;

use async_trait::async_trait;
use iceberg::spec::Schema;
use iceberg::TableIdent;

use crate::catalog::CreateTable;
use crate::raw::footer::MergeKeys;
use crate::raw::object::{RawObject, RawObjectId};
pub use error::CommitterError;
pub use handoff::{HandoffObject, MergeOutcome, ObjectReport, ObjectState, Slice, Submitted};

/// What a converter asks of the committer of the tables it writes to.
#[async_trait]
pub trait Committer: Send + Sync + std::fmt::Debug {
    /// Where each object stands before it is converted (decided, pending, or unknown).
    async fn lookup(
        &self,
        table: &TableIdent,
        ids: &[RawObjectId],
    ) -> Result<Vec<ObjectReport>, CommitterError>;

    /// Creates the table if it is missing (the caller loads it afterwards).
    async fn create_table(
        &self,
        table: &TableIdent,
        create: CreateTable,
    ) -> Result<(), CommitterError>;

    /// Makes `proposed` part of the table's current schema (new columns, widened types) before
    /// data files are written with it (the caller loads the table afterwards).
    async fn evolve_schema(
        &self,
        table: &TableIdent,
        proposed: &Schema,
    ) -> Result<(), CommitterError>;

    /// Hands written slices over and waits (bounded) for their objects, and for the objects in
    /// `waiting` (pending already), to be decided; objects still pending when the wait ends are
    /// reported as [`ObjectState::Pending`].
    async fn submit(
        &self,
        table: &TableIdent,
        slices: Vec<HandoffObject>,
        waiting: &[RawObjectId],
    ) -> Result<Submitted, CommitterError>;

    /// Waits (bounded) for pending objects to be decided, handing nothing new over.
    async fn wait(
        &self,
        table: &TableIdent,
        ids: &[RawObjectId],
    ) -> Result<Submitted, CommitterError> {
        self.submit(table, Vec::new(), ids).await
    }

    /// Applies one `merge` object to the table (one overwrite snapshot, prepared on the table
    /// as it is at each attempt; see [`crate::merge`]), or answers that the table holds it.
    async fn merge(
        &self,
        table: &TableIdent,
        object: &RawObject,
        keys: &MergeKeys,
    ) -> Result<MergeOutcome, CommitterError>;

    /// A slice of `id` failed for good: nothing of the object may be committed.
    async fn fail(
        &self,
        table: &TableIdent,
        id: &RawObjectId,
        reason: &str,
    ) -> Result<(), CommitterError>;
}
