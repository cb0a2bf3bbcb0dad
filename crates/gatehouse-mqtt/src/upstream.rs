//! Device messages on their way into Gatehouse, and what Gatehouse says of
//! each: kept, refused, or not kept. Whoever carries a message (the embedded
//! broker's publish hook, or the bus from an external broker) acknowledges a
//! QoS 1 message only once it knows which, so "received" means "durable".
//!
//! Taking a message in has two halves. [`Upstream::admit`] does what must
//! follow the device's own order (reading the message, queueing its write) and
//! returns; the [`Settling`] it gives back resolves once the write is durable.
//! The broker calls one after the other for each connection, so one device's
//! messages are written in the order it sent them, while the waits of many
//! devices overlap and share each group commit.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;

use crate::topics::{Channel, DeviceTopic};

/// A message from a device.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub topic: DeviceTopic,
    pub payload: Bytes,
    pub retained: bool,
    /// QoS 1 or 2: the device keeps the message until it is acknowledged.
    pub acknowledged: bool,
}

/// What became of a device's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Durable: the device may forget it.
    Kept,
    /// Read and refused for what it is (unreadable, from an unknown device, on a
    /// channel the device may not use): sending it again cannot change that, so it
    /// is acknowledged, with the reason on MQTT 5, and counted.
    Refused { why: &'static str, detail: String },
    /// Not kept (the store failed, Gatehouse is stopping): the device must send it
    /// again, so it is not acknowledged.
    Unkept { detail: String },
}

impl Outcome {
    pub fn refused(why: &'static str, detail: impl Into<String>) -> Outcome {
        Outcome::Refused { why, detail: detail.into() }
    }

    pub fn unkept(detail: impl Into<String>) -> Outcome {
        Outcome::Unkept { detail: detail.into() }
    }

    /// Whether the message may be acknowledged to its sender.
    pub fn acknowledges(&self) -> bool {
        !matches!(self, Outcome::Unkept { .. })
    }
}

/// The second half of taking a message in: resolves once it is kept or refused.
pub type Settling = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// A settled outcome, for what is decided in [`Upstream::admit`] itself.
pub fn settled(outcome: Outcome) -> Settling {
    Box::pin(std::future::ready(outcome))
}

/// Where device messages go: Gatehouse's ingest.
#[async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// Takes a message in: what must follow the device's order is done before this
    /// returns (and it may wait, to slow the device, while a writer's queue is full).
    async fn admit(&self, message: Incoming) -> Settling;
}

/// Waits for a message to settle, counting what became of it and how long its
/// acknowledgement took since `received`.
pub async fn settle(channel: Channel, acknowledged: bool, received: Instant, settling: Settling) -> Outcome {
    let channel = channel.suffix();
    let in_flight = metrics::gauge!("gatehouse_mqtt_in_flight_messages", "channel" => channel);
    in_flight.increment(1.0);
    let outcome = settling.await;
    in_flight.decrement(1.0);
    match &outcome {
        Outcome::Kept => metrics::counter!("gatehouse_mqtt_persisted_messages_total", "channel" => channel).increment(1),
        Outcome::Refused { why, .. } => {
            metrics::counter!("gatehouse_mqtt_rejected_messages_total", "channel" => channel, "why" => *why).increment(1)
        }
        Outcome::Unkept { .. } => metrics::counter!("gatehouse_mqtt_unkept_messages_total", "channel" => channel).increment(1),
    }
    if acknowledged && outcome.acknowledges() {
        metrics::counter!("gatehouse_mqtt_acknowledged_messages_total", "channel" => channel).increment(1);
        metrics::histogram!("gatehouse_mqtt_acknowledgement_seconds", "channel" => channel)
            .record(received.elapsed().as_secs_f64());
    }
    outcome
}
