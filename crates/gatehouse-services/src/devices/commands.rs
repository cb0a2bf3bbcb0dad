//! The command dispatcher: each device's queue, sent one command at a time
//! (highest priority first, in order within one) with QoS 1, resent with
//! backoff until the device acknowledges or the command times out. Commands
//! for an offline device wait in the store and go out when it comes back,
//! unless they expire first; an expired command is never sent.
//!
//! The store holds every command's state; this task holds only what is in
//! flight, and is told of new commands, devices coming and going, and
//! acknowledgements through [`Dispatch`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use gatehouse_domain::devices::{Command, CommandStatus, DeviceStatus};
use gatehouse_domain::{CommandId, DeviceId, TenantId};
use gatehouse_mqtt::bus::{Bus, QoS};
use gatehouse_mqtt::topics::{Channel, DeviceTopic};
use gatehouse_store::{CommandOutcome, Store, StoreResult};
use serde::Deserialize;
use tokio::sync::mpsc;

/// First wait before a command is sent again; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How often sends are retried, timed out and queues checked for expiry.
const TICK: Duration = Duration::from_millis(100);

/// `…/cmd/ack`.
#[derive(Debug, Clone, Deserialize)]
pub struct CommandAck {
    pub id: CommandId,
    pub ok: bool,
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<String>,
}

enum Signal {
    Queued { tenant: TenantId, device: DeviceId },
    Online { tenant: TenantId, device: DeviceId },
    Offline { device: DeviceId },
    Ack { tenant: TenantId, device: DeviceId, ack: CommandAck, recorded: tokio::sync::oneshot::Sender<bool> },
}

/// The handle the API and the ingest tell the dispatcher through. Cheap to clone.
#[derive(Clone)]
pub struct Dispatch {
    signals: mpsc::UnboundedSender<Signal>,
}

impl Dispatch {
    /// Starts the dispatcher; it first picks up the commands left open by an earlier run.
    pub fn spawn(store: Arc<dyn Store>, bus: Bus) -> Dispatch {
        let (signals, inbox) = mpsc::unbounded_channel();
        tokio::spawn(Dispatcher { store, bus, lines: HashMap::new() }.run(inbox));
        Dispatch { signals }
    }

    pub fn queued(&self, tenant: TenantId, device: DeviceId) {
        let _ = self.signals.send(Signal::Queued { tenant, device });
    }

    pub fn online(&self, tenant: TenantId, device: DeviceId) {
        let _ = self.signals.send(Signal::Online { tenant, device });
    }

    pub fn offline(&self, device: DeviceId) {
        let _ = self.signals.send(Signal::Offline { device });
    }

    /// Hands a device's acknowledgement of a command to the dispatcher; what it returns
    /// says, once the dispatcher has recorded it, whether it was (false when it stopped).
    pub fn acknowledged(
        &self,
        tenant: TenantId,
        device: DeviceId,
        ack: CommandAck,
    ) -> impl std::future::Future<Output = bool> + Send + 'static {
        let (recorded, answer) = tokio::sync::oneshot::channel();
        let _ = self.signals.send(Signal::Ack { tenant, device, ack, recorded });
        async move { answer.await.unwrap_or(false) }
    }
}

/// One device's side of the dispatcher.
struct Line {
    tenant: TenantId,
    online: bool,
    in_flight: Option<InFlight>,
    /// Whether the store may hold queued commands for it (checked again at each expiry).
    queued: bool,
    /// When its oldest-expiring queued command expires, while it is offline.
    next_expiry: Option<chrono::DateTime<Utc>>,
}

struct InFlight {
    command: Command,
    first_sent: Instant,
    next_retry: Instant,
    backoff: Duration,
}

struct Dispatcher {
    store: Arc<dyn Store>,
    bus: Bus,
    lines: HashMap<DeviceId, Line>,
}

impl Dispatcher {
    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Signal>) {
        if let Err(err) = self.pick_up().await {
            tracing::warn!(error = %err, "could not pick up the commands of an earlier run");
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                signal = inbox.recv() => match signal {
                    Some(signal) => self.on(signal).await,
                    None => return,
                },
                _ = tick.tick() => self.tick().await,
            }
        }
    }

    /// Commands still open in the store: sent ones are resent when their device
    /// is heard from, queued ones wait for it.
    async fn pick_up(&mut self) -> StoreResult<()> {
        for tenant in self.store.device_tenants().await? {
            for command in self.store.commands_open(tenant).await? {
                let online = matches!(
                    self.store.device_get(tenant, command.device_id).await.map(|device| device.status),
                    Ok(DeviceStatus::Online | DeviceStatus::Degraded)
                );
                let line = self.line(tenant, command.device_id);
                line.queued = true;
                line.online = online;
                line.next_expiry = Some(line.next_expiry.map_or(command.expires_at, |at| at.min(command.expires_at)));
            }
        }
        let ready: Vec<DeviceId> = self.lines.iter().filter(|(_, line)| line.online).map(|(id, _)| *id).collect();
        for device in ready {
            self.send_next(device).await;
        }
        Ok(())
    }

    fn line(&mut self, tenant: TenantId, device: DeviceId) -> &mut Line {
        self.lines.entry(device).or_insert(Line { tenant, online: false, in_flight: None, queued: false, next_expiry: None })
    }

    async fn on(&mut self, signal: Signal) {
        match signal {
            Signal::Queued { tenant, device } => {
                let line = self.line(tenant, device);
                line.queued = true;
                if line.online && line.in_flight.is_none() {
                    self.send_next(device).await;
                } else if !line.online {
                    self.refresh_expiry(device).await;
                }
            }
            Signal::Online { tenant, device } => {
                let line = self.line(tenant, device);
                let was_online = std::mem::replace(&mut line.online, true);
                match &mut line.in_flight {
                    // Back from offline with a command unanswered: send it again now.
                    Some(in_flight) if !was_online => in_flight.next_retry = Instant::now(),
                    Some(_) => {}
                    None if line.queued => self.send_next(device).await,
                    None => {}
                }
            }
            Signal::Offline { device } => {
                if let Some(line) = self.lines.get_mut(&device) {
                    line.online = false;
                }
                self.refresh_expiry(device).await;
            }
            Signal::Ack { tenant, device, ack, recorded } => {
                let status = if ack.ok { CommandStatus::Acknowledged } else { CommandStatus::Failed };
                let outcome = CommandOutcome { status, result: ack.result, error: ack.error, at: Utc::now() };
                let finished = self.store.command_finish(tenant, ack.id, &outcome).await;
                match &finished {
                    Ok(Some(command)) => {
                        if let Some(sent) = command.sent_at {
                            let seconds = (outcome.at - sent).num_microseconds().unwrap_or(0) as f64 / 1e6;
                            metrics::histogram!("gatehouse_device_command_ack_seconds").record(seconds);
                        }
                    }
                    Ok(None) => tracing::debug!(command = %ack.id, "an acknowledgement for a command that had ended"),
                    Err(err) => tracing::warn!(error = %err, command = %ack.id, "could not record an acknowledgement"),
                }
                // The device may forget its acknowledgement only once it is recorded.
                let _ = recorded.send(finished.is_ok());
                let line = self.line(tenant, device);
                line.online = true;
                if line.in_flight.as_ref().is_some_and(|in_flight| in_flight.command.id == ack.id) {
                    line.in_flight = None;
                }
                if line.in_flight.is_none() {
                    self.send_next(device).await;
                }
            }
        }
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        let wall = Utc::now();
        let mut resend = Vec::new();
        let mut timed_out = Vec::new();
        let mut expiring = Vec::new();
        for (device, line) in &self.lines {
            if let Some(in_flight) = &line.in_flight {
                if now >= in_flight.first_sent + Duration::from_secs(u64::from(in_flight.command.timeout_s)) {
                    timed_out.push((*device, line.tenant, in_flight.command.id));
                } else if line.online && now >= in_flight.next_retry {
                    resend.push(*device);
                }
            } else if line.next_expiry.is_some_and(|at| at <= wall) {
                expiring.push(*device);
            }
        }
        for (device, tenant, command) in timed_out {
            let outcome = CommandOutcome {
                status: CommandStatus::TimedOut,
                result: None,
                error: Some("no acknowledgement within timeout_s".into()),
                at: wall,
            };
            if let Err(err) = self.store.command_finish(tenant, command, &outcome).await {
                tracing::warn!(error = %err, %command, "could not time out a command");
            }
            metrics::counter!("gatehouse_device_commands_timed_out_total").increment(1);
            if let Some(line) = self.lines.get_mut(&device) {
                line.in_flight = None;
                if line.online {
                    self.send_next(device).await;
                }
            }
        }
        for device in resend {
            self.retry(device).await;
        }
        for device in expiring {
            let online = self.lines.get(&device).is_some_and(|line| line.online);
            if online {
                self.send_next(device).await;
            } else {
                self.refresh_expiry(device).await;
            }
        }
    }

    /// Expires what is due in the device's queue and notes when the next one is.
    async fn refresh_expiry(&mut self, device: DeviceId) {
        let Some(line) = self.lines.get(&device) else { return };
        if !line.queued {
            return;
        }
        let tenant = line.tenant;
        // `command_next` expires what is due; the command it returns stays queued.
        let next = self.store.command_next(tenant, device, Utc::now()).await;
        match next {
            Ok(Some(_)) => {
                let next = match self.store.command_queue_expiry(tenant, device).await {
                    Ok(next) => next,
                    Err(err) => {
                        // Without the next expiry the queue is looked at again on the next tick anyway.
                        tracing::warn!(error = %err, %device, "could not read when the device's next command expires");
                        None
                    }
                };
                if let Some(line) = self.lines.get_mut(&device) {
                    line.next_expiry = next;
                }
            }
            Ok(None) => {
                if let Some(line) = self.lines.get_mut(&device) {
                    line.queued = false;
                    line.next_expiry = None;
                }
            }
            Err(err) => tracing::warn!(error = %err, %device, "could not read a device's command queue"),
        }
    }

    async fn send_next(&mut self, device: DeviceId) {
        let Some(line) = self.lines.get(&device) else { return };
        if line.in_flight.is_some() || !line.online {
            return;
        }
        let tenant = line.tenant;
        let next = match self.store.command_next(tenant, device, Utc::now()).await {
            Ok(next) => next,
            Err(err) => {
                tracing::warn!(error = %err, %device, "could not read a device's command queue");
                return;
            }
        };
        let Some(line) = self.lines.get_mut(&device) else { return };
        let Some(command) = next else {
            line.queued = false;
            line.next_expiry = None;
            return;
        };
        let now = Instant::now();
        line.in_flight = Some(InFlight { command, first_sent: now, next_retry: now, backoff: RETRY_FIRST });
        self.resend(device).await;
    }

    /// Sends the command in flight again, unless it ended meanwhile: with several
    /// Gatehouse nodes on one broker, its acknowledgement may have reached another node.
    async fn retry(&mut self, device: DeviceId) {
        let Some(line) = self.lines.get(&device) else { return };
        let Some(in_flight) = &line.in_flight else { return };
        let (tenant, id) = (line.tenant, in_flight.command.id);
        match self.store.command_get(tenant, device, id).await {
            Ok(command) if command.status.is_final() => {
                if let Some(line) = self.lines.get_mut(&device) {
                    line.in_flight = None;
                }
                self.send_next(device).await;
            }
            Ok(_) => self.resend(device).await,
            Err(err) => tracing::warn!(error = %err, command = %id, "could not read a command before resending it"),
        }
    }

    /// Publishes the device's command in flight and schedules the next try.
    async fn resend(&mut self, device: DeviceId) {
        let Some(line) = self.lines.get_mut(&device) else { return };
        let tenant = line.tenant;
        let Some(in_flight) = &mut line.in_flight else { return };
        let command = &in_flight.command;
        let body = serde_json::json!({"id": command.id, "kind": command.kind, "params": command.params});
        let topic = DeviceTopic::new(tenant.as_uuid(), device.as_uuid(), Channel::Cmd);
        in_flight.next_retry = Instant::now() + in_flight.backoff;
        in_flight.backoff = (in_flight.backoff * 2).min(RETRY_MAX);
        let id = command.id;
        if let Err(err) = self.bus.publish(topic, body.to_string().into_bytes(), QoS::AtLeastOnce).await {
            tracing::warn!(error = %err, command = %id, "could not publish a command");
            return;
        }
        metrics::counter!("gatehouse_device_command_sends_total").increment(1);
        if let Err(err) = self.store.command_sent(tenant, id, Utc::now()).await {
            tracing::warn!(error = %err, command = %id, "could not record a command as sent");
        }
    }
}
