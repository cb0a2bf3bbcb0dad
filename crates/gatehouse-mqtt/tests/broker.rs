#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The embedded broker with a registry of one device and a scripted Gatehouse
//! behind it, driven by rumqttc used purely as a device would use it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_mqtt::broker::{
    Admission, BrokerConfig, BrokerError, ConnectAttempt, DeviceIdentity, EmbeddedBroker, Gatekeeper, Refusal,
};
use gatehouse_mqtt::topics::{Channel, DeviceTopic};
use gatehouse_mqtt::upstream::{Incoming, Outcome, Settling, Upstream};
use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

const TENANT: Uuid = Uuid::from_u128(0x10);
const DEVICE: Uuid = Uuid::from_u128(0x20);
const SECRET: &str = "ghd_correct-secret";

#[derive(Default)]
struct OneDevice {
    refusals: Mutex<Vec<Refusal>>,
}

#[async_trait]
impl Gatekeeper for OneDevice {
    async fn authenticate(&self, attempt: ConnectAttempt<'_>) -> Admission {
        if attempt.device == DEVICE && attempt.secret == SECRET.as_bytes() {
            Admission::Device(DeviceIdentity { tenant: TENANT, device: DEVICE })
        } else {
            Admission::Refused("wrong secret")
        }
    }
    fn refused(&self, refusal: Refusal) {
        self.refusals.lock().unwrap().push(refusal);
    }
}

async fn start() -> (EmbeddedBroker, Arc<OneDevice>) {
    let gatekeeper = Arc::new(OneDevice::default());
    let broker = EmbeddedBroker::start(BrokerConfig::new("127.0.0.1:0".parse().unwrap()), gatekeeper.clone()).await.unwrap();
    (broker, gatekeeper)
}

/// Connects as `username` and returns the client, its event loop and the CONNACK code.
async fn device(
    broker: &EmbeddedBroker,
    client_id: &str,
    username: &str,
    secret: &str,
) -> (AsyncClient, rumqttc::EventLoop, ConnectReturnCode) {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", broker.local_addr().port());
    options.set_credentials(username, secret);
    let (client, mut events) = AsyncClient::new(options, 16);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.poll()).await.expect("no CONNACK") {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => return (client, events, ack.code),
            Ok(_) => {}
            Err(rumqttc::ConnectionError::ConnectionRefused(code)) => return (client, events, code),
            Err(err) => panic!("connection failed: {err}"),
        }
    }
}

/// Gatehouse's side, as the test scripts it: every message admitted is sent to the test,
/// and settles with what the test answers.
struct Scripted {
    admitted: mpsc::UnboundedSender<(Incoming, oneshot::Sender<Outcome>)>,
}

#[async_trait]
impl Upstream for Scripted {
    async fn admit(&self, message: Incoming) -> Settling {
        let (settle, settled) = oneshot::channel();
        let _ = self.admitted.send((message, settle));
        Box::pin(async move { settled.await.unwrap_or(Outcome::unkept("the test went away")) })
    }
}

fn attach(broker: &EmbeddedBroker) -> mpsc::UnboundedReceiver<(Incoming, oneshot::Sender<Outcome>)> {
    let (admitted, messages) = mpsc::unbounded_channel();
    broker.deliver_to(Arc::new(Scripted { admitted }));
    messages
}

/// The next message Gatehouse is handed, while the device's connection is driven.
async fn next_admitted(
    admitted: &mut mpsc::UnboundedReceiver<(Incoming, oneshot::Sender<Outcome>)>,
    events: &mut rumqttc::EventLoop,
) -> (Incoming, oneshot::Sender<Outcome>) {
    loop {
        tokio::select! {
            message = admitted.recv() => return message.unwrap(),
            event = events.poll() => {
                event.expect("the connection stays open until the message is admitted");
            }
        }
    }
}

/// The next PUBACK on the connection, or what ended it, within `wait` (`None`: nothing came).
async fn next_ack(events: &mut rumqttc::EventLoop, wait: Duration) -> Option<Result<u16, String>> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, events.poll()).await {
            Err(_) => return None,
            Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => return Some(Ok(ack.pkid)),
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Some(Err(err.to_string())),
        }
    }
}

#[tokio::test]
async fn a_publish_is_acknowledged_only_once_gatehouse_has_kept_it() {
    let (broker, _) = start().await;
    let mut admitted = attach(&broker);
    let id = DEVICE.to_string();
    let (client, mut events, code) = device(&broker, &id, &id, SECRET).await;
    assert_eq!(code, ConnectReturnCode::Success);
    let own = DeviceTopic::new(TENANT, DEVICE, Channel::Events).to_string();
    client.publish(own.clone(), QoS::AtLeastOnce, false, b"{\"kind\":\"tamper\"}".to_vec()).await.unwrap();

    let (message, settle) = next_admitted(&mut admitted, &mut events).await;
    assert_eq!((message.topic.to_string(), &message.payload[..]), (own, &b"{\"kind\":\"tamper\"}"[..]));
    assert!(message.acknowledged, "QoS 1 is acknowledged");
    assert_eq!(next_ack(&mut events, Duration::from_millis(300)).await, None, "no PUBACK before the message is kept");
    settle.send(Outcome::Kept).unwrap();
    assert!(matches!(next_ack(&mut events, Duration::from_secs(5)).await, Some(Ok(_))), "the PUBACK follows the write");
}

#[tokio::test]
async fn a_publish_gatehouse_could_not_keep_is_not_acknowledged() {
    let (broker, _) = start().await;
    let mut admitted = attach(&broker);
    let id = DEVICE.to_string();
    let (client, mut events, _) = device(&broker, &id, &id, SECRET).await;
    let own = DeviceTopic::new(TENANT, DEVICE, Channel::Telemetry).to_string();
    client.publish(own, QoS::AtLeastOnce, false, b"{\"metrics\":{\"t\":1}}".to_vec()).await.unwrap();
    let (_, settle) = next_admitted(&mut admitted, &mut events).await;
    settle.send(Outcome::unkept("the disk is full")).unwrap();
    // The connection is closed instead: the device sends the message again after reconnecting.
    assert!(matches!(next_ack(&mut events, Duration::from_secs(5)).await, Some(Err(_))));
}

#[tokio::test]
async fn a_foreign_topic_closes_an_mqtt_3_connection_and_never_reaches_gatehouse() {
    let (broker, gatekeeper) = start().await;
    let mut admitted = attach(&broker);
    let id = DEVICE.to_string();
    let (client, mut events, code) = device(&broker, &id, &id, SECRET).await;
    assert_eq!(code, ConnectReturnCode::Success);
    let foreign = DeviceTopic::new(TENANT, Uuid::from_u128(0x21), Channel::Telemetry).to_string();
    client.publish(foreign.clone(), QoS::AtLeastOnce, false, b"{}".to_vec()).await.unwrap();
    // MQTT 3.1.1 has no refusal but closing: a PUBACK would tell the device "received".
    assert!(matches!(next_ack(&mut events, Duration::from_secs(5)).await, Some(Err(_))));
    assert!(admitted.try_recv().is_err(), "nothing reached Gatehouse");
    let refusals = gatekeeper.refusals.lock().unwrap().clone();
    assert_eq!(refusals, vec![Refusal::Publish { identity: DeviceIdentity { tenant: TENANT, device: DEVICE }, topic: foreign }]);
}

#[tokio::test]
async fn a_device_over_its_budget_is_slowed_not_dropped() {
    let gatekeeper = Arc::new(OneDevice::default());
    let mut config = BrokerConfig::new("127.0.0.1:0".parse().unwrap());
    config.device_publish_rate = 50;
    let broker = EmbeddedBroker::start(config, gatekeeper.clone()).await.unwrap();
    let mut admitted = attach(&broker);
    tokio::spawn(async move {
        while let Some((_, settle)) = admitted.recv().await {
            let _ = settle.send(Outcome::Kept);
        }
    });
    let id = DEVICE.to_string();
    let (client, mut events, _) = device(&broker, &id, &id, SECRET).await;
    let own = DeviceTopic::new(TENANT, DEVICE, Channel::Telemetry).to_string();
    // Three times the burst of 100: the last 50 must wait a second for their budget.
    const SENT: usize = 150;
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        for n in 0..SENT {
            client.publish(own.clone(), QoS::AtLeastOnce, false, format!("{{\"n\":{n}}}").into_bytes()).await.unwrap();
        }
    });
    let mut acks = 0;
    while acks < SENT {
        match next_ack(&mut events, Duration::from_secs(10)).await {
            Some(Ok(_)) => acks += 1,
            other => panic!("after {acks} PUBACKs: {other:?}"),
        }
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "{SENT} publishes at 50/s (bursts to 100) took only {took:?}");
    let throttled = gatekeeper.refusals.lock().unwrap().iter().filter(|r| matches!(r, Refusal::Throttled { .. })).count();
    assert_eq!(throttled, 1, "the flood is reported once");
}

#[tokio::test]
async fn wrong_secrets_and_borrowed_client_ids_are_refused() {
    let (broker, gatekeeper) = start().await;
    let id = DEVICE.to_string();
    let (_, _, code) = device(&broker, &id, &id, "ghd_wrong").await;
    assert_eq!(code, ConnectReturnCode::BadUserNamePassword);
    let (_, _, code) = device(&broker, "someone-else", &id, SECRET).await;
    assert_eq!(code, ConnectReturnCode::NotAuthorized);
    let (_, _, code) = device(&broker, "gatehouse", "gatehouse", "guess").await;
    assert_eq!(code, ConnectReturnCode::BadUserNamePassword);
    let reasons: Vec<&str> = gatekeeper
        .refusals
        .lock()
        .unwrap()
        .iter()
        .map(|refusal| match refusal {
            Refusal::Connect { reason, .. } => *reason,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        ["wrong secret", "the client id must be the device id (or the device id, a dash and a suffix)", "wrong service secret"]
    );
}

#[tokio::test]
async fn a_taken_port_is_named_with_the_way_out() {
    let (broker, _) = start().await;
    let mut config = BrokerConfig::new(broker.local_addr());
    config.max_connections = 10;
    let err = EmbeddedBroker::start(config, Arc::new(OneDevice::default())).await.err().expect("the port is taken");
    assert!(matches!(err, BrokerError::AddressInUse(_)));
    let message = err.to_string();
    assert!(message.contains("--mqtt-listen") && message.contains("--mqtt-url"), "{message}");
}
