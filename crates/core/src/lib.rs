//! icepipe core: everything that is not runtime glue. Builds natively and for wasm32.
//!
//! The modules follow the pipeline, API -> raw bucket -> queue -> Iceberg table:
//!
//! - The seams to the outside world, implemented natively here and by the Workers in
//!   `icepipe-edge`: [`http`] (requests, and the one retry policy for HTTP), [`storage`] (object
//!   stores: S3, memory, and the Iceberg `FileIO` over them), [`clock`].
//! - The raw contract, [`raw`]: what the ingest writes and the converter reads (key layout,
//!   reserved keys, Parquet footer, notifications, error records, summary properties).
//! - [`ingest`]: declarative HTTP API sources and pushed events to raw Parquet (runs, pushes,
//!   pagination, JSON to Arrow, incremental state).
//! - The Iceberg side: [`catalog`] (REST catalog client), [`schema`] (Arrow to Iceberg mapping,
//!   safe evolution, conforming batches), [`commit`] (manifests, snapshot, the exactly-once commit
//!   attempt, and the table outcome shared by commit, convert and batch), [`committer`] (the only
//!   writer of a table: pending objects, paced and budgeted commit rounds, exactly once).
//! - [`convert`]: raw Parquet objects to data files of one table, committed in one snapshot.
//! - [`maintain`]: table maintenance through the table's committer (expire snapshots, merge
//!   manifests, compact small files, remove orphans) and table health.
//! - [`merge`]: the `merge` write disposition (primary-key upserts and deletes), copy-on-write,
//!   one overwrite snapshot per merge object through the table's committer.
//! - [`batch`]: the queue side of the convert Worker (a batch of notifications becomes commits,
//!   error records and retries; replay), runtime-agnostic.
//! - Every raw object accounted for: [`standing`] (where a raw object stands with its table:
//!   held, superseded, recorded or unaccounted), [`reconcile`] (the sweep that sends on what
//!   notifications lost) and [`audit`] (per table, raw objects against ledger, manifests and files).
//!
//! Each module uses only modules above it in this list (no import cycles, at module or file level):
//! `ingest` and `convert` never use each other; what they share is `raw`.

pub mod clock;
pub mod http;
pub mod storage;

pub mod raw;

pub mod ingest;

pub mod catalog;
pub mod commit;
pub mod committer;
pub mod schema;

pub mod convert;
pub mod deletes;
pub mod maintain;
pub mod merge;

pub mod batch;

pub mod audit;
pub mod reconcile;
pub mod standing;
