//! `icepipe`: the icepipe core on the command line: conversions larger than a Worker takes,
//! inspection, and (later) replay and maintenance.

mod audit_cmd;
mod convert_cmd;
mod error;
mod generate_cmd;
mod ingest_cmd;
mod local_store;
mod reconcile_cmd;
mod settings;
mod tables_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "icepipe",
    version,
    about = "Raw Parquet to Apache Iceberg tables through a REST catalog"
)]
struct Cli {
    #[command(flatten)]
    connection: settings::Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert raw Parquet objects (local paths, s3://bucket/key, or s3://bucket/prefix/) into
    /// Iceberg tables, one snapshot per table.
    Convert(convert_cmd::ConvertArgs),
    /// List tables with their snapshots.
    Tables(tables_cmd::TablesArgs),
    /// Pull a declarative API source (config/sources.toml) into the raw bucket as Parquet.
    Ingest(ingest_cmd::IngestArgs),
    /// Write a deterministic raw Parquet file (demos, memory checks, benchmarks).
    Generate(generate_cmd::GenerateArgs),
    /// Find raw objects that no table holds and no error record explains (lost notifications)
    /// and convert them.
    Reconcile(reconcile_cmd::ReconcileArgs),
    /// Check, per table, that every raw object is accounted for and that manifests and data
    /// files agree; exit 2 when something is off.
    Audit(audit_cmd::AuditArgs),
}

/// Exit codes: 0 done, 1 failed (nothing committed for the failing table), 3 partly done
/// (`--skip-invalid` left objects out; they are listed on stderr).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Convert(args) => convert_cmd::run(&cli.connection, args).await,
        Command::Tables(args) => tables_cmd::run(&cli.connection, args).await,
        Command::Generate(args) => generate_cmd::run(args),
        Command::Ingest(args) => ingest_cmd::run(&cli.connection, args).await,
        Command::Reconcile(args) => reconcile_cmd::run(&cli.connection, args).await,
        Command::Audit(args) => audit_cmd::run(&cli.connection, args).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("icepipe: {error}");
            ExitCode::from(1)
        }
    }
}
