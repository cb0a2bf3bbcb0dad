//! Writes a generated [`Community`] into a real store through the `Store`
//! trait, record by record (each its own audited transaction, as the API would
//! write it), and maps the community's ids to the stored ones.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chrono::Utc;
use futures::{stream, StreamExt as _, TryStreamExt as _};
use gatehouse_access::credential::CredentialKind;
use gatehouse_access::policy::*;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::people::{NewPerson, PersonKind, PersonStatus};
use gatehouse_domain::tenancy::{AccessPointKind, NewAccessPoint, NewSite, NewZone, ZoneKind};
use gatehouse_domain::values::{ExternalId, Name, TimeZone};
use gatehouse_domain::*;
use gatehouse_store::{PageRequest, PersonFilter, Store};

use crate::community::Community;

/// Writes in flight at once (PostgreSQL commits them in parallel; SQLite queues them).
const PARALLEL_WRITES: usize = 8;

/// The stored ids of the community's access points.
pub struct Seeded {
    pub points: HashMap<AccessPointId, AccessPointId>,
}

fn change() -> ChangeContext {
    ChangeContext::system("benchmark seed", Utc::now())
}

fn name(text: String) -> anyhow::Result<Name> {
    Name::parse(&text).map_err(|err| anyhow::anyhow!("{text}: {}", err.message))
}

/// Runs `write` over `items` with [`PARALLEL_WRITES`] in flight and collects `(old id, new id)`.
async fn each<T, K, V, F, Fut>(items: &[T], write: F) -> anyhow::Result<HashMap<K, V>>
where
    K: std::hash::Hash + Eq,
    F: Fn(&T) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(K, V)>>,
{
    stream::iter(items.iter().map(write)).buffer_unordered(PARALLEL_WRITES).try_collect().await
}

pub async fn seed(store: Arc<dyn Store>, tenant: TenantId, community: &Community) -> anyhow::Result<Seeded> {
    let policy = &community.policy;
    let started = Instant::now();
    let mut sites = HashMap::new();
    for (index, (site, zone)) in policy.sites.iter().enumerate() {
        let new = NewSite {
            name: name(format!("Site {index}"))?,
            time_zone: TimeZone::parse(zone.name()).map_err(|err| anyhow::anyhow!(err.message))?,
        };
        sites.insert(*site, store.site_create(tenant, &new, &change()).await?.id);
    }
    // Parents before children: repeat passes over what is left.
    let mut zones: HashMap<ZoneId, ZoneId> = HashMap::new();
    let mut left: Vec<&ZonePlace> = policy.zones.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        let mut waiting = Vec::new();
        for zone in left {
            let parent = match zone.parent_id {
                Some(parent) => match zones.get(&parent) {
                    Some(parent) => Some(*parent),
                    None => {
                        waiting.push(zone);
                        continue;
                    }
                },
                None => None,
            };
            let site = *sites.get(&zone.site_id).context("a zone's site")?;
            let new =
                NewZone { site_id: site, parent_id: parent, name: name(format!("Zone {}", zones.len()))?, kind: ZoneKind::Area };
            let stored = store.zone_create(tenant, &new, &change()).await?.id;
            if zone.rules != ZoneRules::default() {
                store.zone_rules_put(tenant, stored, &zone.rules, &change()).await?;
            }
            zones.insert(zone.id, stored);
        }
        anyhow::ensure!(waiting.len() < before, "the community's zones hold a cycle");
        left = waiting;
    }
    let points: HashMap<AccessPointId, AccessPointId> =
        each(&policy.points.iter().enumerate().collect::<Vec<_>>(), |(index, point)| {
            let store = store.clone();
            let zone = zones.get(&point.zone_id).copied();
            let (key, index) = (point.id, *index);
            async move {
                let new = NewAccessPoint {
                    zone_id: zone.context("a door's zone")?,
                    name: name(format!("Door {index}"))?,
                    kind: AccessPointKind::Door,
                };
                anyhow::Ok((key, store.access_point_create(tenant, &new, &change()).await?.id))
            }
        })
        .await?;

    let people: Vec<NewPerson> = policy
        .people
        .iter()
        .enumerate()
        .map(|(index, (id, status))| {
            Ok(NewPerson {
                kind: PersonKind::Resident,
                first_name: name(format!("Person {index}"))?,
                last_name: None,
                email: None,
                phone: None,
                unit_id: None,
                external_id: Some(ExternalId::parse(&id.to_string()).map_err(|err| anyhow::anyhow!(err.message))?),
                status: Some(*status),
                metadata: None,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    store.people_insert_all(tenant, &people, &change(), &|_| {}).await?;
    let mut person_ids = HashMap::new();
    let mut after = None;
    loop {
        let filter = PersonFilter { status: None, ..PersonFilter::default() };
        let mut page = store.person_list(tenant, &filter, PageRequest { limit: 500, after }).await?;
        if after.is_none() {
            // Archived people are left out of default lists; the community has none.
            anyhow::ensure!(
                policy.people.iter().all(|(_, status)| *status != PersonStatus::Archived),
                "archived people in the community"
            );
        }
        for person in page.items.drain(..) {
            let original: PersonId = person.external_id.context("seeded people carry their id")?.as_str().parse()?;
            person_ids.insert(original, person.id);
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    anyhow::ensure!(person_ids.len() == policy.people.len(), "{} of {} people stored", person_ids.len(), policy.people.len());

    let mut calendars = HashMap::new();
    for calendar in &policy.holidays {
        let new = NewHolidayCalendar { name: calendar.name.clone(), days: calendar.days.clone() };
        calendars.insert(calendar.id, store.holiday_calendar_create(tenant, &new, &change()).await?.id);
    }
    let mut schedules = HashMap::new();
    for schedule in &policy.schedules {
        let new = NewSchedule {
            name: schedule.name.clone(),
            time_zone: schedule.time_zone.clone(),
            intervals: schedule.intervals.clone(),
            exceptions: schedule.exceptions.clone(),
            holiday_calendar_id: schedule.holiday_calendar_id.and_then(|id| calendars.get(&id).copied()),
        };
        schedules.insert(schedule.id, store.schedule_create(tenant, &new, &change()).await?.id);
    }
    for point in &policy.points {
        if point.door != DoorSettings::default() {
            let mut door = point.door;
            door.unlock_schedule_id = door.unlock_schedule_id.and_then(|id| schedules.get(&id).copied());
            store.door_settings_put(tenant, points[&point.id], &door, &change()).await?;
        }
    }
    let levels: HashMap<AccessLevelId, AccessLevelId> = each(&policy.levels, |level| {
        let store = store.clone();
        let entries: Vec<LevelEntry> = level
            .entries
            .iter()
            .map(|entry| LevelEntry {
                access_point_id: entry.access_point_id.and_then(|id| points.get(&id).copied()),
                zone_id: entry.zone_id.and_then(|id| zones.get(&id).copied()),
                schedule_id: entry.schedule_id.and_then(|id| schedules.get(&id).copied()),
            })
            .collect();
        let new = NewAccessLevel {
            name: level.name.clone(),
            entries,
            lockdown_exempt: level.lockdown_exempt,
            door_override: level.door_override,
        };
        let key = level.id;
        async move { anyhow::Ok((key, store.access_level_create(tenant, &new, &change()).await?.id)) }
    })
    .await?;
    let groups: HashMap<GroupId, GroupId> = each(&policy.groups, |(group, members)| {
        let store = store.clone();
        let members = members.iter().filter_map(|person| person_ids.get(person).copied()).collect();
        let new = NewGroup {
            name: Name::parse(&format!("Group {group}")).unwrap_or_else(|_| unreachable!("a short name")),
            kind: GroupKind::Household,
            members,
        };
        let key = *group;
        async move { anyhow::Ok((key, store.group_create(tenant, &new, &change()).await?.id)) }
    })
    .await?;
    let _: HashMap<GrantId, GrantId> = each(&policy.grants, |grant| {
        let store = store.clone();
        let new = NewGrant {
            person_id: grant.person_id.and_then(|id| person_ids.get(&id).copied()),
            group_id: grant.group_id.and_then(|id| groups.get(&id).copied()),
            access_level_id: levels[&grant.access_level_id],
            valid_from: grant.valid_from,
            valid_until: grant.valid_until,
        };
        let key = grant.id;
        async move { anyhow::Ok((key, store.grant_create(tenant, &new, &change()).await?.id)) }
    })
    .await?;
    for denial in &policy.denials {
        let new = NewDenial {
            person_id: person_ids[&denial.person_id],
            reason: denial.reason.clone(),
            valid_until: denial.valid_until,
        };
        store.denial_create(tenant, &new, &change()).await?;
    }
    let _: HashMap<CredentialId, CredentialId> = each(&policy.credentials, |credential| {
        let store = store.clone();
        let (value, facility_code) = match (credential.kind, credential.lookup_key.split_once(':')) {
            (CredentialKind::Card, Some((facility, number))) => (Some(number.to_owned()), facility.parse().ok()),
            (CredentialKind::Plate | CredentialKind::Biometric, _) => (Some(credential.lookup_key.clone()), None),
            _ => (None, None),
        };
        let input = CredentialInput {
            id: credential.id,
            person_id: person_ids[&credential.person_id],
            kind: credential.kind,
            value,
            facility_code,
            lookup_key: credential.lookup_key.clone(),
            status: credential.status,
            valid_from: credential.valid_from,
            valid_until: credential.valid_until,
            single_use: credential.single_use,
        };
        let key = credential.id;
        async move { anyhow::Ok((key, store.credential_create(tenant, &input, &change()).await?.id)) }
    })
    .await?;
    eprintln!(
        "seeded {} people, {} credentials, {} access points, {} levels, {} grants in {:.1} s",
        person_ids.len(),
        policy.credentials.len(),
        points.len(),
        levels.len(),
        policy.grants.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(Seeded { points })
}
