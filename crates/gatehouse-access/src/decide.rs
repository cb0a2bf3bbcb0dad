//! The decision: may this credential pass this access point now, and why.
//!
//! The checks run in a fixed order, and the first that fails is the reason:
//! the credential (format, known, state, window), the person (state, deny
//! list), the PIN where the door asks for one, then — for entries only —
//! lockdown, door mode, access levels with their schedules, and the zone's
//! anti-passback and occupancy. Exits need a valid credential and person only:
//! policy never traps anyone inside (egress is free by law in most places).
//!
//! [`evaluate`] reads a snapshot and the presence state and changes nothing;
//! [`Engine::decide`](crate::Engine::decide) applies what a grant changes.

use chrono::{DateTime, NaiveDate, Utc};
use gatehouse_domain::*;
use serde::{Deserialize, Serialize};

use crate::credential::{normalize_plate, CredentialKind, CredentialStatus};
use crate::policy::{AntiPassback, DoorMode};
use crate::presence::{EntryCheck, Presence};
use crate::schedule::{Basis, Verdict};
use crate::snapshot::{kind_index, CompiledPoint, Ix, Snapshot, NO_FACILITY};

code_enum!(
    /// Which way a person is going through an access point.
    Direction { In => "in", Out => "out" }
);

code_enum!(
    /// Why a decision came out as it did: a stable code, documented in `docs/access.md`.
    Reason {
        Granted => "granted",
        UnknownCredential => "unknown_credential",
        CredentialSuspended => "credential_suspended",
        CredentialLost => "credential_lost",
        CredentialExpired => "credential_expired",
        CredentialNotYetValid => "credential_not_yet_valid",
        BadFormat => "bad_format",
        ParityError => "parity_error",
        PersonSuspended => "person_suspended",
        PersonDenied => "person_denied",
        NoAccessLevel => "no_access_level",
        OutsideSchedule => "outside_schedule",
        Holiday => "holiday",
        DoorLocked => "door_locked",
        Lockdown => "lockdown",
        AntiPassback => "anti_passback",
        ZoneFull => "zone_full",
        PinRequired => "pin_required",
        PinWrong => "pin_wrong",
        QrUsed => "qr_used",
        QrExpired => "qr_expired",
        QrInvalid => "qr_invalid",
    }
);

code_enum!(
    /// What the door should do: pulse the lock, unlock until the free-passage schedule ends, or nothing.
    DoorAction { Unlock => "unlock", HoldUnlocked => "hold_unlocked", None => "none" }
);

/// A credential as presented at a reader, already split into its kind's parts.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    Card {
        facility: Option<u32>,
        number: u64,
    },
    Pin(&'a str),
    Qr(&'a str),
    Plate(&'a str),
    /// The token or public key, in clear; the engine digests it.
    Mobile(&'a str),
    Biometric(&'a str),
    /// Could not be read: `BadFormat` or `ParityError`.
    Unreadable {
        kind: CredentialKind,
        reason: Reason,
    },
}

impl Presented<'_> {
    pub fn kind(&self) -> CredentialKind {
        match self {
            Presented::Card { .. } => CredentialKind::Card,
            Presented::Pin(_) => CredentialKind::Pin,
            Presented::Qr(_) => CredentialKind::Qr,
            Presented::Plate(_) => CredentialKind::Plate,
            Presented::Mobile(_) => CredentialKind::Mobile,
            Presented::Biometric(_) => CredentialKind::Biometric,
            Presented::Unreadable { kind, .. } => *kind,
        }
    }
}

/// Who asks, where, when.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub point: AccessPointId,
    pub subject: Subject<'a>,
    /// A PIN typed at a card-plus-PIN reader.
    pub pin: Option<&'a str>,
    pub direction: Direction,
    pub at: DateTime<Utc>,
}

/// What is being decided for: a presented credential, or (for explanations) a person.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Credential(Presented<'a>),
    /// "Would this person get through?", as if with a valid credential and the right PIN.
    Person(PersonId),
}

/// What decided: every field that played a part, the rest null.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_level_id: Option<AccessLevelId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<GrantId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<GroupId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<ScheduleId>,
    /// The index of the schedule exception that decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holiday_calendar_id: Option<HolidayCalendarId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub door_mode: Option<DoorMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lockdown_id: Option<LockdownId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denial_id: Option<DenialId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<ZoneId>,
}

/// A decision, before it is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub granted: bool,
    pub reason: Reason,
    pub person: Option<PersonId>,
    pub credential: Option<CredentialId>,
    pub rule: Rule,
    pub door_action: DoorAction,
    /// A soft anti-passback breach: granted, but recorded.
    pub violation: Option<Reason>,
    pub(crate) effect: Effect,
}

/// What a grant changes in the door and presence state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Effect {
    pub presence: Option<(ZoneId, PersonId, Direction)>,
    pub first_in: Option<(AccessPointId, NaiveDate)>,
    pub qr_used: Option<CredentialId>,
}

/// The state decisions change: presence, first-person-in unlocks and used QR codes.
#[derive(Debug, Default)]
pub struct DoorState {
    pub presence: Presence,
    pub(crate) first_in: crate::snapshot::FastMap<AccessPointId, NaiveDate>,
    pub(crate) used_qr: std::collections::HashSet<CredentialId>,
}

impl DoorState {
    pub(crate) fn apply(&mut self, snapshot: &Snapshot, effect: &Effect, now: i64) {
        if let Some((zone, person, direction)) = effect.presence {
            match direction {
                Direction::In => {
                    let rules = snapshot.zone_rules(zone).unwrap_or_default();
                    self.presence.enter(zone, &rules, person, now);
                }
                Direction::Out => self.presence.exit(zone, person),
            }
        }
        if let Some((point, date)) = effect.first_in {
            self.first_in.insert(point, date);
        }
        if let Some(credential) = effect.qr_used {
            self.used_qr.insert(credential);
        }
    }
}

/// Answers a request against a snapshot and the door state without changing either.
/// `None`: the access point is not in this tenant (a client error, not a decision).
pub fn evaluate(snapshot: &Snapshot, state: &DoorState, request: &Request<'_>) -> Option<Outcome> {
    let point_ix = *snapshot.point_ix.get(&request.point)?;
    let point = &snapshot.points[point_ix as usize];
    Some(Evaluation { snapshot, state, request, point_ix, point, now: request.at.timestamp() }.run())
}

/// The credential presented, found in the snapshot, with a QR code's own validity window
/// (`not_before`, `not_after`); `Err` is why it is not found: unreadable, unknown, or forged.
fn find_credential(snapshot: &Snapshot, presented: Presented<'_>) -> Result<(Ix, Option<(i64, i64)>), Reason> {
    let found = match presented {
        Presented::Unreadable { reason, .. } => return Err(reason),
        Presented::Card { facility, number } => snapshot.cards.get(&(facility.unwrap_or(NO_FACILITY), number)).copied(),
        Presented::Pin(pin) => {
            if crate::credential::check_pin(pin).is_err() {
                return Err(Reason::BadFormat);
            }
            snapshot.keyed[kind_index(CredentialKind::Pin)].get(snapshot.keys.pin_key(pin).as_str()).copied()
        }
        Presented::Qr(token) => {
            let claims = match snapshot.keys.qr_claims(token) {
                Ok(claims) => claims,
                Err(crate::credential::QrError::Malformed) => return Err(Reason::BadFormat),
                Err(crate::credential::QrError::BadSignature) => return Err(Reason::QrInvalid),
            };
            let ix = *snapshot.by_id.get(&claims.credential).ok_or(Reason::UnknownCredential)?;
            return Ok((ix, Some((claims.not_before, claims.not_after))));
        }
        Presented::Plate(text) => match normalize_plate(text) {
            Ok(plate) => snapshot.keyed[kind_index(CredentialKind::Plate)].get(plate.as_str()).copied(),
            Err(_) => return Err(Reason::BadFormat),
        },
        Presented::Mobile(token) => {
            snapshot.keyed[kind_index(CredentialKind::Mobile)].get(crate::credential::mobile_key(token).as_str()).copied()
        }
        Presented::Biometric(template) => snapshot.keyed[kind_index(CredentialKind::Biometric)].get(template).copied(),
    };
    found.map(|ix| (ix, None)).ok_or(Reason::UnknownCredential)
}

impl Snapshot {
    /// Whose credential was presented, without deciding anything: for decisions made
    /// elsewhere (a controller's offline decision) that are logged, not decided again.
    pub fn identify(&self, presented: Presented<'_>) -> Option<(PersonId, CredentialId)> {
        let (ix, _) = find_credential(self, presented).ok()?;
        let credential = &self.credentials[ix as usize];
        Some((self.people[credential.person as usize].id, credential.id))
    }
}

struct Evaluation<'s, 'r> {
    snapshot: &'s Snapshot,
    state: &'s DoorState,
    request: &'r Request<'r>,
    point_ix: Ix,
    point: &'s CompiledPoint,
    now: i64,
}

fn denied(reason: Reason) -> Outcome {
    Outcome {
        granted: false,
        reason,
        person: None,
        credential: None,
        rule: Rule::default(),
        door_action: DoorAction::None,
        violation: None,
        effect: Effect::default(),
    }
}

impl Evaluation<'_, '_> {
    fn run(&self) -> Outcome {
        let (person, credential) = match self.request.subject {
            Subject::Credential(presented) => match self.credential(presented) {
                Ok(found) => (found.0, Some(found.1)),
                Err(outcome) => return outcome,
            },
            Subject::Person(id) => match self.snapshot.person_ix.get(&id) {
                Some(&person) => (person, None),
                None => return denied(Reason::UnknownCredential),
            },
        };
        let mut outcome = self.for_person(person, credential);
        outcome.person = Some(self.snapshot.people[person as usize].id);
        outcome.credential = credential.map(|ix| self.snapshot.credentials[ix as usize].id);
        if outcome.granted {
            if let Some(ix) = credential {
                let compiled = &self.snapshot.credentials[ix as usize];
                if compiled.single_use {
                    outcome.effect.qr_used = Some(compiled.id);
                }
            }
        }
        outcome
    }

    /// Finds the credential and checks its own state: `(person, credential)`.
    // The error is the refusal itself, returned by value: boxing would allocate on every refusal.
    #[allow(clippy::result_large_err)]
    fn credential(&self, presented: Presented<'_>) -> Result<(Ix, Ix), Outcome> {
        let snapshot = self.snapshot;
        let (ix, qr_window) = find_credential(snapshot, presented).map_err(denied)?;
        if let Some((not_before, not_after)) = qr_window {
            if self.now < not_before || self.now >= not_after {
                return Err(self.credential_denied(ix, Reason::QrExpired));
            }
        }
        let credential = &snapshot.credentials[ix as usize];
        let reason = match credential.status {
            CredentialStatus::Lost => Some(Reason::CredentialLost),
            CredentialStatus::Suspended => Some(Reason::CredentialSuspended),
            CredentialStatus::Expired => Some(Reason::CredentialExpired),
            CredentialStatus::Active if self.now >= credential.valid_until => {
                Some(if credential.kind == CredentialKind::Qr { Reason::QrExpired } else { Reason::CredentialExpired })
            }
            CredentialStatus::Active if self.now < credential.valid_from => Some(Reason::CredentialNotYetValid),
            CredentialStatus::Active => None,
        };
        if let Some(reason) = reason {
            return Err(self.credential_denied(ix, reason));
        }
        if credential.single_use && (credential.used || self.state.used_qr.contains(&credential.id)) {
            return Err(self.credential_denied(ix, Reason::QrUsed));
        }
        Ok((credential.person, ix))
    }

    /// A refusal that still names whose credential it was.
    fn credential_denied(&self, ix: Ix, reason: Reason) -> Outcome {
        let credential = &self.snapshot.credentials[ix as usize];
        Outcome {
            person: Some(self.snapshot.people[credential.person as usize].id),
            credential: Some(credential.id),
            ..denied(reason)
        }
    }

    fn for_person(&self, person_ix: Ix, credential: Option<Ix>) -> Outcome {
        let person = &self.snapshot.people[person_ix as usize];
        if !person.active {
            return denied(Reason::PersonSuspended);
        }
        if let Some(&(denial, _)) = person.denials.iter().find(|&&(_, until)| self.now < until) {
            return Outcome { rule: Rule { denial_id: Some(denial), ..Rule::default() }, ..denied(Reason::PersonDenied) };
        }
        if let Some(outcome) = credential.and_then(|credential| self.pin_check(person_ix, credential)) {
            return outcome;
        }
        if self.request.direction == Direction::Out {
            let mut outcome = granted(Rule::default(), DoorAction::Unlock);
            outcome.effect.presence = Some((self.point.zone, person.id, Direction::Out));
            return outcome;
        }
        let mut outcome = self.entry(person_ix);
        if outcome.granted {
            outcome = self.presence(person.id, outcome);
        }
        outcome
    }

    fn pin_check(&self, person: Ix, credential: Ix) -> Option<Outcome> {
        if !self.point.door.requires_pin || self.snapshot.credentials[credential as usize].kind == CredentialKind::Pin {
            return None;
        }
        let Some(pin) = self.request.pin else { return Some(denied(Reason::PinRequired)) };
        let key = self.snapshot.keys.pin_key(pin);
        let matches = self.snapshot.people[person as usize].pins.iter().any(|(stored, ix)| {
            let pin = &self.snapshot.credentials[*ix as usize];
            pin.status == CredentialStatus::Active
                && self.now >= pin.valid_from
                && self.now < pin.valid_until
                && bool::from(subtle::ConstantTimeEq::ct_eq(stored.as_bytes(), key.as_bytes()))
        });
        (!matches).then(|| denied(Reason::PinWrong))
    }

    /// Lockdown, door mode, then the person's levels.
    fn entry(&self, person: Ix) -> Outcome {
        let door = &self.point.door;
        if let Some(lockdown) = self.point.lockdown {
            return self.levels(person, |level| level.lockdown_exempt, true).unwrap_or_else(|| Outcome {
                rule: Rule { lockdown_id: Some(lockdown), ..Rule::default() },
                ..denied(Reason::Lockdown)
            });
        }
        match door.mode {
            DoorMode::Locked => {
                return self.levels(person, |level| level.door_override, true).unwrap_or_else(|| Outcome {
                    rule: Rule { door_mode: Some(DoorMode::Locked), ..Rule::default() },
                    ..denied(Reason::DoorLocked)
                })
            }
            DoorMode::ScheduledUnlock => {
                if let Some(outcome) = self.free_passage() {
                    return outcome;
                }
            }
            DoorMode::Normal => {}
        }
        let mut outcome = self.levels(person, |_| true, false).unwrap_or_else(|| denied(Reason::NoAccessLevel));
        if outcome.granted && door.mode == DoorMode::ScheduledUnlock && door.first_person_in {
            // The first valid credential inside the unlock schedule starts the day's free passage.
            if let Some((verdict, _)) = self.unlock_window() {
                if verdict.open {
                    outcome.door_action = DoorAction::HoldUnlocked;
                    outcome.effect.first_in = Some((self.point.id, self.local_date()));
                }
            }
        }
        outcome
    }

    fn local_date(&self) -> NaiveDate {
        let zone = self
            .point
            .unlock_schedule
            .and_then(|ix| self.snapshot.schedules[ix as usize].time_zone)
            .unwrap_or(self.point.time_zone);
        self.request.at.with_timezone(&zone).date_naive()
    }

    fn unlock_window(&self) -> Option<(Verdict, Ix)> {
        let ix = self.point.unlock_schedule?;
        Some((self.schedule(ix), ix))
    }

    /// Inside the unlock schedule (and, for first-person-in, after today's first grant) anyone valid passes.
    fn free_passage(&self) -> Option<Outcome> {
        let (verdict, schedule) = self.unlock_window()?;
        if !verdict.open {
            return None;
        }
        if self.point.door.first_person_in && self.state.first_in.get(&self.point.id) != Some(&self.local_date()) {
            return None;
        }
        let rule = Rule {
            door_mode: Some(DoorMode::ScheduledUnlock),
            schedule_id: Some(self.snapshot.schedules[schedule as usize].id),
            ..Rule::default()
        };
        Some(granted(rule, DoorAction::None))
    }

    fn schedule(&self, ix: Ix) -> Verdict {
        let schedule = &self.snapshot.schedules[ix as usize];
        let holidays = schedule.holidays.map(|(_, ix)| &self.snapshot.holidays[ix as usize]);
        schedule.plan.at(self.request.at, schedule.time_zone.unwrap_or(self.point.time_zone), holidays)
    }

    /// The first of the person's levels (passing `eligible`) that opens this point now; or,
    /// when none does, the refusal that came closest. With `ignore_schedule` (lockdown
    /// exemptions, door overrides) covering the point is enough. `None`: no eligible level covers it.
    fn levels(
        &self,
        person: Ix,
        eligible: impl Fn(&crate::snapshot::CompiledLevel) -> bool,
        ignore_schedule: bool,
    ) -> Option<Outcome> {
        let mut closest: Option<Outcome> = None;
        for held in &self.snapshot.people[person as usize].levels {
            if self.now < held.from || self.now >= held.until {
                continue;
            }
            let level = &self.snapshot.levels[held.level as usize];
            if !eligible(level) {
                continue;
            }
            let start = level.points.partition_point(|&(point, _)| point < self.point_ix);
            for &(point, schedule) in &level.points[start..] {
                if point != self.point_ix {
                    break;
                }
                let mut rule =
                    Rule { access_level_id: Some(level.id), grant_id: Some(held.grant), group_id: held.group, ..Rule::default() };
                let Some(schedule) = schedule.filter(|_| !ignore_schedule) else {
                    return Some(granted(rule, DoorAction::Unlock));
                };
                let compiled = &self.snapshot.schedules[schedule as usize];
                rule.schedule_id = Some(compiled.id);
                let verdict = self.schedule(schedule);
                let reason = match verdict.basis {
                    Basis::Exception { index } => {
                        rule.exception = u32::try_from(index).ok();
                        Reason::OutsideSchedule
                    }
                    Basis::Weekly { holiday: true } => {
                        rule.holiday_calendar_id = compiled.holidays.map(|(id, _)| id);
                        Reason::Holiday
                    }
                    Basis::Weekly { holiday: false } => Reason::OutsideSchedule,
                };
                if verdict.open {
                    return Some(granted(rule, DoorAction::Unlock));
                }
                closest.get_or_insert(Outcome { rule, ..denied(reason) });
            }
        }
        closest
    }

    fn presence(&self, person: PersonId, mut outcome: Outcome) -> Outcome {
        let zone = self.point.zone;
        let rules = &self.point.zone_rules;
        let check = self.state.presence.check_entry(zone, rules, person, self.now);
        let zone_rule = Rule { zone_id: Some(zone), ..outcome.rule };
        match check {
            EntryCheck::Passback(AntiPassback::Hard) => return Outcome { rule: zone_rule, ..denied(Reason::AntiPassback) },
            EntryCheck::Full => return Outcome { rule: zone_rule, ..denied(Reason::ZoneFull) },
            EntryCheck::Passback(_) => outcome.violation = Some(Reason::AntiPassback),
            EntryCheck::Clear => {}
        }
        outcome.effect.presence = Some((zone, person, Direction::In));
        outcome
    }
}

fn granted(rule: Rule, door_action: DoorAction) -> Outcome {
    Outcome {
        granted: true,
        reason: Reason::Granted,
        person: None,
        credential: None,
        rule,
        door_action,
        violation: None,
        effect: Effect::default(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use gatehouse_domain::people::PersonStatus;
    use gatehouse_domain::values::Name;
    use uuid::Uuid;

    use super::*;
    use crate::credential::{card_key, TenantKeys};
    use crate::policy::*;
    use crate::schedule::{ClockTime, DayCode, Interval};
    use crate::{Engine, Snapshot};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    const TENANT: TenantId = TenantId::from_uuid(Uuid::from_u128(1));
    const SITE: SiteId = SiteId::from_uuid(Uuid::from_u128(2));
    const HALL: ZoneId = ZoneId::from_uuid(Uuid::from_u128(3));
    const LAB: ZoneId = ZoneId::from_uuid(Uuid::from_u128(4));
    const FRONT: AccessPointId = AccessPointId::from_uuid(Uuid::from_u128(5));
    const LAB_DOOR: AccessPointId = AccessPointId::from_uuid(Uuid::from_u128(6));
    const ANA: PersonId = PersonId::from_uuid(Uuid::from_u128(10));
    const BEN: PersonId = PersonId::from_uuid(Uuid::from_u128(11));
    const DAYTIME: ScheduleId = ScheduleId::from_uuid(Uuid::from_u128(20));
    const EVERYWHERE: AccessLevelId = AccessLevelId::from_uuid(Uuid::from_u128(30));
    const RESPONDERS: AccessLevelId = AccessLevelId::from_uuid(Uuid::from_u128(31));
    const FAMILY: GroupId = GroupId::from_uuid(Uuid::from_u128(40));

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// Ana holds "everywhere" through her household; Ben holds "responders" directly.
    fn policy() -> Policy {
        let created = at("2026-01-01T00:00:00Z");
        let mut policy = Policy::empty(TENANT, TenantKeys::derive(&[9u8; 32], TENANT));
        policy.sites = vec![(SITE, chrono_tz::Europe::Madrid)];
        policy.zones = vec![
            ZonePlace { id: HALL, site_id: SITE, parent_id: None, rules: ZoneRules::default() },
            ZonePlace { id: LAB, site_id: SITE, parent_id: Some(HALL), rules: ZoneRules::default() },
        ];
        policy.points = vec![
            PointPlace { id: FRONT, zone_id: HALL, door: DoorSettings::default() },
            PointPlace { id: LAB_DOOR, zone_id: LAB, door: DoorSettings::default() },
        ];
        policy.people = vec![(ANA, PersonStatus::Active), (BEN, PersonStatus::Active)];
        for (n, person, number) in [(50, ANA, 1), (51, BEN, 2)] {
            policy.credentials.push(CredentialEntry {
                id: CredentialId::from_uuid(id(n)),
                person_id: person,
                kind: crate::credential::CredentialKind::Card,
                lookup_key: card_key(None, number),
                status: crate::credential::CredentialStatus::Active,
                valid_from: None,
                valid_until: None,
                single_use: false,
                used: false,
            });
        }
        let weekdays = [DayCode::Mon, DayCode::Tue, DayCode::Wed, DayCode::Thu, DayCode::Fri].to_vec();
        policy.schedules = vec![Schedule {
            id: DAYTIME,
            tenant_id: TENANT,
            name: Name::parse("Daytime").unwrap(),
            time_zone: None,
            intervals: vec![Interval {
                days: weekdays,
                start: ClockTime::parse("08:00").unwrap(),
                end: ClockTime::parse("18:00").unwrap(),
            }],
            exceptions: vec![],
            holiday_calendar_id: None,
            created_at: created,
            updated_at: created,
        }];
        let level = |id, name: &str, exempt, entries| AccessLevel {
            id,
            tenant_id: TENANT,
            name: Name::parse(name).unwrap(),
            entries,
            lockdown_exempt: exempt,
            door_override: exempt,
            created_at: created,
            updated_at: created,
        };
        policy.levels = vec![
            level(
                EVERYWHERE,
                "Everywhere",
                false,
                vec![LevelEntry { access_point_id: None, zone_id: Some(HALL), schedule_id: Some(DAYTIME) }],
            ),
            level(
                RESPONDERS,
                "Responders",
                true,
                vec![LevelEntry { access_point_id: None, zone_id: Some(HALL), schedule_id: None }],
            ),
        ];
        let grant = |n, person, group, level| Grant {
            id: GrantId::from_uuid(id(n)),
            tenant_id: TENANT,
            person_id: person,
            group_id: group,
            access_level_id: level,
            valid_from: None,
            valid_until: None,
            created_at: created,
        };
        policy.grants = vec![grant(60, None, Some(FAMILY), EVERYWHERE), grant(61, Some(BEN), None, RESPONDERS)];
        policy.groups = vec![(FAMILY, vec![ANA])];
        policy
    }

    fn ask(engine: &Engine, point: AccessPointId, number: u64, direction: Direction, when: &str) -> Outcome {
        let request = Request {
            point,
            subject: Subject::Credential(Presented::Card { facility: None, number }),
            pin: None,
            direction,
            at: at(when),
        };
        engine.decide(&request).unwrap()
    }

    /// Monday 2026-11-23, 10:00 in Madrid (UTC+1).
    const MONDAY_10: &str = "2026-11-23T09:00:00Z";
    /// The same Monday, 20:00 in Madrid.
    const MONDAY_20: &str = "2026-11-23T19:00:00Z";

    #[test]
    fn a_group_grant_covers_the_zone_and_the_zones_inside_it() {
        let engine = Engine::new(Snapshot::compile(&policy()));
        let outcome = ask(&engine, LAB_DOOR, 1, Direction::In, MONDAY_10);
        assert_eq!((outcome.granted, outcome.reason), (true, Reason::Granted));
        assert_eq!(outcome.rule.group_id, Some(FAMILY));
        assert_eq!(outcome.rule.access_level_id, Some(EVERYWHERE));
        assert_eq!(ask(&engine, LAB_DOOR, 1, Direction::In, MONDAY_20).reason, Reason::OutsideSchedule);
        assert_eq!(ask(&engine, LAB_DOOR, 99, Direction::In, MONDAY_10).reason, Reason::UnknownCredential);
    }

    #[test]
    fn lockdowns_pass_only_exempt_levels_and_never_block_the_way_out() {
        let mut locked = policy();
        locked.lockdowns.push(Lockdown {
            id: LockdownId::from_uuid(id(70)),
            tenant_id: TENANT,
            scope: LockdownScope::Zone,
            site_id: None,
            zone_id: Some(HALL),
            reason: "drill".into(),
            started_at: at(MONDAY_10),
            released_at: None,
        });
        let engine = Engine::new(Snapshot::compile(&locked));
        let ana = ask(&engine, LAB_DOOR, 1, Direction::In, MONDAY_10);
        assert_eq!(ana.reason, Reason::Lockdown, "the lab is inside the locked-down hall");
        assert_eq!(ana.rule.lockdown_id, Some(LockdownId::from_uuid(id(70))));
        assert!(ask(&engine, LAB_DOOR, 2, Direction::In, MONDAY_20).granted, "responders pass, at any hour");
        assert!(ask(&engine, LAB_DOOR, 1, Direction::Out, MONDAY_10).granted, "nobody is trapped inside");
        // Released: the policy without the lockdown is the door as it was.
        engine.replace(Snapshot::compile(&policy()));
        assert!(ask(&engine, LAB_DOOR, 1, Direction::In, MONDAY_10).granted);
    }

    #[test]
    fn locked_doors_pass_only_override_levels() {
        let mut locked = policy();
        locked.points[0].door.mode = DoorMode::Locked;
        let engine = Engine::new(Snapshot::compile(&locked));
        assert_eq!(ask(&engine, FRONT, 1, Direction::In, MONDAY_10).reason, Reason::DoorLocked);
        assert!(ask(&engine, FRONT, 2, Direction::In, MONDAY_10).granted);
        assert!(ask(&engine, LAB_DOOR, 1, Direction::In, MONDAY_10).granted, "only the locked door is locked");
    }

    #[test]
    fn first_person_in_unlocks_the_door_for_the_rest_of_the_schedule() {
        let mut free = policy();
        free.points[0].door = DoorSettings {
            mode: DoorMode::ScheduledUnlock,
            unlock_schedule_id: Some(DAYTIME),
            first_person_in: true,
            requires_pin: false,
        };
        // Ben has no level for the front door in this variant: only the first-person-in rule can let him in.
        free.grants.retain(|grant| grant.person_id != Some(BEN));
        let engine = Engine::new(Snapshot::compile(&free));
        assert_eq!(ask(&engine, FRONT, 2, Direction::In, MONDAY_10).reason, Reason::NoAccessLevel, "before anyone valid arrived");
        let first = ask(&engine, FRONT, 1, Direction::In, MONDAY_10);
        assert_eq!((first.granted, first.door_action), (true, DoorAction::HoldUnlocked));
        let then = ask(&engine, FRONT, 2, Direction::In, "2026-11-23T10:00:00Z");
        assert_eq!((then.granted, then.rule.door_mode), (true, Some(DoorMode::ScheduledUnlock)));
        assert_eq!(ask(&engine, FRONT, 2, Direction::In, MONDAY_20).reason, Reason::NoAccessLevel, "the schedule ended");
        assert_eq!(
            ask(&engine, FRONT, 2, Direction::In, "2026-11-24T09:00:00Z").reason,
            Reason::NoAccessLevel,
            "a new day waits for its first person"
        );
    }

    #[test]
    fn soft_anti_passback_grants_and_records_the_violation_and_a_reset_forgets() {
        let mut soft = policy();
        soft.zones[1].rules =
            ZoneRules { anti_passback: AntiPassback::Soft, anti_passback_reset_s: Some(600), occupancy_max: None };
        let engine = Engine::new(Snapshot::compile(&soft));
        assert_eq!(ask(&engine, LAB_DOOR, 2, Direction::In, MONDAY_10).violation, None);
        let again = ask(&engine, LAB_DOOR, 2, Direction::In, "2026-11-23T09:05:00Z");
        assert_eq!((again.granted, again.violation), (true, Some(Reason::AntiPassback)));
        let later = ask(&engine, LAB_DOOR, 2, Direction::In, "2026-11-23T09:20:00Z");
        assert_eq!(later.violation, None, "ten minutes after the last entry the zone forgot him");
    }

    #[test]
    fn explain_changes_nothing() {
        let mut hard = policy();
        hard.zones[1].rules =
            ZoneRules { anti_passback: AntiPassback::Hard, anti_passback_reset_s: None, occupancy_max: Some(1) };
        let engine = Engine::new(Snapshot::compile(&hard));
        let request = Request {
            point: LAB_DOOR,
            subject: Subject::Person(ANA),
            pin: None,
            direction: Direction::In,
            at: chrono_tz::Europe::Madrid.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap().with_timezone(&Utc),
        };
        for _ in 0..3 {
            assert!(engine.explain(&request).unwrap().granted);
        }
        assert!(ask(&engine, LAB_DOOR, 1, Direction::In, MONDAY_10).granted);
        assert_eq!(engine.explain(&request).unwrap().reason, Reason::AntiPassback);
        assert_eq!(ask(&engine, LAB_DOOR, 2, Direction::In, MONDAY_10).reason, Reason::ZoneFull);
    }
}
