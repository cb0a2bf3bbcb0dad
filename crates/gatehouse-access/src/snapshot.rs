//! A tenant's policy compiled for deciding: every lookup a decision makes is a
//! hash probe or a binary search over dense arrays, and nothing allocates.
//!
//! A snapshot is immutable. An admin change produces a new policy, which is
//! compiled into a new snapshot and swapped in whole, so a decision sees one
//! consistent policy from its first lookup to its last.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatehouse_domain::people::PersonStatus;
use gatehouse_domain::values::Name;
use gatehouse_domain::*;

use crate::credential::{CredentialKind, CredentialStatus, TenantKeys};
use crate::policy::{DoorSettings, Policy, ZoneRules};
use crate::schedule::{CompiledSchedule, Holidays};

pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

fn map<K, V>(capacity: usize) -> FastMap<K, V> {
    HashMap::with_capacity_and_hasher(capacity, foldhash::fast::RandomState::default())
}

pub(crate) type Ix = u32;

#[derive(Debug)]
pub(crate) struct CompiledCredential {
    pub id: CredentialId,
    pub person: Ix,
    pub kind: CredentialKind,
    pub status: CredentialStatus,
    pub valid_from: i64,
    pub valid_until: i64,
    pub single_use: bool,
    pub used: bool,
}

/// A level a person holds, directly or through a group, between two Unix times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeldLevel {
    pub level: Ix,
    pub grant: GrantId,
    pub group: Option<GroupId>,
    pub from: i64,
    pub until: i64,
}

#[derive(Debug)]
pub(crate) struct CompiledPerson {
    pub id: PersonId,
    pub active: bool,
    pub levels: Vec<HeldLevel>,
    /// Deny-list entries, with the Unix time each ends (`i64::MAX`: never).
    pub denials: Vec<(DenialId, i64)>,
    /// Lookup keys of the person's PIN credentials, for card-plus-PIN readers.
    pub pins: Vec<(Box<str>, Ix)>,
}

#[derive(Debug)]
pub(crate) struct CompiledPoint {
    pub id: AccessPointId,
    pub zone: ZoneId,
    pub zone_rules: ZoneRules,
    pub time_zone: Tz,
    pub door: DoorSettings,
    pub unlock_schedule: Option<Ix>,
    /// The lockdown in force here, if any.
    pub lockdown: Option<LockdownId>,
}

#[derive(Debug)]
pub(crate) struct CompiledLevel {
    pub id: AccessLevelId,
    pub name: Name,
    pub lockdown_exempt: bool,
    pub door_override: bool,
    /// Sorted by point: the schedules (None: always) under which each point opens.
    pub points: Vec<(Ix, Option<Ix>)>,
}

#[derive(Debug)]
pub(crate) struct CompiledScheduleEntry {
    pub id: ScheduleId,
    pub name: Name,
    pub time_zone: Option<Tz>,
    pub holidays: Option<(HolidayCalendarId, Ix)>,
    pub plan: CompiledSchedule,
}

/// One tenant's policy, compiled.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) tenant: TenantId,
    pub(crate) keys: TenantKeys,
    pub(crate) cards: FastMap<(u32, u64), Ix>,
    /// Every other kind by lookup key, indexed by kind.
    pub(crate) keyed: [FastMap<Box<str>, Ix>; 6],
    pub(crate) by_id: FastMap<CredentialId, Ix>,
    pub(crate) credentials: Vec<CompiledCredential>,
    pub(crate) people: Vec<CompiledPerson>,
    pub(crate) person_ix: FastMap<PersonId, Ix>,
    pub(crate) points: Vec<CompiledPoint>,
    pub(crate) point_ix: FastMap<AccessPointId, Ix>,
    pub(crate) levels: Vec<CompiledLevel>,
    pub(crate) schedules: Vec<CompiledScheduleEntry>,
    pub(crate) holidays: Vec<Holidays>,
    pub(crate) zone_rules: FastMap<ZoneId, ZoneRules>,
}

pub(crate) fn unix(at: Option<DateTime<Utc>>, otherwise: i64) -> i64 {
    at.map_or(otherwise, |at| at.timestamp())
}

pub(crate) const fn kind_index(kind: CredentialKind) -> usize {
    match kind {
        CredentialKind::Card => 0,
        CredentialKind::Pin => 1,
        CredentialKind::Qr => 2,
        CredentialKind::Plate => 3,
        CredentialKind::Mobile => 4,
        CredentialKind::Biometric => 5,
    }
}

fn index<T>(position: usize) -> Ix {
    // Policies are bounded far below 2^32 records by the store's limits.
    Ix::try_from(position).unwrap_or_else(|_| unreachable!("more than 2^32 {}", std::any::type_name::<T>()))
}

impl Snapshot {
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn keys(&self) -> &TenantKeys {
        &self.keys
    }

    pub fn has_point(&self, point: AccessPointId) -> bool {
        self.point_ix.contains_key(&point)
    }

    pub fn level_name(&self, id: AccessLevelId) -> Option<&Name> {
        self.levels.iter().find(|level| level.id == id).map(|level| &level.name)
    }

    pub fn schedule_name(&self, id: ScheduleId) -> Option<&Name> {
        self.schedules.iter().find(|schedule| schedule.id == id).map(|schedule| &schedule.name)
    }

    /// The person a credential belongs to.
    pub fn credential_person(&self, id: CredentialId) -> Option<PersonId> {
        let ix = *self.by_id.get(&id)?;
        Some(self.people[self.credentials[ix as usize].person as usize].id)
    }

    pub fn zone_rules(&self, zone: ZoneId) -> Option<ZoneRules> {
        self.zone_rules.get(&zone).copied()
    }

    /// Compiles a policy. Records that point at something missing (a grant of a deleted level)
    /// are skipped: they can only make the policy stricter.
    pub fn compile(policy: &Policy) -> Snapshot {
        let site_zone: FastMap<SiteId, Tz> = policy.sites.iter().copied().collect();
        let mut zone_site = map(policy.zones.len());
        let mut children: FastMap<ZoneId, Vec<ZoneId>> = map(policy.zones.len());
        let mut zone_parent = map(policy.zones.len());
        let mut zone_rules = map(policy.zones.len());
        for zone in &policy.zones {
            zone_site.insert(zone.id, zone.site_id);
            zone_rules.insert(zone.id, zone.rules);
            if let Some(parent) = zone.parent_id {
                children.entry(parent).or_default().push(zone.id);
                zone_parent.insert(zone.id, parent);
            }
        }

        let mut holiday_ix = map(policy.holidays.len());
        let holidays = policy
            .holidays
            .iter()
            .enumerate()
            .map(|(position, calendar)| {
                holiday_ix.insert(calendar.id, index::<Holidays>(position));
                Holidays::compile(&calendar.days)
            })
            .collect();
        let mut schedule_ix = map(policy.schedules.len());
        let schedules = policy
            .schedules
            .iter()
            .enumerate()
            .map(|(position, schedule)| {
                schedule_ix.insert(schedule.id, index::<CompiledScheduleEntry>(position));
                CompiledScheduleEntry {
                    id: schedule.id,
                    name: schedule.name.clone(),
                    time_zone: schedule.time_zone.as_ref().map(|zone| zone.tz()),
                    holidays: schedule.holiday_calendar_id.and_then(|id| holiday_ix.get(&id).map(|&ix| (id, ix))),
                    plan: CompiledSchedule::compile(&schedule.intervals, &schedule.exceptions),
                }
            })
            .collect();

        // Lockdowns in force: the tenant, sites, zones (and the zones inside them).
        let active = || policy.lockdowns.iter().filter(|lockdown| lockdown.released_at.is_none());
        let tenant_lockdown = active().find(|l| l.site_id.is_none() && l.zone_id.is_none()).map(|l| l.id);
        let site_lockdowns: FastMap<SiteId, LockdownId> = active().filter_map(|l| l.site_id.map(|site| (site, l.id))).collect();
        let zone_lockdowns: FastMap<ZoneId, LockdownId> = active().filter_map(|l| l.zone_id.map(|zone| (zone, l.id))).collect();
        let lockdown_of = |zone: ZoneId| -> Option<LockdownId> {
            if tenant_lockdown.is_some() {
                return tenant_lockdown;
            }
            if let Some(&id) = zone_site.get(&zone).and_then(|site| site_lockdowns.get(site)) {
                return Some(id);
            }
            let mut current = Some(zone);
            let mut depth = 0;
            while let Some(zone) = current {
                if let Some(&id) = zone_lockdowns.get(&zone) {
                    return Some(id);
                }
                current = zone_parent.get(&zone).copied();
                depth += 1;
                if depth > 64 {
                    break;
                }
            }
            None
        };

        let mut point_ix = map(policy.points.len());
        let mut points_in_zone: FastMap<ZoneId, Vec<Ix>> = map(policy.zones.len());
        let points = policy
            .points
            .iter()
            .enumerate()
            .map(|(position, point)| {
                let ix = index::<CompiledPoint>(position);
                point_ix.insert(point.id, ix);
                points_in_zone.entry(point.zone_id).or_default().push(ix);
                CompiledPoint {
                    id: point.id,
                    zone: point.zone_id,
                    zone_rules: zone_rules.get(&point.zone_id).copied().unwrap_or_default(),
                    time_zone: zone_site.get(&point.zone_id).and_then(|site| site_zone.get(site)).copied().unwrap_or(Tz::UTC),
                    door: point.door,
                    unlock_schedule: point.door.unlock_schedule_id.and_then(|id| schedule_ix.get(&id).copied()),
                    lockdown: lockdown_of(point.zone_id),
                }
            })
            .collect();

        let points_under = |zone: ZoneId| -> Vec<Ix> {
            let mut found = Vec::new();
            let mut stack = vec![zone];
            let mut visited = 0;
            while let Some(zone) = stack.pop() {
                visited += 1;
                if visited > policy.zones.len() + 1 {
                    break;
                }
                found.extend(points_in_zone.get(&zone).into_iter().flatten().copied());
                stack.extend(children.get(&zone).into_iter().flatten().copied());
            }
            found
        };
        let mut level_ix = map(policy.levels.len());
        let levels = policy
            .levels
            .iter()
            .enumerate()
            .map(|(position, level)| {
                level_ix.insert(level.id, index::<CompiledLevel>(position));
                let mut covered = Vec::new();
                for entry in &level.entries {
                    let schedule = match entry.schedule_id {
                        None => None,
                        // A level entry whose schedule is gone opens nothing.
                        Some(id) => match schedule_ix.get(&id) {
                            Some(&ix) => Some(ix),
                            None => continue,
                        },
                    };
                    if let Some(point) = entry.access_point_id.and_then(|id| point_ix.get(&id)) {
                        covered.push((*point, schedule));
                    }
                    if let Some(zone) = entry.zone_id {
                        covered.extend(points_under(zone).into_iter().map(|point| (point, schedule)));
                    }
                }
                covered.sort_unstable();
                covered.dedup();
                CompiledLevel {
                    id: level.id,
                    name: level.name.clone(),
                    lockdown_exempt: level.lockdown_exempt,
                    door_override: level.door_override,
                    points: covered,
                }
            })
            .collect();

        let mut person_ix = map(policy.people.len());
        let mut people: Vec<CompiledPerson> = policy
            .people
            .iter()
            .enumerate()
            .map(|(position, &(id, status))| {
                person_ix.insert(id, index::<CompiledPerson>(position));
                CompiledPerson {
                    id,
                    active: status == PersonStatus::Active,
                    levels: Vec::new(),
                    denials: Vec::new(),
                    pins: Vec::new(),
                }
            })
            .collect();
        let members: FastMap<GroupId, &Vec<PersonId>> = policy.groups.iter().map(|(id, members)| (*id, members)).collect();
        for grant in &policy.grants {
            let Some(&level) = level_ix.get(&grant.access_level_id) else { continue };
            let held = |group| HeldLevel {
                level,
                grant: grant.id,
                group,
                from: unix(grant.valid_from, i64::MIN),
                until: unix(grant.valid_until, i64::MAX),
            };
            if let Some(person) = grant.person_id.and_then(|id| person_ix.get(&id)) {
                people[*person as usize].levels.push(held(None));
            }
            if let Some(group) = grant.group_id {
                for person in members.get(&group).into_iter().copied().flatten() {
                    if let Some(&person) = person_ix.get(person) {
                        people[person as usize].levels.push(held(Some(group)));
                    }
                }
            }
        }
        for denial in &policy.denials {
            if let Some(&person) = person_ix.get(&denial.person_id) {
                people[person as usize].denials.push((denial.id, unix(denial.valid_until, i64::MAX)));
            }
        }

        let mut cards = map(policy.credentials.len());
        let mut keyed: [FastMap<Box<str>, Ix>; 6] = std::array::from_fn(|_| map(0));
        let mut by_id = map(policy.credentials.len());
        let mut credentials = Vec::with_capacity(policy.credentials.len());
        for credential in &policy.credentials {
            let Some(&person) = person_ix.get(&credential.person_id) else { continue };
            let ix = index::<CompiledCredential>(credentials.len());
            match credential.kind {
                CredentialKind::Card => {
                    let Some(key) = parse_card_key(&credential.lookup_key) else { continue };
                    cards.insert(key, ix);
                }
                CredentialKind::Qr => {}
                kind => {
                    keyed[kind_index(kind)].insert(credential.lookup_key.clone().into_boxed_str(), ix);
                }
            }
            if credential.kind == CredentialKind::Pin {
                people[person as usize].pins.push((credential.lookup_key.clone().into_boxed_str(), ix));
            }
            by_id.insert(credential.id, ix);
            credentials.push(CompiledCredential {
                id: credential.id,
                person,
                kind: credential.kind,
                status: credential.status,
                valid_from: unix(credential.valid_from, i64::MIN),
                valid_until: unix(credential.valid_until, i64::MAX),
                single_use: credential.single_use,
                used: credential.used,
            });
        }

        Snapshot {
            tenant: policy.tenant,
            keys: policy.keys.clone(),
            cards,
            keyed,
            by_id,
            credentials,
            people,
            person_ix,
            points,
            point_ix,
            levels,
            schedules,
            holidays,
            zone_rules,
        }
    }
}

/// The inverse of [`crate::credential::card_key`].
fn parse_card_key(key: &str) -> Option<(u32, u64)> {
    let (facility, number) = key.split_once(':')?;
    let facility = if facility == "-" { NO_FACILITY } else { facility.parse().ok()? };
    Some((facility, number.parse().ok()?))
}

/// The facility slot of cards whose format has none.
pub(crate) const NO_FACILITY: u32 = u32::MAX;
