//! Encodes the leaf columns of a row group: natively across the machine's cores (each Parquet
//! column writer is independent: its values, dictionary, pages and compression), on wasm32 one
//! after another (a Worker has one thread).
//!
//! Natively a batch is encoded in the background while the caller decodes the next one
//! ([`RowGroupColumns::submit`]): the caller's thread keeps one core, the others encode (on 2
//! cores: one decodes, one encodes). At most one batch is in flight. Closing a row group (last
//! pages, dictionaries) uses every core. Work is handed out a column at a time from a shared
//! queue, so a heavy column (free text) and several light ones (ints) balance across threads
//! without a cost model.

use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn};
use parquet::errors::{ParquetError, Result};

/// The column writers of the open row group.
pub struct RowGroupColumns {
    writers: Vec<ArrowColumnWriter>,
    /// `writers.len()`, also while the writers are away encoding.
    columns: usize,
    #[cfg(not(target_arch = "wasm32"))]
    in_flight: Option<std::thread::JoinHandle<(Vec<ArrowColumnWriter>, Result<()>)>>,
    /// Encoded size of what is written so far, as of the last finished batch.
    estimated_bytes: usize,
}

impl RowGroupColumns {
    pub fn new(writers: Vec<ArrowColumnWriter>) -> Self {
        Self {
            columns: writers.len(),
            writers,
            #[cfg(not(target_arch = "wasm32"))]
            in_flight: None,
            estimated_bytes: 0,
        }
    }

    /// Encodes one batch's leaves (`leaves[i]` to column `i`) once the previous batch is done
    /// (its error, if any, is returned here): in the background natively, right away with one
    /// thread (wasm32, or `ICEPIPE_ENCODE_THREADS=1`).
    pub fn submit(&mut self, leaves: Vec<ArrowLeafColumn>) -> Result<()> {
        if leaves.len() != self.columns {
            return Err(ParquetError::General(format!(
                "batch has {} leaf columns, the file {}",
                leaves.len(),
                self.columns
            )));
        }
        self.finish_in_flight()?;
        #[cfg(not(target_arch = "wasm32"))]
        if threads() > 1 {
            let mut writers = std::mem::take(&mut self.writers);
            self.in_flight = Some(std::thread::spawn(move || {
                let result = write_leaves(&mut writers, &leaves, threads() - 1);
                (writers, result)
            }));
            return Ok(());
        }
        let result = write_leaves(&mut self.writers, &leaves, 1);
        self.estimated_bytes = estimate(&self.writers);
        result
    }

    /// The encoded size of the row group once every submitted batch is encoded (waits for it).
    pub fn settled_bytes(&mut self) -> Result<usize> {
        self.finish_in_flight()?;
        Ok(self.estimated_bytes)
    }

    /// The encoded size as of the last finished batch, without waiting.
    pub fn last_known_bytes(&self) -> usize {
        self.estimated_bytes
    }

    /// Closes every column (its last page and dictionary get encoded and compressed here).
    pub fn close(mut self) -> Result<Vec<ArrowColumnChunk>> {
        self.finish_in_flight()?;
        for_each(self.writers, ArrowColumnWriter::close, threads())
            .into_iter()
            .collect()
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn finish_in_flight(&mut self) -> Result<()> {
        let Some(handle) = self.in_flight.take() else {
            return Ok(());
        };
        let (writers, result) = handle
            .join()
            .map_err(|_| ParquetError::General("the column encoding thread panicked".into()))?;
        self.writers = writers;
        self.estimated_bytes = estimate(&self.writers);
        result
    }

    #[cfg(target_arch = "wasm32")]
    fn finish_in_flight(&mut self) -> Result<()> {
        Ok(())
    }
}

fn estimate(writers: &[ArrowColumnWriter]) -> usize {
    writers
        .iter()
        .map(ArrowColumnWriter::get_estimated_total_bytes)
        .sum()
}

/// Writes `leaves[i]` to `writers[i]` on up to `threads` threads.
fn write_leaves(
    writers: &mut [ArrowColumnWriter],
    leaves: &[ArrowLeafColumn],
    threads: usize,
) -> Result<()> {
    debug_assert_eq!(writers.len(), leaves.len());
    let jobs: Vec<_> = writers.iter_mut().zip(leaves).collect();
    for_each(jobs, |(writer, leaf)| writer.write(leaf), threads)
        .into_iter()
        .collect()
}

/// `job` applied to every item on up to `threads` threads (the calling one included), results
/// in the items' order.
#[cfg(not(target_arch = "wasm32"))]
fn for_each<T: Send, R: Send>(
    items: Vec<T>,
    job: impl Fn(T) -> R + Sync,
    threads: usize,
) -> Vec<R> {
    use std::sync::Mutex;

    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.into_iter().map(job).collect();
    }
    let count = items.len();
    let queue = Mutex::new(items.into_iter().enumerate());
    let results = Mutex::new((0..count).map(|_| None).collect::<Vec<Option<R>>>());
    let work = || loop {
        // The lock is held only to take the next item, never while encoding.
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
        let Some((index, item)) = next else { break };
        let result = job(item);
        results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(result);
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|result| result.expect("every queued column was encoded"))
        .collect()
}

/// A Worker has one thread.
#[cfg(target_arch = "wasm32")]
fn threads() -> usize {
    1
}

#[cfg(target_arch = "wasm32")]
fn for_each<T, R>(items: Vec<T>, job: impl Fn(T) -> R, _threads: usize) -> Vec<R> {
    items.into_iter().map(job).collect()
}

/// Threads to encode with: the cores this process may use (`ICEPIPE_ENCODE_THREADS` overrides,
/// e.g. 1 to measure the single-threaded path the Worker runs).
#[cfg(not(target_arch = "wasm32"))]
fn threads() -> usize {
    use std::sync::OnceLock;

    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("ICEPIPE_ENCODE_THREADS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}
