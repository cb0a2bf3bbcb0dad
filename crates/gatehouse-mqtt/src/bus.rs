//! Gatehouse's own MQTT client. It is the same whether the broker is the
//! embedded one or an external one (Mosquitto, EMQX): it subscribes to every
//! device channel that flows towards Gatehouse and hands each message over
//! with its topic already taken apart. QoS 1 messages are acknowledged only
//! when the consumer says it has kept them ([`Incoming::ack`]), so a message
//! that Gatehouse has not stored is delivered again after a reconnect.

use std::time::Duration;

use bytes::Bytes;
pub use rumqttc::QoS;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, NetworkOptions, Packet};
use tokio::sync::mpsc;

use crate::topics::{ingest_filters, DeviceTopic, TopicError};

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
        })
    }
}

fn percent_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("x={part}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| part.to_owned())
}

/// A message from a device.
pub struct Incoming {
    pub topic: DeviceTopic,
    pub payload: Bytes,
    pub retained: bool,
    publish: rumqttc::Publish,
}

impl Incoming {
    /// Tells the broker the message is kept (a no-op at QoS 0).
    pub async fn ack(&self, bus: &Bus) {
        if let Err(err) = bus.client.ack(&self.publish).await {
            tracing::warn!(error = %err, "could not acknowledge an MQTT message");
        }
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
    pub fn connect(options: BusOptions) -> (Bus, mpsc::Receiver<Result<Incoming, Stray>>) {
        let mut mqtt = MqttOptions::new(options.client_id.clone(), options.host.clone(), options.port);
        mqtt.set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
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
        tokio::spawn(pump(client.clone(), events, options.shared_group, deliver, subscribed_tx));
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
    shared_group: Option<String>,
    deliver: mpsc::Sender<Result<Incoming, Stray>>,
    subscribed: tokio::sync::watch::Sender<bool>,
) {
    let filters: Vec<String> = ingest_filters()
        .map(|filter| match &shared_group {
            Some(group) => format!("$share/{group}/{filter}"),
            None => filter,
        })
        .collect();
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
                for filter in &filters {
                    if let Err(err) = client.subscribe(filter.clone(), QoS::AtLeastOnce).await {
                        tracing::error!(error = %err, %filter, "could not subscribe");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let message = match DeviceTopic::parse(&publish.topic) {
                    Ok(topic) => Ok(Incoming { topic, payload: publish.payload.clone(), retained: publish.retain, publish }),
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
