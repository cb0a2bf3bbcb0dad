//! A credential as a reader or client sends it, read into the engine's [`Presented`].
//!
//! A request that is shaped wrong (no value, a card with both a number and a
//! frame) is the client's mistake and gets a 422. A value that is shaped right
//! but cannot be a credential (letters in a card number, a frame whose parity
//! fails) is what a reader saw: it becomes a logged refusal with its reason.

use gatehouse_access::credential::{decode_wiegand, parse_card_number, CredentialKind, OPAQUE_VALUE_MAX};
use gatehouse_access::{Presented, Reason};
use gatehouse_domain::wiegand::WiegandFormat;
use serde::Deserialize;

use crate::error::ServiceError;

/// What was presented at the reader.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PresentedCredential {
    pub kind: CredentialKind,
    /// The card number (decimal), PIN digits, QR token, plate, mobile token or key, or template id.
    #[serde(default)]
    pub value: Option<String>,
    /// A card's facility (company) code.
    #[serde(default)]
    pub facility_code: Option<u32>,
    /// A card as the raw Wiegand frame, `0`s and `1`s, first bit first (instead of `value`).
    #[serde(default)]
    pub wiegand: Option<String>,
    /// The frame's format when its length is ambiguous (37 bits: `h10302` or `h10304`).
    #[serde(default)]
    pub format: Option<WiegandFormat>,
}

impl PresentedCredential {
    pub fn read(&self) -> Result<Presented<'_>, ServiceError> {
        check_card_fields("credential.kind", self.kind, self.facility_code, self.wiegand.as_deref(), self.format)?;
        if self.kind == CredentialKind::Card {
            return Ok(
                match read_card("credential.", self.value.as_deref(), self.facility_code, self.wiegand.as_deref(), self.format)? {
                    CardRead::Card { facility, number } => Presented::Card { facility, number },
                    CardRead::Unreadable { reason, .. } => Presented::Unreadable { kind: self.kind, reason },
                },
            );
        }
        let Some(value) = self.value.as_deref() else {
            return Err(ServiceError::validation("credential.value", format!("a {} credential needs its value", self.kind)));
        };
        if value.is_empty() || value.len() > OPAQUE_VALUE_MAX {
            return Ok(Presented::Unreadable { kind: self.kind, reason: Reason::BadFormat });
        }
        Ok(match self.kind {
            CredentialKind::Pin => Presented::Pin(value),
            CredentialKind::Qr => Presented::Qr(value),
            CredentialKind::Plate => Presented::Plate(value),
            CredentialKind::Mobile => Presented::Mobile(value),
            CredentialKind::Biometric => Presented::Biometric(value),
            CredentialKind::Card => unreachable!("handled above"),
        })
    }
}

/// A card's fields as a client sends them, read: the card, or why its value cannot be one.
pub enum CardRead {
    Card {
        facility: Option<u32>,
        number: u64,
    },
    /// Shaped right but not a card: the field, what is wrong, and the reason code a reader's refusal carries.
    Unreadable {
        field: &'static str,
        message: String,
        reason: Reason,
    },
}

/// Only a card has a facility code, a Wiegand frame or a format; anything else naming one is a 422 on `field`.
pub fn check_card_fields(
    field: &str,
    kind: CredentialKind,
    facility_code: Option<u32>,
    wiegand: Option<&str>,
    format: Option<WiegandFormat>,
) -> Result<(), ServiceError> {
    if kind != CredentialKind::Card && (facility_code.is_some() || wiegand.is_some() || format.is_some()) {
        return Err(ServiceError::validation(field, "only a card has a facility_code, wiegand frame or format"));
    }
    Ok(())
}

/// Reads a card sent as its number (`value`) and facility code, or as its raw Wiegand frame.
/// A wrong shape (both, neither, a frame with a facility code) is a 422 on `{prefix}{field}`.
pub fn read_card(
    prefix: &str,
    value: Option<&str>,
    facility_code: Option<u32>,
    wiegand: Option<&str>,
    format: Option<WiegandFormat>,
) -> Result<CardRead, ServiceError> {
    match (value, wiegand) {
        (Some(_), Some(_)) => {
            Err(ServiceError::validation(format!("{prefix}wiegand"), "send a card's value or its wiegand frame, not both"))
        }
        (None, None) => {
            Err(ServiceError::validation(format!("{prefix}value"), "a card needs its number (value) or wiegand frame"))
        }
        (Some(value), None) => Ok(match parse_card_number(value) {
            Ok(number) => CardRead::Card { facility: facility_code, number },
            Err(err) => CardRead::Unreadable { field: "value", message: err.message, reason: Reason::BadFormat },
        }),
        (None, Some(frame)) => {
            if facility_code.is_some() {
                return Err(ServiceError::validation(
                    format!("{prefix}facility_code"),
                    "a wiegand frame carries its own facility code",
                ));
            }
            Ok(match decode_wiegand(frame, format) {
                Ok((facility, number)) => CardRead::Card { facility, number },
                Err(err) => CardRead::Unreadable {
                    field: "wiegand",
                    message: format!("{err} ({})", err.code()),
                    reason: if err.code() == "parity_error" { Reason::ParityError } else { Reason::BadFormat },
                },
            })
        }
    }
}
