//! A table committer's state in its Durable Object's SQLite storage: survives eviction, restarts
//! and deploys, so pending objects and an attempt whose answer was lost are never forgotten.

use icepipe_core::committer::handoff::{HandoffObject, ObjectState};
use icepipe_core::committer::pacing::Pacer;
use icepipe_core::committer::store::{CommitterStore, InFlight, StoreError, StoreResult};
use icepipe_core::raw::object::RawObjectId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{SqlStorage, SqlStorageValue};

const SCHEMA: &[&str] = &[
    // One row per handed-over slice; `body` is the HandoffObject's JSON (data file entries).
    "CREATE TABLE IF NOT EXISTS pending (key TEXT NOT NULL, etag TEXT NOT NULL, slice INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (key, etag, slice))",
    "CREATE TABLE IF NOT EXISTS decisions (key TEXT NOT NULL, etag TEXT NOT NULL, state TEXT NOT NULL, decided_ms INTEGER NOT NULL, PRIMARY KEY (key, etag))",
    "CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (decided_ms)",
    // Small named values: the in-flight attempt, the pacer, the table's name, counters.
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

const IN_FLIGHT: &str = "in_flight";
const PACER: &str = "pacer";

#[derive(Debug, Clone)]
pub struct SqlCommitterStore {
    sql: SqlStorage,
}

#[derive(Deserialize)]
struct Body {
    body: String,
}

#[derive(Deserialize)]
struct DecisionRow {
    state: String,
    decided_ms: f64,
}

#[derive(Deserialize)]
struct MetaRow {
    value: String,
}

impl SqlCommitterStore {
    pub fn open(sql: SqlStorage) -> StoreResult<Self> {
        let store = Self { sql };
        for statement in SCHEMA {
            store.exec("create the committer's tables", statement, vec![])?;
        }
        Ok(store)
    }

    fn exec(
        &self,
        operation: &'static str,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> StoreResult<worker::SqlCursor> {
        self.sql.exec(query, bindings).map_err(|e| StoreError {
            operation,
            reason: e.to_string(),
        })
    }

    fn rows<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> StoreResult<Vec<T>> {
        self.exec(operation, query, bindings)?
            .to_array()
            .map_err(|e| StoreError {
                operation,
                reason: e.to_string(),
            })
    }

    /// A named JSON value of the `meta` table.
    pub fn get_meta<T: DeserializeOwned>(&self, name: &str) -> StoreResult<Option<T>> {
        let rows: Vec<MetaRow> = self.rows(
            "read a value",
            "SELECT value FROM meta WHERE name = ?",
            vec![name.into()],
        )?;
        rows.first()
            .map(|row| serde_json::from_str(&row.value).map_err(|e| corrupt("read a value", e)))
            .transpose()
    }

    pub fn set_meta<T: Serialize>(&self, name: &str, value: Option<&T>) -> StoreResult<()> {
        match value {
            Some(value) => {
                let json = serde_json::to_string(value).map_err(|e| corrupt("write a value", e))?;
                self.exec(
                    "write a value",
                    "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                    vec![name.into(), json.into()],
                )?;
            }
            None => {
                self.exec(
                    "delete a value",
                    "DELETE FROM meta WHERE name = ?",
                    vec![name.into()],
                )?;
            }
        }
        Ok(())
    }
}

fn corrupt(operation: &'static str, e: serde_json::Error) -> StoreError {
    StoreError {
        operation,
        reason: format!("stored JSON is unreadable: {e}"),
    }
}

fn id_bindings(id: &RawObjectId) -> Vec<SqlStorageValue> {
    vec![id.key.clone().into(), id.etag.clone().into()]
}

impl CommitterStore for SqlCommitterStore {
    fn pending(&self) -> StoreResult<Vec<HandoffObject>> {
        let rows: Vec<Body> = self.rows(
            "read pending objects",
            "SELECT body FROM pending ORDER BY key, etag, slice",
            vec![],
        )?;
        rows.iter()
            .map(|row| {
                serde_json::from_str(&row.body).map_err(|e| corrupt("read pending objects", e))
            })
            .collect()
    }

    fn put_pending(&self, slice: &HandoffObject) -> StoreResult<()> {
        let body = serde_json::to_string(slice).map_err(|e| corrupt("keep a slice", e))?;
        let mut bindings = id_bindings(&slice.id);
        bindings.push(i64::from(slice.slice.index).into());
        bindings.push(body.into());
        self.exec(
            "keep a slice",
            "INSERT OR REPLACE INTO pending (key, etag, slice, body) VALUES (?, ?, ?, ?)",
            bindings,
        )?;
        Ok(())
    }

    fn remove_pending(&self, id: &RawObjectId) -> StoreResult<()> {
        self.exec(
            "drop an object's slices",
            "DELETE FROM pending WHERE key = ? AND etag = ?",
            id_bindings(id),
        )?;
        Ok(())
    }

    fn decision(&self, id: &RawObjectId) -> StoreResult<Option<(ObjectState, i64)>> {
        let rows: Vec<DecisionRow> = self.rows(
            "read a decision",
            "SELECT state, decided_ms FROM decisions WHERE key = ? AND etag = ?",
            id_bindings(id),
        )?;
        rows.first()
            .map(|row| {
                serde_json::from_str(&row.state)
                    .map(|state| (state, row.decided_ms as i64))
                    .map_err(|e| corrupt("read a decision", e))
            })
            .transpose()
    }

    fn put_decision(&self, id: &RawObjectId, state: &ObjectState, now_ms: i64) -> StoreResult<()> {
        let json = serde_json::to_string(state).map_err(|e| corrupt("record a decision", e))?;
        let mut bindings = id_bindings(id);
        bindings.push(json.into());
        bindings.push(now_ms.into());
        self.exec(
            "record a decision",
            "INSERT OR REPLACE INTO decisions (key, etag, state, decided_ms) VALUES (?, ?, ?, ?)",
            bindings,
        )?;
        Ok(())
    }

    fn forget_decision(&self, id: &RawObjectId) -> StoreResult<()> {
        self.exec(
            "forget a decision",
            "DELETE FROM decisions WHERE key = ? AND etag = ?",
            id_bindings(id),
        )?;
        Ok(())
    }

    fn forget_decisions_before(&self, before_ms: i64) -> StoreResult<()> {
        self.exec(
            "forget old decisions",
            "DELETE FROM decisions WHERE decided_ms < ?",
            vec![before_ms.into()],
        )?;
        Ok(())
    }

    fn in_flight(&self) -> StoreResult<Option<InFlight>> {
        self.get_meta(IN_FLIGHT)
    }

    fn set_in_flight(&self, attempt: Option<&InFlight>) -> StoreResult<()> {
        self.set_meta(IN_FLIGHT, attempt)
    }

    fn pacer(&self) -> StoreResult<Pacer> {
        Ok(self.get_meta(PACER)?.unwrap_or_default())
    }

    fn set_pacer(&self, pacer: &Pacer) -> StoreResult<()> {
        self.set_meta(PACER, Some(pacer))
    }
}
