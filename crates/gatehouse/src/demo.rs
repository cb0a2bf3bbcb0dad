//! The demo tenant: a residential community a newcomer can explore at once.
//!
//! Loaded by `gatehouse serve --demo`, once: if the tenant `demo` exists, nothing
//! is touched. The data is deterministic (no randomness), so every demo looks the same.

use anyhow::Context as _;
use chrono::Utc;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::people::{Metadata, NewPerson, PersonKind};
use gatehouse_domain::tenancy::*;
use gatehouse_domain::values::{Email, Name, Phone, Slug, TimeZone};
use gatehouse_domain::{ScheduleId, SiteId, TenantId, UnitId, ZoneId};
use gatehouse_store::{Store, StoreError};

pub const DEMO_SLUG: &str = "demo";
pub const DEMO_NAME: &str = "Jacaranda Gardens Residences";
/// Written once the whole demo is in, so a load cut short is told apart from a finished one.
const DEMO_COMPLETE_SETTING: &str = "demo_tenant_complete";
const DEMO_TIME_ZONE: &str = "America/Sao_Paulo";

/// Demo changes are recorded in the audit trail as made by the demo loader.
fn demo_change() -> ChangeContext {
    ChangeContext::system("demo loader", Utc::now())
}

/// What `load` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoOutcome {
    AlreadyLoaded(TenantId),
    /// The demo tenant exists but an earlier load stopped part-way; it is left as it is.
    Incomplete(TenantId),
    Loaded {
        tenant: TenantId,
        sites: usize,
        zones: usize,
        units: usize,
        access_points: usize,
        people: usize,
    },
}

const FIRST_NAMES: &[&str] = &[
    "Ana", "Bruno", "Carla", "Diego", "Elisa", "Felipe", "Gabriela", "Hugo", "Isabel", "João", "Karina", "Lucas", "Mariana",
    "Nicolás", "Olivia", "Pedro", "Quésia", "Rafael", "Sofia", "Tiago", "Úrsula", "Vitor", "Wen", "Yara", "Zoe", "Amir",
    "Beatriz", "Chen", "Daniela", "Emeka", "Fatima", "Giulia", "Hana", "Igor", "Jun", "Leila",
];
const LAST_NAMES: &[&str] = &[
    "Souza",
    "Oliveira",
    "Santos",
    "Pereira",
    "Costa",
    "Almeida",
    "Ferreira",
    "Rodrigues",
    "Lima",
    "Gomes",
    "Carvalho",
    "Ribeiro",
    "Martins",
    "Rocha",
    "Tanaka",
    "Nakamura",
    "Haddad",
    "Okafor",
    "Müller",
    "Rossi",
];

struct Layout<'a> {
    store: &'a dyn Store,
    tenant: TenantId,
    zones: usize,
    units: Vec<UnitId>,
    access_points: usize,
}

impl Layout<'_> {
    async fn site(&mut self, name: &str) -> anyhow::Result<SiteId> {
        let new = NewSite { name: Name::parse(name)?, time_zone: TimeZone::parse(DEMO_TIME_ZONE)? };
        Ok(self.store.site_create(self.tenant, &new, &demo_change()).await?.id)
    }

    async fn zone(&mut self, site: SiteId, parent: Option<ZoneId>, name: &str, kind: ZoneKind) -> anyhow::Result<ZoneId> {
        let new = NewZone { site_id: site, parent_id: parent, name: Name::parse(name)?, kind };
        self.zones += 1;
        Ok(self.store.zone_create(self.tenant, &new, &demo_change()).await?.id)
    }

    async fn unit(&mut self, zone: ZoneId, name: &str) -> anyhow::Result<()> {
        let new = NewUnit { zone_id: zone, name: Name::parse(name)? };
        self.units.push(self.store.unit_create(self.tenant, &new, &demo_change()).await?.id);
        Ok(())
    }

    async fn access_point(&mut self, zone: ZoneId, name: &str, kind: AccessPointKind) -> anyhow::Result<()> {
        let new = NewAccessPoint { zone_id: zone, name: Name::parse(name)?, kind };
        self.store.access_point_create(self.tenant, &new, &demo_change()).await?;
        self.access_points += 1;
        Ok(())
    }

    /// A residential tower: floors of four apartments, a lobby door and a service door.
    async fn tower(&mut self, site: SiteId, letter: &str, floors: u32) -> anyhow::Result<ZoneId> {
        use AccessPointKind::*;
        let tower = self.zone(site, None, &format!("Tower {letter}"), ZoneKind::Building).await?;
        let lobby = self.zone(site, Some(tower), &format!("Lobby {letter}"), ZoneKind::Area).await?;
        self.access_point(lobby, &format!("Tower {letter} lobby door"), Door).await?;
        self.access_point(lobby, &format!("Tower {letter} service door"), Door).await?;
        for floor in 1..=floors {
            let floor_zone = self.zone(site, Some(tower), &format!("Floor {floor}"), ZoneKind::Floor).await?;
            for apartment in 1..=4 {
                self.unit(floor_zone, &format!("{letter}-{floor}0{apartment}")).await?;
            }
        }
        Ok(tower)
    }
}

/// Loads the demo tenant unless it is already there.
pub async fn load(store: &dyn Store) -> anyhow::Result<DemoOutcome> {
    match store.tenant_get_by_slug(DEMO_SLUG).await {
        Ok(tenant) if store.setting_get(DEMO_COMPLETE_SETTING).await?.is_some() => {
            return Ok(DemoOutcome::AlreadyLoaded(tenant.id))
        }
        Ok(tenant) => return Ok(DemoOutcome::Incomplete(tenant.id)),
        Err(StoreError::NotFound) => {}
        Err(err) => return Err(err).context("cannot look up the demo tenant"),
    }
    let new = NewTenant { name: Name::parse(DEMO_NAME)?, slug: Slug::parse(DEMO_SLUG)? };
    let tenant = match store.tenant_create(&new, &demo_change()).await {
        Ok(tenant) => tenant.id,
        // Another node loaded it between our look-up and our insert.
        Err(StoreError::Conflict { .. }) => return Ok(DemoOutcome::AlreadyLoaded(store.tenant_get_by_slug(DEMO_SLUG).await?.id)),
        Err(err) => return Err(err).context("cannot create the demo tenant"),
    };
    let mut layout = Layout { store, tenant, zones: 0, units: Vec::new(), access_points: 0 };
    build_north(&mut layout).await.context("cannot build the North Campus")?;
    build_south(&mut layout).await.context("cannot build the South Campus")?;

    let people = demo_people(&layout.units)?;
    store.people_insert_all(tenant, &people, &demo_change(), &|_| {}).await.context("cannot add the demo people")?;
    access_policy(store, tenant).await.context("cannot add the demo access policy")?;
    store.setting_put(DEMO_COMPLETE_SETTING, &tenant.to_string(), &demo_change()).await?;
    Ok(DemoOutcome::Loaded {
        tenant,
        sites: 2,
        zones: layout.zones,
        units: layout.units.len(),
        access_points: layout.access_points,
        people: people.len(),
    })
}

async fn build_north(layout: &mut Layout<'_>) -> anyhow::Result<()> {
    use AccessPointKind::*;
    let site = layout.site("North Campus").await?;
    let entrance = layout.zone(site, None, "North Entrance", ZoneKind::Area).await?;
    layout.access_point(entrance, "Main pedestrian gate", Gate).await?;
    layout.access_point(entrance, "Vehicle barrier in", Barrier).await?;
    layout.access_point(entrance, "Vehicle barrier out", Barrier).await?;
    layout.access_point(entrance, "Concierge turnstile", Turnstile).await?;
    let tower_a = layout.tower(site, "A", 6).await?;
    layout.tower(site, "B", 6).await?;
    let garage = layout.zone(site, None, "North Garage", ZoneKind::Parking).await?;
    layout.access_point(garage, "Garage door", Door).await?;
    layout.access_point(garage, "Garage elevator, level G1", ElevatorFloor).await?;
    layout.access_point(tower_a, "Tower A elevator, rooftop", ElevatorFloor).await?;
    let leisure = layout.zone(site, None, "Leisure Area", ZoneKind::Area).await?;
    let pool = layout.zone(site, Some(leisure), "Pool", ZoneKind::Area).await?;
    layout.access_point(pool, "Pool gate", Gate).await?;
    let gym = layout.zone(site, Some(leisure), "Gym", ZoneKind::Area).await?;
    layout.access_point(gym, "Gym door", Door).await?;
    let playground = layout.zone(site, Some(leisure), "Playground", ZoneKind::Area).await?;
    layout.access_point(playground, "Playground gate", Gate).await?;
    Ok(())
}

async fn build_south(layout: &mut Layout<'_>) -> anyhow::Result<()> {
    use AccessPointKind::*;
    let site = layout.site("South Campus").await?;
    let entrance = layout.zone(site, None, "South Entrance", ZoneKind::Area).await?;
    layout.access_point(entrance, "South gate", Gate).await?;
    layout.access_point(entrance, "South vehicle barrier", Barrier).await?;
    layout.tower(site, "C", 5).await?;
    let villas = layout.zone(site, None, "Villas", ZoneKind::Building).await?;
    layout.access_point(villas, "Villas gate", Gate).await?;
    for house in 1..=12 {
        layout.unit(villas, &format!("Villa {house}")).await?;
    }
    let clubhouse = layout.zone(site, None, "Clubhouse", ZoneKind::Area).await?;
    layout.access_point(clubhouse, "Clubhouse door", Door).await?;
    let courts = layout.zone(site, Some(clubhouse), "Tennis courts", ZoneKind::Area).await?;
    layout.access_point(courts, "Tennis court gate", Gate).await?;
    let parking = layout.zone(site, None, "South Parking", ZoneKind::Parking).await?;
    layout.access_point(parking, "South parking barrier", Barrier).await?;
    Ok(())
}

/// Schedules, levels, grants and one card per person (facility 17, numbers from 10001),
/// so `POST /api/v1/access/decide` has something to decide at once.
async fn access_policy(store: &dyn Store, tenant: TenantId) -> anyhow::Result<()> {
    use gatehouse_access::credential::{card_key, CredentialKind, CredentialStatus};
    use gatehouse_access::policy::*;
    use gatehouse_access::schedule::{ClockTime, DayCode, Holiday, Interval};
    use gatehouse_store::{PageRequest, PersonFilter, ZoneFilter};
    use DayCode::*;

    let change = demo_change();
    let interval = |days: &[DayCode], start: &str, end: &str| -> anyhow::Result<Interval> {
        Ok(Interval { days: days.to_vec(), start: ClockTime::parse(start)?, end: ClockTime::parse(end)? })
    };
    let holidays = [
        (1, 1, "New Year"),
        (4, 21, "Tiradentes"),
        (5, 1, "Labour Day"),
        (9, 7, "Independence"),
        (11, 15, "Republic"),
        (12, 25, "Christmas"),
    ];
    let days = holidays
        .iter()
        .map(|&(month, day, name)| {
            let date = chrono::NaiveDate::from_ymd_opt(2026, month, day).context("a valid holiday")?;
            Ok(Holiday { date, name: Some(name.to_owned()), recurring: true })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let calendar = store
        .holiday_calendar_create(tenant, &NewHolidayCalendar { name: Name::parse("National holidays")?, days }, &change)
        .await?;
    let every_day = [Mon, Tue, Wed, Thu, Fri, Sat, Sun, Hol];
    let schedule = |name: &str, intervals: Vec<Interval>, holidays| NewSchedule {
        name: Name::parse(name).unwrap_or_else(|_| unreachable!("demo names are valid")),
        time_zone: None,
        intervals,
        exceptions: Vec::new(),
        holiday_calendar_id: holidays,
    };
    let pool_hours = store
        .schedule_create(
            tenant,
            &schedule(
                "Pool hours",
                vec![interval(&[Mon, Tue, Wed, Thu, Fri, Sat, Sun], "07:00", "22:00")?, interval(&[Hol], "09:00", "18:00")?],
                Some(calendar.id),
            ),
            &change,
        )
        .await?;
    let staff_shifts = store
        .schedule_create(
            tenant,
            &schedule(
                "Staff shifts",
                vec![interval(&[Mon, Tue, Wed, Thu, Fri], "06:00", "22:00")?, interval(&[Sat], "22:00", "06:00")?],
                Some(calendar.id),
            ),
            &change,
        )
        .await?;
    let always =
        store.schedule_create(tenant, &schedule("Always", vec![interval(&every_day, "00:00", "24:00")?], None), &change).await?;

    let zones =
        store.zone_list(tenant, &ZoneFilter { top_level: true, ..ZoneFilter::default() }, PageRequest::first(500)).await?.items;
    let all = store.zone_list(tenant, &ZoneFilter::default(), PageRequest::first(500)).await?.items;
    let named = |name: &str| all.iter().find(|zone| zone.name.as_str() == name).map(|zone| zone.id).context("a demo zone");
    let mut resident_entries: Vec<LevelEntry> = zones
        .iter()
        .filter(|zone| zone.name.as_str() != "Leisure Area")
        .map(|zone| LevelEntry { access_point_id: None, zone_id: Some(zone.id), schedule_id: Some(always.id) })
        .collect();
    resident_entries.push(LevelEntry {
        access_point_id: None,
        zone_id: Some(named("Leisure Area")?),
        schedule_id: Some(pool_hours.id),
    });
    let everywhere = |schedule: ScheduleId| -> Vec<LevelEntry> {
        zones
            .iter()
            .map(|zone| LevelEntry { access_point_id: None, zone_id: Some(zone.id), schedule_id: Some(schedule) })
            .collect()
    };
    let level = |name: &str, entries, exempt| NewAccessLevel {
        name: Name::parse(name).unwrap_or_else(|_| unreachable!("demo names are valid")),
        entries,
        lockdown_exempt: exempt,
        door_override: exempt,
    };
    let residents = store.access_level_create(tenant, &level("Residents", resident_entries, false), &change).await?;
    let staff = store.access_level_create(tenant, &level("Staff", everywhere(staff_shifts.id), false), &change).await?;
    let security = store.access_level_create(tenant, &level("Security", everywhere(always.id), true), &change).await?;

    let pool_rules =
        ZoneRules { anti_passback: AntiPassback::Soft, anti_passback_reset_s: Some(4 * 3600), occupancy_max: Some(40) };
    store.zone_rules_put(tenant, named("Pool")?, &pool_rules, &change).await?;

    let mut after = None;
    let mut number = 10_000u64;
    loop {
        let page = store.person_list(tenant, &PersonFilter::default(), PageRequest { limit: 500, after }).await?;
        for person in &page.items {
            let role = person.metadata.as_map().get("role").and_then(|role| role.as_str()).unwrap_or_default().to_owned();
            let level = match (person.kind, role.as_str()) {
                (PersonKind::Resident, _) => Some(residents.id),
                (PersonKind::Staff, "security guard") => Some(security.id),
                (PersonKind::Staff, _) => Some(staff.id),
                _ => None,
            };
            if let Some(level) = level {
                let grant = NewGrant {
                    person_id: Some(person.id),
                    group_id: None,
                    access_level_id: level,
                    valid_from: None,
                    valid_until: None,
                };
                store.grant_create(tenant, &grant, &change).await?;
            }
            number += 1;
            let card = CredentialInput {
                id: gatehouse_domain::CredentialId::generate(),
                person_id: person.id,
                kind: CredentialKind::Card,
                value: Some(number.to_string()),
                facility_code: Some(17),
                lookup_key: card_key(Some(17), number),
                status: CredentialStatus::Active,
                valid_from: None,
                valid_until: None,
                single_use: false,
            };
            store.credential_create(tenant, &card, &change).await?;
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

/// Two to four residents per unit, plus building staff and a few expected visitors.
fn demo_people(units: &[UnitId]) -> anyhow::Result<Vec<NewPerson>> {
    let mut people = Vec::new();
    let mut serial = 0usize;
    let mut person = |kind: PersonKind, unit: Option<UnitId>, family: &str, role: Option<&str>| -> anyhow::Result<NewPerson> {
        serial += 1;
        let first = FIRST_NAMES[(serial * 7) % FIRST_NAMES.len()];
        let ascii_first: String = first.chars().filter(char::is_ascii_alphabetic).collect::<String>().to_lowercase();
        let ascii_last: String = family.chars().filter(char::is_ascii_alphabetic).collect::<String>().to_lowercase();
        let metadata = match role {
            Some(role) => serde_json::json!({ "role": role }),
            None => serde_json::json!({}),
        };
        Ok(NewPerson {
            kind,
            first_name: Name::parse(first)?,
            last_name: Some(Name::parse(family)?),
            email: Some(Email::parse(&format!("{ascii_first}.{ascii_last}.{serial}@example.com"))?),
            phone: Some(Phone::parse(&format!("+55 11 9{:04} {:04}", 1000 + serial, (serial * 37) % 10_000))?),
            unit_id: unit,
            external_id: None,
            status: None,
            metadata: Some(Metadata::try_from(metadata)?),
        })
    };
    for (index, unit) in units.iter().enumerate() {
        let family = LAST_NAMES[index % LAST_NAMES.len()];
        for _ in 0..(2 + index % 3) {
            people.push(person(PersonKind::Resident, Some(*unit), family, None)?);
        }
    }
    for (family, role) in [
        ("Silva", "concierge"),
        ("Moraes", "security guard"),
        ("Barros", "security guard"),
        ("Teixeira", "maintenance"),
        ("Campos", "cleaning"),
        ("Duarte", "property manager"),
    ] {
        people.push(person(PersonKind::Staff, None, family, Some(role))?);
    }
    for family in ["Vieira", "Pinto", "Mendes", "Araújo"] {
        people.push(person(PersonKind::Visitor, None, family, None)?);
    }
    Ok(people)
}
