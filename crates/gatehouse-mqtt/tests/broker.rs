#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The embedded broker with a registry of one device, driven by rumqttc used
//! purely as a device would use it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_mqtt::broker::{
    Admission, BrokerConfig, BrokerError, ConnectAttempt, DeviceIdentity, EmbeddedBroker, Gatekeeper, Refusal,
};
use gatehouse_mqtt::bus::{Bus, BusOptions};
use gatehouse_mqtt::topics::{Channel, DeviceTopic};
use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS};
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

fn drive(mut events: rumqttc::EventLoop) {
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
}

#[tokio::test]
async fn devices_reach_gatehouse_only_on_their_own_topics() {
    let (broker, gatekeeper) = start().await;
    let (user, secret) = broker.service_credentials();
    let mut options = BusOptions::from_url(&format!("mqtt://{}", broker.local_addr()), "gatehouse-test".into()).unwrap();
    options.username = Some(user.to_owned());
    options.password = Some(secret.to_owned());
    let (bus, mut incoming) = Bus::connect(options);
    tokio::time::timeout(Duration::from_secs(10), bus.subscribed()).await.expect("the bus subscribes");

    let id = DEVICE.to_string();
    let (client, events, code) = device(&broker, &id, &id, SECRET).await;
    assert_eq!(code, ConnectReturnCode::Success);
    drive(events);
    let own = DeviceTopic::new(TENANT, DEVICE, Channel::Telemetry).to_string();
    let foreign = DeviceTopic::new(TENANT, Uuid::from_u128(0x21), Channel::Telemetry).to_string();
    client.publish(foreign.clone(), QoS::AtLeastOnce, false, b"{}".to_vec()).await.unwrap();
    client.publish(own.clone(), QoS::AtLeastOnce, false, b"{\"metrics\":{}}".to_vec()).await.unwrap();

    let message = tokio::time::timeout(Duration::from_secs(5), incoming.recv()).await.unwrap().unwrap().unwrap();
    assert_eq!(message.topic.to_string(), own, "the foreign publish must not arrive first, or at all");
    assert_eq!(&message.payload[..], b"{\"metrics\":{}}");
    let refusals = gatekeeper.refusals.lock().unwrap().clone();
    assert_eq!(refusals, vec![Refusal::Publish { identity: DeviceIdentity { tenant: TENANT, device: DEVICE }, topic: foreign }]);
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
