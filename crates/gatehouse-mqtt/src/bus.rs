//! Gatehouse's own MQTT client. It sends commands and access answers to
//! devices through either broker. From an external broker (Mosquitto, EMQX) it
//! also takes device messages in: it subscribes to every device channel that
//! flows towards Gatehouse, hands each message to the [`Upstream`] with its
//! topic already taken apart, and acknowledges a QoS 1 message only once the
//! upstream has kept it ([`deliver`]), so a message that Gatehouse has not
//! stored is delivered again after a reconnect. (The embedded broker hands
//! messages to the upstream itself, in its publish hook.)

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use rumqttc::QoS;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, NetworkOptions, Packet};
use tokio::sync::mpsc;

use crate::topics::{ingest_filters, DeviceTopic, TopicError};
use crate::upstream::{settle, Incoming, Upstream};

/// QoS 1 messages Gatehouse holds unacknowledged: each waits for its batch to be written, so
/// the window must cover a whole batch and the one being gathered behind it.
pub const BUS_INFLIGHT_MAX: u16 = 16_384;

/// Where and as whom Gatehouse connects.
#[derive(Clone)]
pub struct BusOptions {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: String,
    /// Largest packet Gatehouse accepts or sends.
    pub max_packet_bytes: usize,
    /// With several Gatehouse nodes on one broker, a shared-subscription group
    /// (`$share/{group}/…`) so each message reaches one node.
    pub shared_group: Option<String>,
    /// Whether the broker keeps the session (subscriptions, queued and unacknowledged
    /// QoS 1 messages) across disconnects: MQTT's clean session false. The client id
    /// must then be stable across restarts.
    pub persistent_session: bool,
    /// Whether to subscribe to the device channels that flow towards Gatehouse (not on
    /// the embedded broker, which hands them over in its publish hook).
    pub ingest: bool,
}

impl std::fmt::Debug for BusOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Why an `mqtt://` URL was refused. The URL itself is never repeated: it may hold a password.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("--mqtt-url is not a URL ({0}; value not shown)")]
    NotUrl(url::ParseError),
    #[error("--mqtt-url must start with mqtt:// (got `{0}://`)")]
    Scheme(String),
    #[error("--mqtt-url has no host (value not shown)")]
    NoHost,
}

impl BusOptions {
    /// `mqtt://[user:password@]host[:port]`; the port defaults to 1883.
    pub fn from_url(raw: &str, client_id: String) -> Result<BusOptions, UrlError> {
        let url = url::Url::parse(raw).map_err(UrlError::NotUrl)?;
        if url.scheme() != "mqtt" {
            return Err(UrlError::Scheme(url.scheme().to_owned()));
        }
        let host = url.host_str().filter(|host| !host.is_empty()).ok_or(UrlError::NoHost)?;
        let decode = |part: &str| percent_decode(part);
        Ok(BusOptions {
            host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            port: url.port().unwrap_or(1883),
            username: Some(url.username()).filter(|name| !name.is_empty()).map(decode),
            password: url.password().map(decode),
            client_id,
            max_packet_bytes: 256 * 1024,
            shared_group: None,
            persistent_session: false,
            ingest: true,
        })
    }
}

fn percent_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("x={part}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| part.to_owned())
}

/// A message from a device, with what acknowledges it to the broker.
pub struct Delivery {
    pub message: Incoming,
    publish: rumqttc::Publish,
    received: Instant,
}

impl Delivery {
    /// Tells the broker the message is kept (a no-op at QoS 0).
    async fn ack(&self, bus: &Bus) {
        if let Err(err) = bus.client.ack(&self.publish).await {
            tracing::warn!(error = %err, "could not acknowledge an MQTT message");
        }
    }
}

/// Hands every message from the bus to `upstream` until the bus closes, and
/// acknowledges each once the upstream has settled it (kept or refused). One
/// message is admitted at a time, in the order the broker delivered them; their
/// writes are awaited side by side.
pub async fn deliver(bus: Bus, upstream: Arc<dyn Upstream>, mut incoming: mpsc::Receiver<Result<Delivery, Stray>>) {
    while let Some(delivery) = incoming.recv().await {
        let delivery = match delivery {
            Ok(delivery) => delivery,
            Err(stray) => {
                metrics::counter!("gatehouse_mqtt_rejected_messages_total", "channel" => "unknown", "why" => "topic")
                    .increment(1);
                tracing::debug!(topic = %stray.topic, error = %stray.error, "ignored a message on a topic outside the scheme");
                continue;
            }
        };
        let channel = delivery.message.topic.channel;
        metrics::counter!("gatehouse_mqtt_messages_total", "channel" => channel.suffix()).increment(1);
        let settling = upstream.admit(delivery.message.clone()).await;
        let bus = bus.clone();
        tokio::spawn(async move {
            let outcome = settle(channel, delivery.message.acknowledged, delivery.received, settling).await;
            match outcome {
                outcome if outcome.acknowledges() => delivery.ack(&bus).await,
                // Left unacknowledged: the broker sends it again after a reconnect.
                outcome => tracing::warn!(topic = %delivery.message.topic, ?outcome, "a device message was not kept"),
            }
        });
    }
}

/// A message on a Gatehouse topic that is not of the scheme.
#[derive(Debug)]
pub struct Stray {
    pub topic: String,
    pub error: TopicError,
}

/// Sends to devices. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    client: AsyncClient,
    /// Whether every ingest subscription is acknowledged on the current connection.
    subscribed: tokio::sync::watch::Receiver<bool>,
}

impl Bus {
    /// Connects (retrying in the background until the broker answers) and
    /// returns the sending half and the stream of device messages.
    pub fn connect(options: BusOptions) -> (Bus, mpsc::Receiver<Result<Delivery, Stray>>) {
        let mut mqtt = MqttOptions::new(options.client_id.clone(), options.host.clone(), options.port);
        mqtt.set_keep_alive(Duration::from_secs(30))
            .set_clean_session(!options.persistent_session)
            .set_manual_acks(true)
            .set_max_packet_size(options.max_packet_bytes, options.max_packet_bytes)
            .set_inflight(BUS_INFLIGHT_MAX);
        if let Some(username) = &options.username {
            mqtt.set_credentials(username.clone(), options.password.clone().unwrap_or_default());
        }
        let (client, mut events) = AsyncClient::new(mqtt, 4096);
        // Commands and access answers are a few hundred bytes: Nagle's algorithm
        // would hold each one back until the previous one is acknowledged.
        let mut network = NetworkOptions::new();
        network.set_tcp_nodelay(true);
        events.set_network_options(network);
        let (deliver, incoming) = mpsc::channel(8192);
        let (subscribed_tx, subscribed) = tokio::sync::watch::channel(false);
        let filters = if options.ingest { ingest_filters(options.shared_group.as_deref()) } else { Vec::new() };
        tokio::spawn(pump(client.clone(), events, filters, deliver, subscribed_tx));
        (Bus { client, subscribed }, incoming)
    }

    /// Waits until the broker has acknowledged every ingest subscription: from then on, no
    /// device message is missed (until the connection drops; then it subscribes again).
    pub async fn subscribed(&self) {
        let mut subscribed = self.subscribed.clone();
        // An error means the pump stopped: there is nothing left to wait for.
        let _ = subscribed.wait_for(|subscribed| *subscribed).await;
    }

    /// Publishes to a device topic.
    pub async fn publish(&self, topic: DeviceTopic, payload: Vec<u8>, qos: QoS) -> Result<(), rumqttc::ClientError> {
        self.client.publish(topic.to_string(), qos, false, payload).await
    }

    pub async fn disconnect(&self) {
        let _ = self.client.disconnect().await;
    }
}

/// Drives the connection: subscribes after every (re)connect and forwards messages.
async fn pump(
    client: AsyncClient,
    mut events: EventLoop,
    filters: Vec<String>,
    deliver: mpsc::Sender<Result<Delivery, Stray>>,
    subscribed: tokio::sync::watch::Sender<bool>,
) {
    let mut failures = 0u32;
    let mut acknowledged = 0usize;
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                acknowledged += 1;
                if acknowledged == filters.len() {
                    subscribed.send_replace(true);
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                failures = 0;
                acknowledged = 0;
                tracing::info!("connected to the MQTT broker");
                if filters.is_empty() {
                    subscribed.send_replace(true);
                }
                for filter in &filters {
                    if let Err(err) = client.subscribe(filter.clone(), QoS::AtLeastOnce).await {
                        tracing::error!(error = %err, %filter, "could not subscribe");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let message = match DeviceTopic::parse(&publish.topic) {
                    Ok(topic) => {
                        let message = Incoming {
                            topic,
                            payload: publish.payload.clone(),
                            retained: publish.retain,
                            acknowledged: publish.qos != QoS::AtMostOnce,
                        };
                        Ok(Delivery { message, publish, received: Instant::now() })
                    }
                    Err(error) => {
                        // Acknowledged here: nobody will ever keep it.
                        let _ = client.ack(&publish).await;
                        Err(Stray { topic: publish.topic.clone(), error })
                    }
                };
                if deliver.send(message).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(err) => {
                subscribed.send_replace(false);
                if deliver.is_closed() {
                    return;
                }
                failures = failures.saturating_add(1);
                if failures == 1 || failures.is_multiple_of(30) {
                    tracing::warn!(error = %err, "MQTT broker connection lost; reconnecting");
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(10)))).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_and_credentials() {
        let options = BusOptions::from_url("mqtt://gate%40house:s3cr%2Ft@broker.local:1884", "gh".into()).unwrap();
        assert_eq!((options.host.as_str(), options.port), ("broker.local", 1884));
        assert_eq!(options.username.as_deref(), Some("gate@house"));
        assert_eq!(options.password.as_deref(), Some("s3cr/t"));
        let plain = BusOptions::from_url("mqtt://127.0.0.1", "gh".into()).unwrap();
        assert_eq!((plain.port, plain.username), (1883, None));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let scheme = BusOptions::from_url("http://x", "gh".into()).unwrap_err().to_string();
        assert!(scheme.contains("mqtt://"), "{scheme}");
        assert!(BusOptions::from_url("nonsense", "gh".into()).unwrap_err().to_string().contains("not a URL"));
        let secret = BusOptions::from_url("mqtt://user:hunter2@[::1", "gh".into()).unwrap_err().to_string();
        assert!(!secret.contains("hunter2"), "{secret}");
    }
}
