//! Wiegand card frames: decoding what a reader sends into a facility code and
//! card number, and encoding them back, for the formats most installed
//! readers speak.
//!
//! A frame is a string of bits, first bit first, as it came off the wire. Each
//! format fixes its length, where the facility code and card number sit, and
//! which bits its parity bits cover; a frame whose parity does not hold is
//! refused with [`WiegandError::Parity`] naming the parity bit, never decoded
//! into a plausible but wrong card. Bit positions below are 0-based from the
//! first bit sent.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The supported formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WiegandFormat {
    /// 26-bit HID H10301: facility 8 bits, card 16 bits.
    H10301,
    /// 34-bit H10306: facility 16 bits, card 16 bits.
    H10306,
    /// 35-bit HID Corporate 1000: company 12 bits, card 20 bits, three parity bits.
    Corporate1000,
    /// 37-bit HID H10302: card 35 bits, no facility code.
    H10302,
    /// 37-bit HID H10304: facility 16 bits, card 19 bits.
    H10304,
}

/// Which bits a parity bit covers, and whether the count of ones (itself included) is even or odd.
struct ParityRule {
    bit: u8,
    covers: fn(u8) -> bool,
    odd: bool,
}

/// Where the fields sit: `(first bit, width)`.
struct Layout {
    length: u8,
    facility: Option<(u8, u8)>,
    card: (u8, u8),
    /// In the order they are computed when encoding (a parity over parity bits comes last).
    parity: &'static [ParityRule],
}

impl WiegandFormat {
    pub const ALL: &'static [WiegandFormat] = &[
        WiegandFormat::H10301,
        WiegandFormat::H10306,
        WiegandFormat::Corporate1000,
        WiegandFormat::H10302,
        WiegandFormat::H10304,
    ];

    pub const fn name(&self) -> &'static str {
        match self {
            WiegandFormat::H10301 => "h10301",
            WiegandFormat::H10306 => "h10306",
            WiegandFormat::Corporate1000 => "corporate1000",
            WiegandFormat::H10302 => "h10302",
            WiegandFormat::H10304 => "h10304",
        }
    }

    pub const fn length(&self) -> u8 {
        self.layout().length
    }

    /// The largest facility code the format holds, or `None` if it has none.
    pub const fn facility_max(&self) -> Option<u64> {
        match self.layout().facility {
            Some((_, width)) => Some((1u64 << width) - 1),
            None => None,
        }
    }

    /// The largest card number the format holds.
    pub const fn card_max(&self) -> u64 {
        (1u64 << self.layout().card.1) - 1
    }

    /// The format of a frame of this length, when the length alone says it.
    /// 37-bit frames are H10302 or H10304 depending on how the cards were
    /// issued, so they need the format named.
    pub fn for_length(length: usize) -> Result<WiegandFormat, WiegandError> {
        match length {
            26 => Ok(WiegandFormat::H10301),
            34 => Ok(WiegandFormat::H10306),
            35 => Ok(WiegandFormat::Corporate1000),
            37 => Err(WiegandError::AmbiguousLength { length }),
            _ => Err(WiegandError::UnsupportedLength { length }),
        }
    }

    const fn layout(&self) -> Layout {
        match self {
            WiegandFormat::H10301 => Layout {
                length: 26,
                facility: Some((1, 8)),
                card: (9, 16),
                parity: &[
                    ParityRule { bit: 0, covers: |i| (1..=12).contains(&i), odd: false },
                    ParityRule { bit: 25, covers: |i| (13..=24).contains(&i), odd: true },
                ],
            },
            WiegandFormat::H10306 => Layout {
                length: 34,
                facility: Some((1, 16)),
                card: (17, 16),
                parity: &[
                    ParityRule { bit: 0, covers: |i| (1..=16).contains(&i), odd: false },
                    ParityRule { bit: 33, covers: |i| (17..=32).contains(&i), odd: true },
                ],
            },
            // Two interleaved parities over pairs of bits, then one odd parity over the whole frame.
            WiegandFormat::Corporate1000 => Layout {
                length: 35,
                facility: Some((2, 12)),
                card: (14, 20),
                parity: &[
                    ParityRule { bit: 1, covers: |i| (2..=33).contains(&i) && (i - 2) % 3 != 2, odd: false },
                    ParityRule { bit: 34, covers: |i| (1..=32).contains(&i) && (i - 1) % 3 != 2, odd: true },
                    ParityRule { bit: 0, covers: |i| (1..=34).contains(&i), odd: true },
                ],
            },
            WiegandFormat::H10302 => Layout {
                length: 37,
                facility: None,
                card: (1, 35),
                parity: &[
                    ParityRule { bit: 0, covers: |i| (1..=18).contains(&i), odd: false },
                    ParityRule { bit: 36, covers: |i| (18..=35).contains(&i), odd: true },
                ],
            },
            WiegandFormat::H10304 => Layout {
                length: 37,
                facility: Some((1, 16)),
                card: (17, 19),
                parity: &[
                    ParityRule { bit: 0, covers: |i| (1..=18).contains(&i), odd: false },
                    ParityRule { bit: 36, covers: |i| (18..=35).contains(&i), odd: true },
                ],
            },
        }
    }

    /// Decodes a frame of this format, checking its length and every parity bit.
    pub fn decode(&self, frame: &WiegandFrame) -> Result<Card, WiegandError> {
        let layout = self.layout();
        if frame.length != layout.length {
            return Err(WiegandError::WrongLength { format: *self, expected: layout.length, got: frame.length });
        }
        for rule in layout.parity {
            let ones = (0..layout.length).filter(|i| *i == rule.bit || (rule.covers)(*i)).filter(|i| frame.bit(*i)).count();
            if (ones % 2 == 1) != rule.odd {
                return Err(WiegandError::Parity { format: *self, bit: rule.bit });
            }
        }
        Ok(Card {
            format: *self,
            facility: layout.facility.map(|(start, width)| frame.field(start, width)),
            number: frame.field(layout.card.0, layout.card.1),
        })
    }

    /// Encodes a card into a frame of this format, parity bits included.
    pub fn encode(&self, facility: Option<u64>, number: u64) -> Result<WiegandFrame, WiegandError> {
        let layout = self.layout();
        let mut frame = WiegandFrame { bits: 0, length: layout.length };
        match (layout.facility, facility) {
            (Some((start, width)), Some(code)) => {
                if code >> width != 0 {
                    return Err(WiegandError::FacilityTooLarge { format: *self, max: (1 << width) - 1 });
                }
                frame.set_field(start, width, code);
            }
            (Some(_), None) => return Err(WiegandError::FacilityRequired { format: *self }),
            (None, Some(_)) => return Err(WiegandError::NoFacility { format: *self }),
            (None, None) => {}
        }
        let (start, width) = layout.card;
        if number >> width != 0 {
            return Err(WiegandError::CardTooLarge { format: *self, max: (1 << width) - 1 });
        }
        frame.set_field(start, width, number);
        for rule in layout.parity {
            let ones = (0..layout.length).filter(|i| (rule.covers)(*i)).filter(|i| frame.bit(*i)).count();
            frame.set_bit(rule.bit, (ones % 2 == 1) != rule.odd);
        }
        Ok(frame)
    }
}

impl fmt::Display for WiegandFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Card {
    pub format: WiegandFormat,
    /// Null for formats without one (H10302).
    pub facility: Option<u64>,
    pub number: u64,
}

/// Up to 64 bits as received, first bit first.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WiegandFrame {
    /// Bit `i` of the frame is bit `length - 1 - i` of this word.
    bits: u64,
    length: u8,
}

impl WiegandFrame {
    /// Most bits a frame may hold.
    pub const LENGTH_MAX: usize = 64;

    /// From a string of `0` and `1`, first bit first (what readers log and firmware sends).
    pub fn parse_bits(text: &str) -> Result<WiegandFrame, WiegandError> {
        let text = text.trim();
        if text.is_empty() || text.len() > Self::LENGTH_MAX {
            return Err(WiegandError::UnsupportedLength { length: text.len() });
        }
        let mut bits = 0u64;
        for (position, c) in text.chars().enumerate() {
            bits = (bits << 1)
                | match c {
                    '0' => 0,
                    '1' => 1,
                    other => return Err(WiegandError::NotBinary { position, found: other }),
                };
        }
        // The length is at most 64 here, so it fits.
        Ok(WiegandFrame { bits, length: text.len() as u8 })
    }

    /// From the frame read as one binary number (first bit most significant) and its length.
    pub fn from_value(value: u64, length: u8) -> Result<WiegandFrame, WiegandError> {
        if length == 0 || usize::from(length) > Self::LENGTH_MAX || (length < 64 && value >> length != 0) {
            return Err(WiegandError::UnsupportedLength { length: usize::from(length) });
        }
        Ok(WiegandFrame { bits: value, length })
    }

    pub const fn length(&self) -> u8 {
        self.length
    }

    /// The frame as one binary number, first bit most significant.
    pub const fn value(&self) -> u64 {
        self.bits
    }

    /// Decodes the frame, taking the format from its length (37-bit frames need [`WiegandFormat::decode`]).
    pub fn decode(&self) -> Result<Card, WiegandError> {
        WiegandFormat::for_length(usize::from(self.length))?.decode(self)
    }

    fn bit(&self, index: u8) -> bool {
        (self.bits >> (self.length - 1 - index)) & 1 == 1
    }

    fn set_bit(&mut self, index: u8, on: bool) {
        let mask = 1u64 << (self.length - 1 - index);
        if on {
            self.bits |= mask;
        } else {
            self.bits &= !mask;
        }
    }

    fn field(&self, start: u8, width: u8) -> u64 {
        (start..start + width).fold(0, |value, index| (value << 1) | u64::from(self.bit(index)))
    }

    fn set_field(&mut self, start: u8, width: u8, value: u64) {
        for offset in 0..width {
            self.set_bit(start + offset, (value >> (width - 1 - offset)) & 1 == 1);
        }
    }
}

impl fmt::Display for WiegandFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (0..self.length).try_for_each(|index| f.write_str(if self.bit(index) { "1" } else { "0" }))
    }
}

impl fmt::Debug for WiegandFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WiegandFrame({self})")
    }
}

/// Why a frame or card was refused. Each has a stable `code` for access decisions and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WiegandError {
    #[error("parity bit {bit} of a {format} frame does not match its data")]
    Parity { format: WiegandFormat, bit: u8 },
    #[error("a {format} frame has {expected} bits, not {got}")]
    WrongLength { format: WiegandFormat, expected: u8, got: u8 },
    #[error("no supported Wiegand format has {length} bits (26, 34, 35 and 37 are)")]
    UnsupportedLength { length: usize },
    #[error("a {length}-bit frame is H10302 or H10304; name the format")]
    AmbiguousLength { length: usize },
    #[error("character {position} of the frame is '{found}', not 0 or 1")]
    NotBinary { position: usize, found: char },
    #[error("{format} facility codes go up to {max}")]
    FacilityTooLarge { format: WiegandFormat, max: u64 },
    #[error("{format} card numbers go up to {max}")]
    CardTooLarge { format: WiegandFormat, max: u64 },
    #[error("{format} needs a facility code")]
    FacilityRequired { format: WiegandFormat },
    #[error("{format} has no facility code")]
    NoFacility { format: WiegandFormat },
}

impl WiegandError {
    /// The stable reason code: a failed parity is `parity_error`; everything else is `bad_format`.
    pub const fn code(&self) -> &'static str {
        match self {
            WiegandError::Parity { .. } => "parity_error",
            _ => "bad_format",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(bits: &str) -> WiegandFrame {
        WiegandFrame::parse_bits(bits).unwrap()
    }

    #[test]
    fn known_frames_decode_to_their_cards() {
        // Reference frames, computed by hand from the published layouts.
        // H10301, facility 1, card 1: one 1 in bits 1-12, so the even parity bit is 1; one 1 in
        // bits 13-24, already odd, so the odd parity bit is 0.
        let h10301 = frame("10000000100000000000000010");
        assert_eq!(h10301.decode(), Ok(Card { format: WiegandFormat::H10301, facility: Some(1), number: 1 }));
        // Facility 18 (00010010), card 38505 (1001011001101001): bits 1-12 hold four ones (P=0),
        // bits 13-24 hold six (P=1 to make them odd).
        let card = WiegandFormat::H10301.encode(Some(18), 38_505).unwrap();
        assert_eq!(card.to_string(), "00001001010010110011010011");
        assert_eq!(card.decode().unwrap().number, 38_505);
        // All data bits one: 12 ones in the first half (even, P=0), 12 in the second (P=1 to make it odd).
        assert_eq!(WiegandFormat::H10301.encode(Some(255), 65_535).unwrap().to_string(), "01111111111111111111111111");
        assert_eq!(WiegandFormat::H10301.encode(Some(0), 0).unwrap().to_string(), "00000000000000000000000001");
    }

    #[test]
    fn corporate_1000_places_its_three_parity_bits() {
        let zero = WiegandFormat::Corporate1000.encode(Some(0), 0).unwrap();
        // Data all zero: P1 (even) = 0, P3 (odd) = 1, then P2 makes the whole frame odd: one 1 so far, so 0.
        assert_eq!(zero.to_string(), format!("00{}1", "0".repeat(32)));
        let card = WiegandFormat::Corporate1000.encode(Some(4095), 1_048_575).unwrap();
        assert_eq!(card.decode(), Ok(Card { format: WiegandFormat::Corporate1000, facility: Some(4095), number: 1_048_575 }));
        assert_eq!(card.to_string().chars().filter(|c| *c == '1').count() % 2, 1, "the whole frame has odd parity");
    }

    #[test]
    fn a_failed_parity_names_its_bit_and_code() {
        let mut text = WiegandFormat::H10301.encode(Some(18), 38_505).unwrap().to_string();
        text.replace_range(0..1, if text.starts_with('0') { "1" } else { "0" });
        let refused = frame(&text).decode().unwrap_err();
        assert_eq!(refused, WiegandError::Parity { format: WiegandFormat::H10301, bit: 0 });
        assert_eq!(refused.code(), "parity_error");
        assert!(refused.to_string().contains("parity bit 0"));
    }

    #[test]
    fn lengths_and_ranges_are_checked() {
        assert_eq!(frame("0101").decode().unwrap_err().code(), "bad_format");
        assert!(matches!(frame(&"0".repeat(37)).decode(), Err(WiegandError::AmbiguousLength { length: 37 })));
        assert!(matches!(WiegandFrame::parse_bits("01x1"), Err(WiegandError::NotBinary { position: 2, found: 'x' })));
        assert!(WiegandFrame::parse_bits(&"1".repeat(65)).is_err());
        assert!(matches!(WiegandFormat::H10301.encode(Some(256), 1), Err(WiegandError::FacilityTooLarge { max: 255, .. })));
        assert!(matches!(WiegandFormat::H10301.encode(Some(1), 65_536), Err(WiegandError::CardTooLarge { max: 65_535, .. })));
        assert!(matches!(WiegandFormat::H10302.encode(Some(1), 1), Err(WiegandError::NoFacility { .. })));
        assert!(matches!(WiegandFormat::H10304.encode(None, 1), Err(WiegandError::FacilityRequired { .. })));
        let h10301 = WiegandFormat::H10301.encode(Some(1), 1).unwrap();
        assert!(matches!(WiegandFormat::H10306.decode(&h10301), Err(WiegandError::WrongLength { expected: 34, got: 26, .. })));
        assert_eq!(WiegandFrame::from_value(h10301.value(), 26), Ok(h10301));
        assert!(WiegandFrame::from_value(1 << 26, 26).is_err());
    }

    fn any_card() -> impl Strategy<Value = (WiegandFormat, Option<u64>, u64)> {
        proptest::sample::select(WiegandFormat::ALL).prop_flat_map(|format| {
            let facility = match format.facility_max() {
                Some(max) => (0..=max).prop_map(Some).boxed(),
                None => Just(None).boxed(),
            };
            (Just(format), facility, 0..=format.card_max())
        })
    }

    proptest! {
        #[test]
        fn every_card_survives_encoding_and_decoding((format, facility, number) in any_card()) {
            let frame = format.encode(facility, number).unwrap();
            prop_assert_eq!(frame.length(), format.length());
            prop_assert_eq!(format.decode(&frame), Ok(Card { format, facility, number }));
            let reparsed = WiegandFrame::parse_bits(&frame.to_string()).unwrap();
            prop_assert_eq!(reparsed, frame);
        }

        #[test]
        fn any_single_flipped_bit_is_refused((format, facility, number) in any_card(), position in 0u8..37) {
            let frame = format.encode(facility, number).unwrap();
            let position = position % frame.length();
            let mut flipped = frame.to_string().into_bytes();
            flipped[usize::from(position)] ^= 1; // '0' <-> '1'
            let flipped = WiegandFrame::parse_bits(std::str::from_utf8(&flipped).unwrap()).unwrap();
            let refused = format.decode(&flipped);
            prop_assert!(matches!(refused, Err(WiegandError::Parity { .. })), "bit {} of {}: {:?}", position, frame, refused);
        }
    }
}
