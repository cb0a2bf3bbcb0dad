//! Group commit for the access log. Decisions queue their entries; one writer
//! task takes everything queued, numbers and seals each entry onto its
//! tenant's chain, writes the whole batch in one transaction and only then
//! answers every waiting decision. While a batch commits the next one
//! gathers, so the durable-write rate follows the disk's commit rate while
//! the decision rate follows the load.
//!
//! An entry that must be written with other changes (an operator's unlock and
//! its commands) is sealed by the same task, so the chain heads it keeps stay
//! right, and written in a transaction of its own between the batches before
//! and after it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use gatehouse_access::chain::{ChainHead, ChainKey, LogRecord};
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::devices::Command;
use gatehouse_domain::TenantId;
use gatehouse_store::{CommandToQueue, CredentialUse, DeviceMessageKey, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::error::{ServiceError, ServiceResult};
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
    work: Work,
}

/// What became of an entry.
enum Appended {
    Written(Box<LogRecord>),
    /// The device message it came from is already in the log: it was not written again.
    AlreadyLogged,
}

/// What is written with an entry, and where its answer goes.
enum Work {
    /// Group-committed with the other entries of its batch; `used` marks a single-use credential
    /// used; `message` is the device message it came from, written once whatever the deliveries.
    Entry { used: Option<CredentialUse>, message: Option<DeviceMessageKey>, reply: oneshot::Sender<ServiceResult<Appended>> },
    /// Written in one transaction with the commands it records.
    WithCommands {
        commands: Vec<CommandToQueue>,
        change: ChangeContext,
        reply: oneshot::Sender<ServiceResult<(LogRecord, Vec<Command>)>>,
    },
}

impl Job {
    fn fail(self, err: ServiceError) {
        // The waiting side may have gone (a dropped request): then nobody is told.
        match self.work {
            Work::Entry { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Work::WithCommands { reply, .. } => {
                let _ = reply.send(Err(err));
            }
        }
    }
}

/// The handle decisions append through.
#[derive(Clone)]
pub struct AccessLogWriter {
    jobs: mpsc::Sender<Job>,
    /// Counts the writer's commits: readers of the log (the event tailer) wait on it.
    commits: tokio::sync::watch::Receiver<u64>,
}

impl AccessLogWriter {
    pub fn spawn(store: Arc<dyn Store>, keys: Arc<KeyRing>, config: LogWriterConfig) -> AccessLogWriter {
        let (jobs, queue) = mpsc::channel(config.queue_entries_max.max(1));
        let (committed, commits) = tokio::sync::watch::channel(0);
        let writer =
            Writer { store, keys, heads: HashMap::new(), chain_keys: HashMap::new(), config, deferred: Vec::new(), committed };
        tokio::spawn(writer.run(queue));
        AccessLogWriter { jobs, commits }
    }

    /// Changes after every commit that wrote entries: wait on it to read what was written.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.clone()
    }

    /// Appends an entry (its `seq`, `prev_hash` and `hash` are filled in here) and returns it
    /// sealed once it is durable. `used` marks a single-use credential used in the same transaction.
    pub async fn append(&self, record: LogRecord, used: Option<CredentialUse>) -> ServiceResult<LogRecord> {
        let (reply, answer) = oneshot::channel();
        self.queue(Job { record, work: Work::Entry { used, message: None, reply } })?;
        match answer.await.map_err(|_| ServiceError::unavailable("the access log writer stopped"))?? {
            Appended::Written(record) => Ok(*record),
            Appended::AlreadyLogged => {
                Err(ServiceError::unavailable("an entry without a device message was taken for a duplicate"))
            }
        }
    }

    /// Queues an entry a device reported, waiting while the queue is full (the device
    /// is slowed, not refused), and returns what resolves once it is durable: true when
    /// written now, false when `message` (the device's id for it) was already logged.
    /// Entries are written in the order they were queued.
    pub async fn queue_reported(
        &self,
        record: LogRecord,
        message: Option<DeviceMessageKey>,
    ) -> ServiceResult<impl std::future::Future<Output = ServiceResult<bool>> + Send + 'static> {
        let (reply, answer) = oneshot::channel();
        let job = Job { record, work: Work::Entry { used: None, message, reply } };
        self.jobs.send(job).await.map_err(|_| ServiceError::unavailable("the access log writer stopped"))?;
        Ok(async move {
            match answer.await.map_err(|_| ServiceError::unavailable("the access log writer stopped"))?? {
                Appended::Written(_) => Ok(true),
                Appended::AlreadyLogged => Ok(false),
            }
        })
    }

    /// Appends an entry together with the commands it records, in one transaction: both are
    /// written or neither is. Returns the sealed entry and the commands as stored.
    pub async fn append_with_commands(
        &self,
        record: LogRecord,
        commands: Vec<CommandToQueue>,
        change: ChangeContext,
    ) -> ServiceResult<(LogRecord, Vec<Command>)> {
        let (reply, answer) = oneshot::channel();
        self.queue(Job { record, work: Work::WithCommands { commands, change, reply } })?;
        answer.await.map_err(|_| ServiceError::unavailable("the access log writer stopped"))?
    }

    fn queue(&self, job: Job) -> ServiceResult<()> {
        self.jobs.try_send(job).map_err(|_| ServiceError::unavailable("the access log is not keeping up; retry shortly"))
    }
}

struct Writer {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    heads: HashMap<TenantId, ChainHead>,
    chain_keys: HashMap<TenantId, ChainKey>,
    config: LogWriterConfig,
    /// Second deliveries of a device message whose first was in the same batch: they wait
    /// for the next, where the log says whether the first was written.
    deferred: Vec<Job>,
    committed: tokio::sync::watch::Sender<u64>,
}

impl Writer {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(self.config.batch_entries_max);
        loop {
            jobs.append(&mut self.deferred);
            if jobs.is_empty() && queue.recv_many(&mut jobs, self.config.batch_entries_max).await == 0 {
                return;
            }
            // Entries are committed in queue order: a run of plain entries as one batch,
            // each entry with commands in its own transaction between them.
            let mut batch = Vec::with_capacity(jobs.len());
            for job in jobs.drain(..) {
                match job.work {
                    Work::Entry { .. } => batch.push(job),
                    Work::WithCommands { .. } => {
                        self.commit(&mut batch).await;
                        self.commit_with_commands(job).await;
                    }
                }
            }
            self.commit(&mut batch).await;
        }
    }

    /// The job with its entry sealed onto its tenant's chain; `None` when the head could
    /// not be read (the job was told so).
    async fn seal(&mut self, mut job: Job) -> Option<Job> {
        let tenant = job.record.tenant_id;
        let mut head = match self.head(tenant).await {
            Ok(head) => head,
            Err(err) => {
                job.fail(err);
                return None;
            }
        };
        let keys = &self.keys;
        self.chain_keys.entry(tenant).or_insert_with(|| keys.chain_key(tenant)).seal(&mut head, &mut job.record);
        self.heads.insert(tenant, head);
        Some(job)
    }

    /// Answers the entries whose device message is already in the log, defers a second
    /// delivery of a message the batch already holds, and returns the rest in order.
    async fn without_duplicates(&mut self, jobs: Vec<Job>) -> Vec<Job> {
        let keys: Vec<DeviceMessageKey> = jobs
            .iter()
            .filter_map(|job| match &job.work {
                Work::Entry { message: Some(key), .. } => Some(key.clone()),
                _ => None,
            })
            .collect();
        if keys.is_empty() {
            return jobs;
        }
        // None: the look-up failed, and those entries are refused (their devices send them again).
        let seen = match self.store.device_messages_seen(&keys).await {
            Ok(seen) if seen.len() == keys.len() => Some(seen),
            Ok(_) => None,
            Err(err) => {
                tracing::error!(error = %err, "could not look up device message ids; their entries wait for a resend");
                None
            }
        };
        let mut seen = seen.map(Vec::into_iter);
        let mut in_batch = std::collections::HashSet::new();
        let mut kept = Vec::with_capacity(jobs.len());
        for job in jobs {
            let key = match &job.work {
                Work::Entry { message: Some(key), .. } => (key.tenant, key.device, key.message_id.clone()),
                _ => {
                    kept.push(job);
                    continue;
                }
            };
            let Some(logged) = seen.as_mut().and_then(Iterator::next) else {
                job.fail(ServiceError::unavailable("the access log could not be read"));
                continue;
            };
            if logged {
                metrics::counter!("gatehouse_mqtt_duplicate_messages_total", "channel" => "events").increment(1);
                if let Work::Entry { reply, .. } = job.work {
                    let _ = reply.send(Ok(Appended::AlreadyLogged));
                }
            } else if in_batch.insert(key) {
                kept.push(job);
            } else {
                self.deferred.push(job);
            }
        }
        kept
    }

    async fn commit(&mut self, jobs: &mut Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let started = Instant::now();
        let unique = self.without_duplicates(std::mem::take(jobs)).await;
        // Seal in queue order; a tenant whose head cannot be read fails alone.
        let mut batch = Vec::with_capacity(unique.len());
        let mut sealed_jobs = Vec::with_capacity(unique.len());
        for job in unique {
            let Some(job) = self.seal(job).await else { continue };
            batch.push(job.record.clone());
            sealed_jobs.push(job);
        }
        if sealed_jobs.is_empty() {
            return;
        }
        let uses: Vec<CredentialUse> = sealed_jobs
            .iter()
            .filter_map(|job| match &job.work {
                Work::Entry { used, .. } => *used,
                Work::WithCommands { .. } => None,
            })
            .collect();
        let messages: Vec<DeviceMessageKey> = sealed_jobs
            .iter()
            .filter_map(|job| match &job.work {
                Work::Entry { message, .. } => message.clone(),
                Work::WithCommands { .. } => None,
            })
            .collect();
        match self.store.access_log_append_recorded(&batch, &uses, &messages).await {
            Ok(()) => {
                metrics::histogram!("gatehouse_access_log_batch_entries").record(batch.len() as f64);
                metrics::histogram!("gatehouse_access_log_commit_seconds").record(started.elapsed().as_secs_f64());
                self.committed.send_modify(|commits| *commits += 1);
                for (job, record) in sealed_jobs.into_iter().zip(batch) {
                    if let Work::Entry { reply, .. } = job.work {
                        let _ = reply.send(Ok(Appended::Written(Box::new(record))));
                    }
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
                    job.fail(ServiceError::unavailable("the access log could not be written; the decision was not made"));
                }
            }
        }
    }

    async fn commit_with_commands(&mut self, job: Job) {
        let Some(job) = self.seal(job).await else { return };
        let Job { record, work } = job;
        let Work::WithCommands { commands, change, reply } = work else {
            unreachable!("only jobs with commands are committed here")
        };
        let tenant = record.tenant_id;
        let written = self.store.commands_create_logged(tenant, &commands, &record, &change).await;
        let answer = match written {
            Ok(created) => {
                self.committed.send_modify(|commits| *commits += 1);
                Ok((record, created))
            }
            Err(err) => {
                // The head advanced in memory for an entry that was not written: read it again.
                self.heads.remove(&tenant);
                Err(match err {
                    // The client's mistake (a device gone meanwhile): said as it is.
                    StoreError::NotFound | StoreError::Invalid(_) => ServiceError::Store(err),
                    other => {
                        tracing::error!(error = %other, "could not write an access-log entry with its commands");
                        metrics::counter!("gatehouse_access_log_failed_batches_total").increment(1);
                        ServiceError::unavailable("the access log could not be written; nothing was done")
                    }
                })
            }
        };
        let _ = reply.send(answer);
    }

    async fn head(&mut self, tenant: TenantId) -> ServiceResult<ChainHead> {
        if let Some(head) = self.heads.get(&tenant) {
            return Ok(*head);
        }
        let head = self.store.access_log_head(tenant).await?;
        self.heads.insert(tenant, head);
        Ok(head)
    }
}
