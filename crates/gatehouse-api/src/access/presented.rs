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
use utoipa::ToSchema;

use crate::error::ApiError;

/// What was presented at the reader.
#[derive(Debug, Clone, Deserialize, ToSchema)]
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
    pub fn read(&self) -> Result<Presented<'_>, ApiError> {
        let unreadable = |reason| Presented::Unreadable { kind: self.kind, reason };
        if self.kind != CredentialKind::Card && (self.wiegand.is_some() || self.facility_code.is_some() || self.format.is_some())
        {
            return Err(ApiError::validation("credential.kind", "only a card has a facility_code, wiegand frame or format"));
        }
        if self.kind == CredentialKind::Card {
            return match (&self.value, &self.wiegand) {
                (Some(_), Some(_)) => {
                    Err(ApiError::validation("credential.wiegand", "send a card's value or its wiegand frame, not both"))
                }
                (None, None) => Err(ApiError::validation("credential.value", "a card needs its value (number) or wiegand frame")),
                (Some(value), None) => Ok(match parse_card_number(value) {
                    Ok(number) => Presented::Card { facility: self.facility_code, number },
                    Err(_) => unreadable(Reason::BadFormat),
                }),
                (None, Some(frame)) => {
                    if self.facility_code.is_some() {
                        return Err(ApiError::validation(
                            "credential.facility_code",
                            "a wiegand frame carries its own facility code",
                        ));
                    }
                    Ok(match decode_wiegand(frame, self.format) {
                        Ok((facility, number)) => Presented::Card { facility, number },
                        Err(err) if err.code() == "parity_error" => unreadable(Reason::ParityError),
                        Err(_) => unreadable(Reason::BadFormat),
                    })
                }
            };
        }
        let Some(value) = self.value.as_deref() else {
            return Err(ApiError::validation("credential.value", format!("a {} credential needs its value", self.kind)));
        };
        if value.is_empty() || value.len() > OPAQUE_VALUE_MAX {
            return Ok(unreadable(Reason::BadFormat));
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
