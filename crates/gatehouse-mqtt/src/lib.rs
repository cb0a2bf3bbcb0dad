//! Gatehouse's MQTT edge: the device topic scheme ([`topics`]), the embedded
//! broker with per-device authentication and ACL ([`broker`]), and the client
//! Gatehouse talks to any broker through ([`bus`]), embedded or external;
//! what either does with a device's message before acknowledging it is
//! [`upstream`].

pub mod broker;
pub mod bus;
pub mod topics;
pub mod upstream;

use base64::Engine as _;
use rand::RngCore as _;

/// 256 random bits, URL-safe base64.
pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
