//! Credentials: what a person presents, how each kind is normalised into the
//! key it is looked up by, and the keyed digests and signed tokens that keep the
//! secret kinds (PINs, QR codes, mobile tokens) out of the database in clear.

use chrono::{DateTime, Utc};
use gatehouse_domain::wiegand::{WiegandFormat, WiegandFrame};
use gatehouse_domain::{code_enum, CredentialId, PersonId, TenantId, ValidationError};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

code_enum!(
    /// What a credential is.
    CredentialKind {
        Card => "card",
        Pin => "pin",
        Qr => "qr",
        Plate => "plate",
        Mobile => "mobile",
        Biometric => "biometric",
    }
);

code_enum!(
    /// Whether a credential may open anything. `lost` is final: a lost credential is never granted again.
    CredentialStatus { Active => "active", Suspended => "suspended", Lost => "lost", Expired => "expired" }
);

/// A credential as stored and shown. Secret kinds (`pin`, `qr`, `mobile`) have no `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credential {
    pub id: CredentialId,
    pub tenant_id: TenantId,
    pub person_id: PersonId,
    pub kind: CredentialKind,
    /// The card number, plate or template id as normalised; null for secret kinds.
    pub value: Option<String>,
    /// A card's facility (or company) code, when it has one.
    pub facility_code: Option<u32>,
    pub status: CredentialStatus,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    /// A QR code that opens once.
    pub single_use: bool,
    /// When a single-use QR code was used.
    pub used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The key a credential is found by, unique per tenant and kind: a card's `facility:number`,
/// a plate as normalised, a template id, or the hex digest of a secret.
pub type LookupKey = String;

/// Most characters of a mobile token or public key, and of a biometric template id.
pub const OPAQUE_VALUE_MAX: usize = 1_024;
/// PINs are 4 to 8 digits.
pub const PIN_DIGITS: std::ops::RangeInclusive<usize> = 4..=8;

/// A card's key: the facility code (or `-` when the format has none) and the number.
pub fn card_key(facility: Option<u32>, number: u64) -> LookupKey {
    match facility {
        Some(facility) => format!("{facility}:{number}"),
        None => format!("-:{number}"),
    }
}

/// A card number in decimal, as printed on the card or read by the reader.
pub fn parse_card_number(text: &str) -> Result<u64, ValidationError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValidationError::message("a card number is 1 to 20 decimal digits"));
    }
    text.parse().map_err(|_| ValidationError::message("card number is larger than 18446744073709551615"))
}

/// Upper case, letters and digits only: `ab-123 cd` and `AB123CD` are one plate.
pub fn normalize_plate(text: &str) -> Result<String, ValidationError> {
    let mut plate = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() {
            plate.extend(c.to_uppercase());
        } else if !(c == ' ' || c == '-' || c == '.' || c == '·') {
            return Err(ValidationError::message(format!(
                "'{c}' is not allowed in a plate (letters and digits; spaces and dashes are ignored)"
            )));
        }
    }
    if plate.is_empty() || plate.chars().count() > 16 {
        return Err(ValidationError::message("a plate has 1 to 16 letters and digits"));
    }
    Ok(plate)
}

pub fn check_pin(text: &str) -> Result<(), ValidationError> {
    if !PIN_DIGITS.contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValidationError::message("a PIN is 4 to 8 digits"));
    }
    Ok(())
}

/// A template id or mobile token: printable ASCII, no spaces.
pub fn check_opaque(text: &str) -> Result<(), ValidationError> {
    if text.is_empty() || text.len() > OPAQUE_VALUE_MAX || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValidationError::message(format!("expected 1 to {OPAQUE_VALUE_MAX} printable characters without spaces")));
    }
    Ok(())
}

/// Reads a Wiegand frame into `(facility, number)`; a failed parity keeps its own code.
pub fn decode_wiegand(
    bits: &str,
    format: Option<WiegandFormat>,
) -> Result<(Option<u32>, u64), gatehouse_domain::wiegand::WiegandError> {
    let frame = WiegandFrame::parse_bits(bits)?;
    let card = match format {
        Some(format) => format.decode(&frame)?,
        None => frame.decode()?,
    };
    // Every supported format's facility code fits 16 bits.
    Ok((card.facility.map(|facility| facility as u32), card.number))
}

type HmacSha256 = Hmac<Sha256>;

/// A tenant's keys for its secret credentials, derived from the master key so
/// that a copy of the database alone cannot test PINs or forge QR codes.
#[derive(Clone)]
pub struct TenantKeys {
    /// Keyed once: a PIN digest then clones the prepared state instead of hashing the key again.
    pin: HmacSha256,
    qr: HmacSha256,
}

impl std::fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TenantKeys(..)")
    }
}

fn derive(master: &[u8; 32], purpose: &str, tenant: TenantId) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(master).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(purpose.as_bytes());
    mac.update(tenant.as_uuid().as_bytes());
    mac.finalize().into_bytes().into()
}

impl TenantKeys {
    pub fn derive(master: &[u8; 32], tenant: TenantId) -> TenantKeys {
        let keyed = |purpose| {
            HmacSha256::new_from_slice(&derive(master, purpose, tenant))
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
        };
        TenantKeys { pin: keyed("gatehouse/pin/v1"), qr: keyed("gatehouse/qr/v1") }
    }

    /// The lookup key of a PIN: its keyed digest, in hex.
    pub fn pin_key(&self, pin: &str) -> LookupKey {
        let mut mac = self.pin.clone();
        mac.update(pin.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// A QR token for a credential: its id and validity window, signed.
    pub fn qr_token(
        &self,
        credential: CredentialId,
        valid_from: Option<DateTime<Utc>>,
        valid_until: Option<DateTime<Utc>>,
    ) -> String {
        let mut payload = [0u8; QR_PAYLOAD + QR_TAG];
        payload[..16].copy_from_slice(credential.as_uuid().as_bytes());
        payload[16..24].copy_from_slice(&valid_from.map_or(i64::MIN, |at| at.timestamp()).to_be_bytes());
        payload[24..32].copy_from_slice(&valid_until.map_or(i64::MAX, |at| at.timestamp()).to_be_bytes());
        let tag = self.qr_tag(&payload[..QR_PAYLOAD]);
        payload[QR_PAYLOAD..].copy_from_slice(&tag);
        format!("{QR_PREFIX}{}", base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload))
    }

    /// Checks a QR token's signature and reads what it claims.
    pub fn qr_claims(&self, token: &str) -> Result<QrClaims, QrError> {
        let encoded = token.strip_prefix(QR_PREFIX).ok_or(QrError::Malformed)?;
        let mut payload = [0u8; QR_PAYLOAD + QR_TAG];
        let length = base64::Engine::decode_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD, encoded, &mut payload)
            .map_err(|_| QrError::Malformed)?;
        if length != payload.len() {
            return Err(QrError::Malformed);
        }
        let tag = self.qr_tag(&payload[..QR_PAYLOAD]);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&tag[..], &payload[QR_PAYLOAD..])) {
            return Err(QrError::BadSignature);
        }
        let read = |range: std::ops::Range<usize>| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&payload[range]);
            i64::from_be_bytes(bytes)
        };
        let mut id = [0u8; 16];
        id.copy_from_slice(&payload[..16]);
        Ok(QrClaims {
            credential: CredentialId::from_uuid(uuid::Uuid::from_bytes(id)),
            not_before: read(16..24),
            not_after: read(24..32),
        })
    }

    fn qr_tag(&self, payload: &[u8]) -> [u8; QR_TAG] {
        let mut mac = self.qr.clone();
        mac.update(payload);
        let mut tag = [0u8; QR_TAG];
        tag.copy_from_slice(&mac.finalize().into_bytes()[..QR_TAG]);
        tag
    }
}

/// The lookup key of a mobile token or public key: its SHA-256 digest, in hex.
pub fn mobile_key(value: &str) -> LookupKey {
    hex(&Sha256::digest(value.as_bytes()))
}

const QR_PREFIX: &str = "ghq_";
const QR_PAYLOAD: usize = 32;
/// 128 bits of tag: forging one takes 2^128 tries at the reader.
const QR_TAG: usize = 16;

/// What a verified QR token says: which credential, valid between two Unix times (inclusive start, exclusive end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QrClaims {
    pub credential: CredentialId,
    pub not_before: i64,
    pub not_after: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("not a Gatehouse QR token")]
    Malformed,
    #[error("the QR token's signature does not match")]
    BadSignature,
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plates_normalise_to_one_key() {
        assert_eq!(normalize_plate("ab-123 cd").unwrap(), "AB123CD");
        assert_eq!(normalize_plate("AB123CD").unwrap(), "AB123CD");
        assert_eq!(normalize_plate("m·ab 1234").unwrap(), "MAB1234");
        assert!(normalize_plate(" - ").is_err());
        assert!(normalize_plate("AB/12").unwrap_err().message.contains("'/'"));
    }

    #[test]
    fn cards_and_pins_are_checked() {
        assert_eq!(parse_card_number("000123").unwrap(), 123);
        assert!(parse_card_number("12a").is_err());
        assert!(parse_card_number("99999999999999999999").is_err());
        assert_eq!(card_key(Some(17), 123456), "17:123456");
        assert_eq!(card_key(None, 5), "-:5");
        assert!(check_pin("1234").is_ok() && check_pin("12345678").is_ok());
        for bad in ["123", "123456789", "12a4", ""] {
            assert!(check_pin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wiegand_frames_decode_and_parity_keeps_its_code() {
        let frame = WiegandFormat::H10301.encode(Some(17), 12345).unwrap().to_string();
        assert_eq!(decode_wiegand(&frame, None).unwrap(), (Some(17), 12345));
        let mut flipped = frame.into_bytes();
        flipped[5] = if flipped[5] == b'0' { b'1' } else { b'0' };
        let err = decode_wiegand(std::str::from_utf8(&flipped).unwrap(), None).unwrap_err();
        assert_eq!(err.code(), "parity_error");
    }

    #[test]
    fn pins_are_keyed_per_tenant() {
        let master = [7u8; 32];
        let a = TenantKeys::derive(&master, TenantId::from_uuid(uuid::Uuid::from_u128(1)));
        let b = TenantKeys::derive(&master, TenantId::from_uuid(uuid::Uuid::from_u128(2)));
        assert_eq!(a.pin_key("1234"), a.pin_key("1234"));
        assert_ne!(a.pin_key("1234"), b.pin_key("1234"));
        assert_eq!(a.pin_key("1234").len(), 64);
    }

    #[test]
    fn qr_tokens_round_trip_and_refuse_forgery() {
        let keys = TenantKeys::derive(&[1u8; 32], TenantId::from_uuid(uuid::Uuid::from_u128(1)));
        let other = TenantKeys::derive(&[1u8; 32], TenantId::from_uuid(uuid::Uuid::from_u128(2)));
        let id = CredentialId::from_uuid(uuid::Uuid::from_u128(42));
        let from: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
        let token = keys.qr_token(id, Some(from), None);
        let claims = keys.qr_claims(&token).unwrap();
        assert_eq!(claims, QrClaims { credential: id, not_before: from.timestamp(), not_after: i64::MAX });
        assert_eq!(other.qr_claims(&token), Err(QrError::BadSignature), "another tenant's key");
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert!(keys.qr_claims(std::str::from_utf8(&forged).unwrap()).is_err());
        assert_eq!(keys.qr_claims("ghq_short"), Err(QrError::Malformed));
        assert_eq!(keys.qr_claims("hello"), Err(QrError::Malformed));
    }
}
