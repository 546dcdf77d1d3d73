//! The convert Worker's commit coordination on Durable Objects: one `TableCommitterObject` per
//! table (the only writer of its table), one `CatalogBudget` per catalog, and the consumer's
//! client of both. The decisions are the core's (`icepipe_core::committer`).

pub mod budget_object;
pub mod client;
pub mod sql_store;
pub mod table_object;
