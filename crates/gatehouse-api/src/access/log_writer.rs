//! Group commit for the access log. Decisions queue their entries; one writer
//! task takes everything queued, numbers and seals each entry onto its
//! tenant's chain, writes the whole batch in one transaction and only then
//! answers every waiting decision. While a batch commits the next one
//! gathers, so the durable-write rate follows the disk's commit rate while
//! the decision rate follows the load.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use gatehouse_access::chain::{ChainHead, ChainKey, LogRecord};
use gatehouse_domain::TenantId;
use gatehouse_store::{CredentialUse, Store};
use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, ApiResult};
use crate::identity::keys::KeyRing;

#[derive(Debug, Clone, Copy)]
pub struct LogWriterConfig {
    /// Most entries one transaction carries.
    pub batch_entries_max: usize,
    /// Entries waiting for a commit before new decisions are told to retry.
    pub queue_entries_max: usize,
}

impl Default for LogWriterConfig {
    fn default() -> Self {
        LogWriterConfig { batch_entries_max: 2_048, queue_entries_max: 65_536 }
    }
}

struct Job {
    record: LogRecord,
    used: Option<CredentialUse>,
    reply: oneshot::Sender<Result<LogRecord, ApiError>>,
}

/// The handle decisions append through.
#[derive(Clone)]
pub struct AccessLogWriter {
    jobs: mpsc::Sender<Job>,
}

impl AccessLogWriter {
    pub fn spawn(store: Arc<dyn Store>, keys: Arc<KeyRing>, config: LogWriterConfig) -> AccessLogWriter {
        let (jobs, queue) = mpsc::channel(config.queue_entries_max.max(1));
        tokio::spawn(Writer { store, keys, heads: HashMap::new(), chain_keys: HashMap::new(), config }.run(queue));
        AccessLogWriter { jobs }
    }

    /// Appends an entry (its `seq`, `prev_hash` and `hash` are filled in here) and returns it
    /// sealed once it is durable. `used` marks a single-use credential used in the same transaction.
    pub async fn append(&self, record: LogRecord, used: Option<CredentialUse>) -> ApiResult<LogRecord> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .try_send(Job { record, used, reply })
            .map_err(|_| ApiError::unavailable("the access log is not keeping up; retry shortly"))?;
        answer.await.map_err(|_| ApiError::unavailable("the access log writer stopped"))?
    }
}

struct Writer {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    heads: HashMap<TenantId, ChainHead>,
    chain_keys: HashMap<TenantId, ChainKey>,
    config: LogWriterConfig,
}

impl Writer {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(self.config.batch_entries_max);
        while queue.recv_many(&mut jobs, self.config.batch_entries_max).await > 0 {
            self.commit(&mut jobs).await;
            jobs.clear();
        }
    }

    async fn commit(&mut self, jobs: &mut Vec<Job>) {
        let started = Instant::now();
        // Seal in queue order; a tenant whose head cannot be read fails alone.
        let mut batch = Vec::with_capacity(jobs.len());
        let mut sealed_jobs = Vec::with_capacity(jobs.len());
        for mut job in jobs.drain(..) {
            let tenant = job.record.tenant_id;
            let mut head = match self.head(tenant).await {
                Ok(head) => head,
                Err(err) => {
                    let _ = job.reply.send(Err(err));
                    continue;
                }
            };
            let keys = &self.keys;
            self.chain_keys.entry(tenant).or_insert_with(|| keys.chain_key(tenant)).seal(&mut head, &mut job.record);
            self.heads.insert(tenant, head);
            batch.push(job.record.clone());
            sealed_jobs.push(job);
        }
        if sealed_jobs.is_empty() {
            return;
        }
        let uses: Vec<CredentialUse> = sealed_jobs.iter().filter_map(|job| job.used).collect();
        match self.store.access_log_append(&batch, &uses).await {
            Ok(()) => {
                metrics::histogram!("gatehouse_access_log_batch_entries").record(batch.len() as f64);
                metrics::histogram!("gatehouse_access_log_commit_seconds").record(started.elapsed().as_secs_f64());
                for (job, record) in sealed_jobs.into_iter().zip(batch) {
                    let _ = job.reply.send(Ok(record));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, entries = batch.len(), "could not write access log entries");
                metrics::counter!("gatehouse_access_log_failed_batches_total").increment(1);
                // The heads advanced in memory for entries that were not written: read them again.
                for job in &sealed_jobs {
                    self.heads.remove(&job.record.tenant_id);
                }
                for job in sealed_jobs {
                    let _ = job
                        .reply
                        .send(Err(ApiError::unavailable("the access log could not be written; the decision was not made")));
                }
            }
        }
    }

    async fn head(&mut self, tenant: TenantId) -> ApiResult<ChainHead> {
        if let Some(head) = self.heads.get(&tenant) {
            return Ok(*head);
        }
        let head = self.store.access_log_head(tenant).await?;
        self.heads.insert(tenant, head);
        Ok(head)
    }
}
