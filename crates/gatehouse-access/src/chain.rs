//! The access log's hash chain. Each tenant's entries are numbered 1, 2, 3, …
//! and each carries an HMAC-SHA256 over its own fields and the previous
//! entry's hash, keyed by a per-tenant key derived from the master key. Change
//! a field, remove an entry or slip one in, and the chain breaks at that
//! entry; without the master key nobody can mend it by recomputing hashes.

use chrono::{DateTime, Utc};
use gatehouse_domain::*;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The hash before a tenant's first entry.
pub const GENESIS: [u8; 32] = [0u8; 32];

code_enum!(
    /// What an access-log entry records.
    EntryKind {
        Decision => "decision",
        DoorMode => "door_mode",
        Lockdown => "lockdown",
        LockdownRelease => "lockdown_release",
        Forgive => "forgive",
        RemoteUnlock => "remote_unlock",
        DoorEvent => "door_event",
        // A controller's own decision, made while it could not reach Gatehouse and reported afterwards.
        OfflineDecision => "offline_decision",
    }
);

/// One access-log entry, exactly as stored: every field but `hash` is hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogRecord {
    pub tenant_id: TenantId,
    pub seq: i64,
    pub id: DecisionId,
    /// To the microsecond (what both databases keep).
    pub at: DateTime<Utc>,
    pub kind: EntryKind,
    pub access_point_id: Option<AccessPointId>,
    pub person_id: Option<PersonId>,
    pub credential_id: Option<CredentialId>,
    pub credential_kind: Option<String>,
    pub direction: Option<String>,
    pub granted: Option<bool>,
    pub reason: Option<String>,
    pub door_action: Option<String>,
    /// JSON text, hashed as stored.
    pub rule: Option<String>,
    /// JSON text: what else the entry says (a violation, a mode change, who acted).
    pub detail: Option<String>,
    #[serde(with = "hex32")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub prev_hash: [u8; 32],
    #[serde(with = "hex32")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hash: [u8; 32],
}

impl LogRecord {
    /// The instant a device reported for what the entry records (its own `ts`, kept as
    /// `detail.reported_at`); `None` for entries Gatehouse made itself, which happened at `at`.
    pub fn reported_at(&self) -> Option<DateTime<Utc>> {
        #[derive(Deserialize)]
        struct Reported {
            reported_at: Option<DateTime<Utc>>,
        }
        let detail = self.detail.as_deref()?;
        serde_json::from_str::<Reported>(detail).ok()?.reported_at
    }
}

type HmacSha256 = Hmac<Sha256>;

/// A tenant's key for its access-log chain.
#[derive(Clone)]
pub struct ChainKey([u8; 32]);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

impl ChainKey {
    pub fn derive(master: &[u8; 32], tenant: TenantId) -> ChainKey {
        let mut mac = HmacSha256::new_from_slice(master).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"gatehouse/access-log/v1");
        mac.update(tenant.as_uuid().as_bytes());
        ChainKey(mac.finalize().into_bytes().into())
    }

    /// The hash `record` should carry.
    pub fn digest(&self, record: &LogRecord) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        let mut field = |bytes: Option<&[u8]>| match bytes {
            // Length-prefixed, so no two field lists encode alike.
            Some(bytes) => {
                mac.update(&(bytes.len() as u64).to_be_bytes());
                mac.update(bytes);
            }
            None => mac.update(&u64::MAX.to_be_bytes()),
        };
        field(Some(record.tenant_id.as_uuid().as_bytes()));
        field(Some(&record.seq.to_be_bytes()));
        field(Some(record.id.as_uuid().as_bytes()));
        field(Some(&record.at.timestamp_micros().to_be_bytes()));
        field(Some(record.kind.as_str().as_bytes()));
        field(record.access_point_id.map(|id| id.as_uuid()).as_ref().map(|id| &id.as_bytes()[..]));
        field(record.person_id.map(|id| id.as_uuid()).as_ref().map(|id| &id.as_bytes()[..]));
        field(record.credential_id.map(|id| id.as_uuid()).as_ref().map(|id| &id.as_bytes()[..]));
        field(record.credential_kind.as_deref().map(str::as_bytes));
        field(record.direction.as_deref().map(str::as_bytes));
        field(record.granted.map(|granted| [u8::from(granted)]).as_ref().map(|byte| &byte[..]));
        field(record.reason.as_deref().map(str::as_bytes));
        field(record.door_action.as_deref().map(str::as_bytes));
        field(record.rule.as_deref().map(str::as_bytes));
        field(record.detail.as_deref().map(str::as_bytes));
        field(Some(&record.prev_hash));
        mac.finalize().into_bytes().into()
    }

    /// Numbers and seals `record` as the entry after `(seq, hash)`.
    pub fn seal(&self, head: &mut ChainHead, record: &mut LogRecord) {
        record.seq = head.seq + 1;
        record.prev_hash = head.hash;
        record.hash = self.digest(record);
        *head = ChainHead { seq: record.seq, hash: record.hash };
    }
}

/// The last entry of a tenant's chain: where the next one attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: [u8; 32],
}

impl ChainHead {
    pub const EMPTY: ChainHead = ChainHead { seq: 0, hash: GENESIS };
}

/// How the chain is broken at an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Break {
    /// The entry's own fields no longer match its hash: it was changed (or forged).
    Changed,
    /// The entry does not follow the one before it: an entry was removed before it, or it was inserted.
    Unlinked,
    /// Sequence numbers skip: the entries in between were removed.
    Missing,
}

/// The result of checking a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    pub entries: u64,
    pub valid: bool,
    /// The first broken entry, if any.
    pub first_break: Option<BrokenEntry>,
    /// The last entry checked.
    pub head_seq: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrokenEntry {
    pub seq: i64,
    /// Null when the entry is missing from the end of the log.
    pub id: Option<DecisionId>,
    pub problem: Break,
    /// The sequence number the chain expected here.
    pub expected_seq: i64,
}

/// Checks entries fed in sequence order, one at a time, so a log of any length verifies in constant memory.
#[derive(Debug)]
pub struct Verifier {
    key: ChainKey,
    head: ChainHead,
    entries: u64,
    first_break: Option<BrokenEntry>,
}

impl Verifier {
    pub fn new(key: ChainKey) -> Verifier {
        Verifier { key, head: ChainHead::EMPTY, entries: 0, first_break: None }
    }

    pub fn push(&mut self, record: &LogRecord) {
        self.entries += 1;
        if self.first_break.is_some() {
            return;
        }
        let expected_seq = self.head.seq + 1;
        let problem = if self.key.digest(record) != record.hash {
            Some(Break::Changed)
        } else if record.seq > expected_seq && record.prev_hash != self.head.hash {
            Some(Break::Missing)
        } else if record.seq != expected_seq || record.prev_hash != self.head.hash {
            Some(Break::Unlinked)
        } else {
            None
        };
        if let Some(problem) = problem {
            self.first_break = Some(BrokenEntry { seq: record.seq, id: Some(record.id), problem, expected_seq });
        }
        self.head = ChainHead { seq: record.seq, hash: record.hash };
    }

    /// Finishes against the head recorded beside the log: entries missing from the end show there.
    pub fn finish_at(mut self, recorded: ChainHead) -> Verification {
        if self.first_break.is_none() && recorded.seq > self.head.seq {
            let seq = self.head.seq + 1;
            self.first_break = Some(BrokenEntry { seq, id: None, problem: Break::Missing, expected_seq: seq });
        }
        self.finish()
    }

    pub fn finish(self) -> Verification {
        Verification {
            entries: self.entries,
            valid: self.first_break.is_none(),
            first_break: self.first_break,
            head_seq: self.head.seq,
        }
    }
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&bytes.iter().map(|byte| format!("{byte:02x}")).collect::<String>())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_hex32(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// 64 hex digits into 32 bytes.
pub fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn record(n: u128) -> LogRecord {
        LogRecord {
            tenant_id: TenantId::from_uuid(Uuid::from_u128(1)),
            seq: 0,
            id: DecisionId::from_uuid(Uuid::from_u128(n)),
            at: DateTime::from_timestamp_micros(1_790_000_000_000_000 + n as i64).unwrap(),
            kind: EntryKind::Decision,
            access_point_id: Some(AccessPointId::from_uuid(Uuid::from_u128(7))),
            person_id: None,
            credential_id: None,
            credential_kind: Some("card".into()),
            direction: Some("in".into()),
            granted: Some(n.is_multiple_of(2)),
            reason: Some("granted".into()),
            door_action: Some("unlock".into()),
            rule: Some("{}".into()),
            detail: None,
            prev_hash: GENESIS,
            hash: GENESIS,
        }
    }

    fn chain(key: &ChainKey, length: u128) -> Vec<LogRecord> {
        let mut head = ChainHead::EMPTY;
        (1..=length)
            .map(|n| {
                let mut entry = record(n);
                key.seal(&mut head, &mut entry);
                entry
            })
            .collect()
    }

    fn verify(key: &ChainKey, records: &[LogRecord]) -> Verification {
        let mut verifier = Verifier::new(key.clone());
        records.iter().for_each(|record| verifier.push(record));
        verifier.finish()
    }

    #[test]
    fn every_single_change_removal_or_insertion_is_found_and_named() {
        let key = ChainKey::derive(&[3u8; 32], TenantId::from_uuid(Uuid::from_u128(1)));
        let records = chain(&key, 6);
        assert!(verify(&key, &records).valid);
        for victim in 0..records.len() {
            let mut changed = records.clone();
            changed[victim].granted = Some(!changed[victim].granted.unwrap());
            let found = verify(&key, &changed).first_break.unwrap();
            assert_eq!((found.seq, found.problem), (victim as i64 + 1, Break::Changed));

            let mut removed = records.clone();
            removed.remove(victim);
            let verdict = verify(&key, &removed);
            if victim + 1 == records.len() {
                // Removing the newest entry is only visible against the head kept beside the log.
                assert!(verdict.valid);
                assert_eq!(verdict.head_seq, victim as i64);
                let mut verifier = Verifier::new(key.clone());
                removed.iter().for_each(|record| verifier.push(record));
                let head = ChainHead { seq: records[victim].seq, hash: records[victim].hash };
                let found = verifier.finish_at(head).first_break.unwrap();
                assert_eq!((found.seq, found.id, found.problem), (victim as i64 + 1, None, Break::Missing));
            } else {
                let found = verdict.first_break.unwrap();
                assert_eq!(
                    (found.seq, found.problem, found.expected_seq),
                    (victim as i64 + 2, Break::Missing, victim as i64 + 1)
                );
            }

            let mut inserted = records.clone();
            let mut forged = record(99);
            forged.seq = victim as i64 + 1;
            forged.prev_hash = if victim == 0 { GENESIS } else { records[victim - 1].hash };
            forged.hash = ChainKey::derive(&[4u8; 32], forged.tenant_id).digest(&forged);
            inserted.insert(victim, forged);
            let found = verify(&key, &inserted).first_break.unwrap();
            assert_eq!(found.id, Some(DecisionId::from_uuid(Uuid::from_u128(99))));
            assert_eq!(found.problem, Break::Changed);
        }
    }

    #[test]
    fn a_recomputed_entry_with_the_right_key_still_breaks_the_next_link() {
        let key = ChainKey::derive(&[3u8; 32], TenantId::from_uuid(Uuid::from_u128(1)));
        let mut records = chain(&key, 3);
        records[1].reason = Some("forged".into());
        records[1].hash = key.digest(&records[1]);
        let found = verify(&key, &records).first_break.unwrap();
        assert_eq!((found.seq, found.problem), (3, Break::Unlinked));
    }
}
