//! The JSON a consumer sends to a table's coordinator (a Durable Object) and what comes back,
//! including errors, which keep their kind across the wire so the consumer decides the same way
//! it would in process (retry after, reject, convert again).

use iceberg::spec::Schema;
use iceberg::TableIdent;
use serde::{Deserialize, Serialize};

use super::budget::WriteKind;
use super::error::CommitterError;
use super::handoff::HandoffObject;
use crate::catalog::CreateTable;
use crate::raw::footer::MergeKeys;
use crate::raw::object::RawObjectId;

/// One request to a table's coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CommitterRequest {
    Lookup {
        table: TableIdent,
        ids: Vec<RawObjectId>,
    },
    CreateTable {
        table: TableIdent,
        create: Box<CreateTable>,
    },
    EvolveSchema {
        table: TableIdent,
        schema: Box<Schema>,
    },
    /// Hands slices over; answers once every named object is decided or `wait_ms` has passed.
    Submit {
        table: TableIdent,
        slices: Vec<HandoffObject>,
        #[serde(default)]
        waiting: Vec<RawObjectId>,
        wait_ms: u64,
    },
    Fail {
        table: TableIdent,
        id: RawObjectId,
        reason: String,
    },
    /// Pending objects, pace and counters, for `GET /tables`.
    Status { table: TableIdent },
    /// One bounded maintenance step (a commit, or the orphan sweep once nothing is left to
    /// commit); answers the step's report, or `null` when the table needs nothing.
    Maintain {
        table: TableIdent,
        #[serde(default)]
        dry_run: bool,
    },
    /// Applies one merge object of the raw bucket (see [`crate::merge`]); answers its
    /// [`super::MergeOutcome`].
    Merge {
        table: TableIdent,
        object: MergeObject,
        keys: MergeKeys,
    },
}

/// The raw object a [`CommitterRequest::Merge`] applies (the coordinator reads it from the raw
/// bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeObject {
    pub key: String,
    pub etag: String,
    pub size: u64,
    pub created_ms: i64,
}

impl CommitterRequest {
    pub fn table(&self) -> &TableIdent {
        match self {
            CommitterRequest::Lookup { table, .. }
            | CommitterRequest::CreateTable { table, .. }
            | CommitterRequest::EvolveSchema { table, .. }
            | CommitterRequest::Submit { table, .. }
            | CommitterRequest::Fail { table, .. }
            | CommitterRequest::Status { table }
            | CommitterRequest::Maintain { table, .. }
            | CommitterRequest::Merge { table, .. } => table,
        }
    }
}

/// A reservation asked of the catalog's budget coordinator.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ReserveRequest {
    pub kind: WriteKind,
}

/// The slot granted: the write may be sent from `at_ms` on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ReserveReply {
    pub at_ms: i64,
}

/// A [`CommitterError`] as it crosses the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    pub kind: WireErrorKind,
    pub message: String,
    pub transient: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireErrorKind {
    Deferred,
    IncompatibleSchema,
    /// Anything else: the catalog, storage, the coordinator itself.
    Other,
}

impl WireError {
    pub fn from_error(error: &CommitterError) -> Self {
        let kind = match error {
            CommitterError::Deferred { .. } => WireErrorKind::Deferred,
            CommitterError::IncompatibleSchema { .. } => WireErrorKind::IncompatibleSchema,
            _ => WireErrorKind::Other,
        };
        Self {
            kind,
            message: error.to_string(),
            transient: error.is_transient(),
            retry_after_seconds: error.retry_after_seconds(),
        }
    }

    /// The error on the consumer's side, for `table`.
    pub fn into_error(self, table: &TableIdent) -> CommitterError {
        let table = table.to_string();
        match self.kind {
            WireErrorKind::Deferred => CommitterError::Deferred {
                table,
                retry_after_seconds: self.retry_after_seconds.unwrap_or(60),
                reason: self.message,
            },
            WireErrorKind::IncompatibleSchema => CommitterError::IncompatibleSchema {
                table,
                reason: self.message,
            },
            WireErrorKind::Other if self.transient => CommitterError::Unavailable {
                table,
                reason: self.message,
            },
            WireErrorKind::Other => CommitterError::Refused {
                table,
                reason: self.message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableIdent {
        TableIdent::from_strs(["analytics", "shop", "orders"]).unwrap()
    }

    #[test]
    fn requests_are_tagged_by_operation() {
        let request = CommitterRequest::Submit {
            table: table(),
            slices: vec![],
            waiting: vec![],
            wait_ms: 5_000,
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["op"], "submit");
        let back: CommitterRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back.table(), &table());
    }

    #[test]
    fn errors_keep_their_kind_and_wait_across_the_wire() {
        let deferred = CommitterError::Deferred {
            table: "analytics.shop.orders".into(),
            retry_after_seconds: 60,
            reason: "HTTP 429".into(),
        };
        let wire = WireError::from_error(&deferred);
        let json = serde_json::to_string(&wire).unwrap();
        let back: WireError = serde_json::from_str(&json).unwrap();
        let error = back.into_error(&table());
        assert!(error.is_transient());
        assert_eq!(error.retry_after_seconds(), Some(60));

        let refused = CommitterError::Refused {
            table: "t".into(),
            reason: "HTTP 403".into(),
        };
        let error = WireError::from_error(&refused).into_error(&table());
        assert!(!error.is_transient());
    }
}
