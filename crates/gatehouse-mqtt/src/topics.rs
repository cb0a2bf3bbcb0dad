//! The device topic scheme, version 1: `gh/{tenant}/{device}/{channel}`, where
//! `{tenant}` and `{device}` are ids. Firmware and Gatehouse agree on nothing
//! else about topics, so this module is the whole contract and the broker's
//! ACL is derived from it: a device publishes only on the channels that flow
//! towards Gatehouse, and subscribes only under its own prefix.

use std::fmt;

use uuid::Uuid;

/// First level of every Gatehouse topic.
pub const TOPIC_ROOT: &str = "gh";

/// One device channel. `Display` and [`Channel::parse`] give its topic suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Device → Gatehouse, retained; the device's last will sets it offline.
    Status,
    /// Device → Gatehouse: measurements.
    Telemetry,
    /// Device → Gatehouse: door and input events.
    Events,
    /// Gatehouse → device: commands.
    Cmd,
    /// Device → Gatehouse: a command's result.
    CmdAck,
    /// Device → Gatehouse: a reader asks for an access decision.
    AccessReq,
    /// Gatehouse → device: the decision.
    AccessResp,
}

impl Channel {
    pub const ALL: [Channel; 7] = [
        Channel::Status,
        Channel::Telemetry,
        Channel::Events,
        Channel::Cmd,
        Channel::CmdAck,
        Channel::AccessReq,
        Channel::AccessResp,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            Channel::Status => "status",
            Channel::Telemetry => "telemetry",
            Channel::Events => "events",
            Channel::Cmd => "cmd",
            Channel::CmdAck => "cmd/ack",
            Channel::AccessReq => "access/req",
            Channel::AccessResp => "access/resp",
        }
    }

    pub fn parse(suffix: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|channel| channel.suffix() == suffix)
    }

    /// Whether devices publish on this channel (rather than Gatehouse).
    pub fn from_device(self) -> bool {
        !matches!(self, Channel::Cmd | Channel::AccessResp)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.suffix())
    }
}

/// A topic of the scheme, taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceTopic {
    pub tenant: Uuid,
    pub device: Uuid,
    pub channel: Channel,
}

/// Why a topic is not one of the scheme's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("the topic does not start with `gh/`")]
    NotGatehouse,
    #[error("`{0}` in the topic is not a tenant id")]
    BadTenant(String),
    #[error("`{0}` in the topic is not a device id")]
    BadDevice(String),
    #[error("`{0}` is not a known channel (status, telemetry, events, cmd, cmd/ack, access/req, access/resp)")]
    UnknownChannel(String),
}

impl DeviceTopic {
    pub fn new(tenant: Uuid, device: Uuid, channel: Channel) -> DeviceTopic {
        DeviceTopic { tenant, device, channel }
    }

    pub fn parse(topic: &str) -> Result<DeviceTopic, TopicError> {
        let rest = topic.strip_prefix("gh/").ok_or(TopicError::NotGatehouse)?;
        let (tenant, rest) = rest.split_once('/').ok_or_else(|| TopicError::UnknownChannel(String::new()))?;
        let (device, channel) = rest.split_once('/').ok_or_else(|| TopicError::UnknownChannel(String::new()))?;
        let tenant = Uuid::parse_str(tenant).map_err(|_| TopicError::BadTenant(tenant.to_owned()))?;
        let device = Uuid::parse_str(device).map_err(|_| TopicError::BadDevice(device.to_owned()))?;
        let channel = Channel::parse(channel).ok_or_else(|| TopicError::UnknownChannel(channel.to_owned()))?;
        Ok(DeviceTopic { tenant, device, channel })
    }
}

impl fmt::Display for DeviceTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", topic_prefix(self.tenant, self.device), self.channel)
    }
}

/// `gh/{tenant}/{device}`: everything a device may touch lies under it.
pub fn topic_prefix(tenant: Uuid, device: Uuid) -> String {
    format!("{TOPIC_ROOT}/{}/{}", tenant.as_hyphenated(), device.as_hyphenated())
}

/// The filters Gatehouse subscribes to: every device channel that flows towards it,
/// through a shared-subscription group (`$share/{group}/…`) when one is given.
pub fn ingest_filters(shared_group: Option<&str>) -> Vec<String> {
    Channel::ALL
        .into_iter()
        .filter(|channel| channel.from_device())
        .map(|channel| match shared_group {
            Some(group) => format!("$share/{group}/{TOPIC_ROOT}/+/+/{channel}"),
            None => format!("{TOPIC_ROOT}/+/+/{channel}"),
        })
        .collect()
}

/// A device may publish only on its own device → Gatehouse channels.
pub fn device_may_publish(tenant: Uuid, device: Uuid, topic: &str) -> bool {
    device_publish_topic(tenant, device, topic).is_some()
}

/// The topic taken apart, when the device may publish on it.
pub fn device_publish_topic(tenant: Uuid, device: Uuid, topic: &str) -> Option<DeviceTopic> {
    DeviceTopic::parse(topic)
        .ok()
        .filter(|parsed| parsed.tenant == tenant && parsed.device == device && parsed.channel.from_device())
}

/// A device may subscribe to any filter that stays under its own prefix
/// (wildcards only after it, never a shared subscription).
pub fn device_may_subscribe(tenant: Uuid, device: Uuid, filter: &str) -> bool {
    let prefix = topic_prefix(tenant, device);
    match filter.strip_prefix(prefix.as_str()) {
        Some(rest) => rest.starts_with('/') && rest.len() > 1,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (Uuid, Uuid) {
        (Uuid::from_u128(1), Uuid::from_u128(2))
    }

    #[test]
    fn every_channel_round_trips() {
        let (tenant, device) = ids();
        for channel in Channel::ALL {
            let topic = DeviceTopic::new(tenant, device, channel);
            assert_eq!(DeviceTopic::parse(&topic.to_string()), Ok(topic));
        }
    }

    #[test]
    fn malformed_topics_name_their_fault() {
        let (tenant, device) = ids();
        assert_eq!(DeviceTopic::parse("x/y"), Err(TopicError::NotGatehouse));
        assert_eq!(DeviceTopic::parse(&format!("gh/acme/{device}/status")), Err(TopicError::BadTenant("acme".into())));
        assert_eq!(DeviceTopic::parse(&format!("gh/{tenant}/lobby/status")), Err(TopicError::BadDevice("lobby".into())));
        assert_eq!(
            DeviceTopic::parse(&format!("gh/{tenant}/{device}/firmware")),
            Err(TopicError::UnknownChannel("firmware".into()))
        );
    }

    #[test]
    fn devices_publish_only_towards_gatehouse_on_their_own_topics() {
        let (tenant, device) = ids();
        let other = Uuid::from_u128(3);
        assert!(device_may_publish(tenant, device, &DeviceTopic::new(tenant, device, Channel::Telemetry).to_string()));
        assert!(device_may_publish(tenant, device, &DeviceTopic::new(tenant, device, Channel::CmdAck).to_string()));
        assert!(!device_may_publish(tenant, device, &DeviceTopic::new(tenant, device, Channel::Cmd).to_string()));
        assert!(!device_may_publish(tenant, device, &DeviceTopic::new(tenant, other, Channel::Telemetry).to_string()));
        assert!(!device_may_publish(tenant, device, &DeviceTopic::new(other, device, Channel::Telemetry).to_string()));
        assert!(!device_may_publish(tenant, device, "gh/+/+/telemetry"));
    }

    #[test]
    fn devices_subscribe_only_under_their_prefix() {
        let (tenant, device) = ids();
        let prefix = topic_prefix(tenant, device);
        assert!(device_may_subscribe(tenant, device, &format!("{prefix}/cmd")));
        assert!(device_may_subscribe(tenant, device, &format!("{prefix}/#")));
        assert!(!device_may_subscribe(tenant, device, &prefix));
        assert!(!device_may_subscribe(tenant, device, &format!("{prefix}x/cmd")));
        assert!(!device_may_subscribe(tenant, device, "gh/#"));
        assert!(!device_may_subscribe(tenant, device, &format!("gh/{tenant}/+/cmd")));
        assert!(!device_may_subscribe(tenant, device, &format!("$share/g/{prefix}/cmd")));
    }

    #[test]
    fn gatehouse_ingests_every_device_channel() {
        let filters = ingest_filters(None);
        assert_eq!(filters.len(), 5);
        assert!(filters.contains(&"gh/+/+/access/req".to_owned()));
        assert!(!filters.iter().any(|filter| filter.ends_with("/cmd")));
        assert!(ingest_filters(Some("gatehouse")).contains(&"$share/gatehouse/gh/+/+/events".to_owned()));
    }
}
