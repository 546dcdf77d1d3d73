//! `icepipe ingest`: run a declarative API source (config/sources.toml) natively and land its
//! records as Parquet in the raw bucket over S3, as the ingest Worker does.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use icepipe_core::clock::{Clock, SystemClock};
use icepipe_core::http::retry::RetryPolicy;
use icepipe_core::http::{HttpClient, ReqwestHttpClient};
use icepipe_core::ingest::load::LoadLimits;
use icepipe_core::ingest::{run_source, Fetcher, IngestConfig, IngestContext, RunReport, Secrets};
use icepipe_core::storage::s3::S3Resolver;
use icepipe_core::storage::StoreResolver;

use crate::error::CliError;
use crate::settings::Connection;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Source definitions (TOML).
    #[arg(long, default_value = "config/sources.toml")]
    config: PathBuf,
    /// The source to run.
    #[arg(long)]
    source: String,
    /// Only this resource (default: all of the source's resources).
    #[arg(long)]
    resource: Option<String>,
    /// Bucket the Parquet files and the incremental state go to.
    #[arg(long, env = "ICEPIPE_RAW_BUCKET", default_value = "raw")]
    raw_bucket: String,
    /// Send the source's requests to this base URL instead (a local sample API, a test server).
    #[arg(long)]
    base_url_override: Option<String>,
    /// Estimated buffered MiB at which a Parquet part is written.
    #[arg(long, default_value_t = 64)]
    part_mib: usize,
    /// Print the run report as JSON.
    #[arg(long)]
    json: bool,
}

/// Secrets named in the config, read from environment variables of the same name.
#[derive(Debug)]
struct EnvSecrets;

impl Secrets for EnvSecrets {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Exit codes: 0 every resource loaded, 3 some failed, 1 all failed (or nothing could start).
pub async fn run(connection: &Connection, args: &IngestArgs) -> Result<ExitCode, CliError> {
    let path = args.config.display().to_string();
    let text = std::fs::read_to_string(&args.config).map_err(|source| CliError::File {
        path: path.clone(),
        source,
    })?;
    let config = IngestConfig::parse(&text).map_err(|source| CliError::Sources {
        path: path.clone(),
        source,
    })?;
    let mut source = config
        .source(&args.source)
        .map_err(|e| CliError::usage(e.to_string()))?
        .clone();
    if let Some(url) = &args.base_url_override {
        source = source
            .with_base_url(url)
            .map_err(|e| CliError::usage(e.to_string()))?;
    }

    let http: Arc<dyn HttpClient> = Arc::new(ReqwestHttpClient::with_timeout(Duration::from_secs(
        connection.http_timeout,
    )));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let resolver = S3Resolver::new(connection.s3_config()?, http.clone(), clock.clone());
    let store = resolver.store_for_bucket(&args.raw_bucket)?;
    let ctx = IngestContext {
        fetcher: Fetcher {
            http,
            clock,
            retry: RetryPolicy::api_default(),
        },
        store: store.clone(),
        secrets: Arc::new(EnvSecrets),
        limits: LoadLimits::with_part_bytes(args.part_mib.max(1) * 1024 * 1024),
    };
    let report = run_source(&ctx, &source, args.resource.as_deref()).await?;

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a run report serializes")
        );
    } else {
        print_report(&report, |key| store.describe(key));
    }
    let failed = report
        .resources
        .iter()
        .filter(|r| r.error.is_some())
        .count();
    Ok(match failed {
        0 => ExitCode::SUCCESS,
        n if n == report.resources.len() => ExitCode::from(1),
        _ => ExitCode::from(3),
    })
}

fn print_report(report: &RunReport, describe: impl Fn(&str) -> String) {
    println!(
        "{} (load {}): {} resource(s), {} failed, {} ms",
        report.source,
        report.load_id,
        report.resources.len(),
        report.errors.len(),
        report.duration_ms
    );
    for resource in &report.resources {
        let cursor = resource
            .cursor
            .as_ref()
            .map(|c| format!(", cursor {c}"))
            .unwrap_or_default();
        // Records an earlier run already loaded (at or before the stored cursor).
        let skipped = match resource.skipped {
            0 => String::new(),
            n => format!(", {n} already loaded"),
        };
        println!(
            "  {}: {} page(s), {} record(s) received, {} row(s) landed{skipped}, {} file(s){cursor}",
            resource.resource,
            resource.pages,
            resource.received,
            resource.rows,
            resource.files.len()
        );
        for (table, rows) in resource
            .tables
            .iter()
            .filter(|(t, _)| **t != resource.resource)
        {
            println!("    child table {table}: {rows} row(s) landed");
        }
        for key in &resource.files {
            println!("    {}", describe(key));
        }
        if let Some(error) = &resource.error {
            println!("    FAILED: {error}");
        }
    }
}
