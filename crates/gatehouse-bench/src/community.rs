//! The engine benchmark's community, generated from a seed (rand 0.8 `StdRng`), and the
//! requests decided against it.
//!
//! One tenant with one site in Europe/Madrid: an estate zone holding 20 buildings of 5
//! floors and 10 amenity areas; 500 access points (2 entrances per building, 4 doors per
//! floor, 6 per amenity); one holiday calendar of 12 days around the benchmark week
//! (Monday 2026-12-21 to Sunday 2026-12-27, local); 20 schedules (office hours, evenings,
//! weekends, 24/7, night shifts spanning midnight, several with `hol` intervals); 200 access
//! levels of 1 to 5 entries; 10,000 people (300 suspended), each with 1 to 3 direct grants
//! (some time-bounded), 500 households holding a household level, 50 people on the deny list,
//! and 20,000 credentials (15,000 cards of facility 17, PINs, plates, mobile keys; a few
//! suspended, lost, expired or outside their window).
//!
//! Zones have no anti-passback or occupancy limits, doors are in `normal` mode (no card-plus-PIN
//! readers), there is no lockdown, schedules have no one-off exceptions and group grants are not
//! time-bounded: the peers' translations (see `peers/`) cover exactly this subset of Gatehouse's
//! policy, and refuse a policy outside it. Presence is still recorded on every granted entry.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;
use gatehouse_access::credential::{card_key, mobile_key, normalize_plate, CredentialKind, CredentialStatus, TenantKeys};
use gatehouse_access::policy::{
    AccessLevel, CredentialEntry, Denial, DoorSettings, Grant, HolidayCalendar, LevelEntry, PointPlace, Policy, Schedule,
    ZonePlace, ZoneRules,
};
use gatehouse_access::schedule::{ClockTime, DayCode, Holiday, Interval};
use gatehouse_domain::people::PersonStatus;
use gatehouse_domain::values::{Name, TimeZone};
use gatehouse_domain::{
    AccessLevelId, AccessPointId, CredentialId, DenialId, GrantId, GroupId, HolidayCalendarId, PersonId, ScheduleId, SiteId,
    TenantId, ZoneId,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

/// The facility code of every card.
pub const FACILITY: u32 = 17;
/// The master key the tenant's PIN and QR keys are derived from.
pub const MASTER_KEY: [u8; 32] = [7u8; 32];
/// How many requests the benchmark decides by default.
pub const REQUESTS_DEFAULT: usize = 1_000_000;

const BUILDINGS: usize = 20;
const FLOORS: usize = 5;
const AMENITIES: [&str; 10] =
    ["pool", "gym", "garage", "laundry", "rooftop", "playground", "storage", "bike room", "coworking", "party room"];
const ENTRANCES_PER_BUILDING: usize = 2;
const DOORS_PER_FLOOR: usize = 4;
const DOORS_PER_AMENITY: usize = 6;
const LEVELS: usize = 200;
const PEOPLE: usize = 10_000;
const SUSPENDED_PEOPLE: usize = 300;
const HOUSEHOLDS: usize = 500;
const DENIED_PEOPLE: usize = 50;
const CARDS: usize = 15_000;
const PINS: usize = 2_000;
const PLATES: usize = 1_500;
const MOBILES: usize = 1_500;

/// What a reader hands over, already parsed (card numbers as integers).
#[derive(Debug, Clone)]
pub enum Presentation {
    /// A facility-17 card.
    Card(u64),
    Pin(String),
    /// As typed or read, not normalised.
    Plate(String),
    /// The mobile token in clear.
    Mobile(String),
}

/// One access request: credential presented at an access point, going in, at an instant.
#[derive(Debug, Clone)]
pub struct BenchRequest {
    pub point: AccessPointId,
    pub presented: Presentation,
    pub at: DateTime<Utc>,
}

/// What the request generator knows about the people and their credentials.
struct Issued {
    /// Per credential kind: the presented forms of the issued credentials, with their holder.
    cards: Vec<(u64, usize)>,
    pins: Vec<(String, usize)>,
    plates: Vec<(String, usize)>,
    mobiles: Vec<(String, usize)>,
    card_numbers: HashSet<u64>,
    pin_values: HashSet<String>,
    plate_values: HashSet<String>,
    /// Per person: the access points their levels cover (any schedule).
    reachable: Vec<Vec<usize>>,
}

/// The generated community: the policy Gatehouse compiles, and what requests draw from.
pub struct Community {
    pub policy: Policy,
    pub time_zone: Tz,
    /// The benchmark week, `[start, end)`, Monday 00:00 to Monday 00:00 local.
    pub week: (DateTime<Utc>, DateTime<Utc>),
    pub summary: String,
    issued: Issued,
}

fn id(rng: &mut StdRng) -> Uuid {
    Uuid::from_u128(rng.gen())
}

fn name(text: &str) -> anyhow::Result<Name> {
    Name::parse(text).map_err(|err| anyhow::anyhow!("name {text:?}: {err}"))
}

fn clock(text: &str) -> anyhow::Result<ClockTime> {
    ClockTime::parse(text).map_err(|err| anyhow::anyhow!("time {text:?}: {err}"))
}

fn date(text: &str) -> anyhow::Result<NaiveDate> {
    text.parse().with_context(|| format!("date {text:?}"))
}

/// `(days, start, end)` rows of one schedule, with whether it follows the holiday calendar.
type Plan = (&'static str, bool, &'static [(&'static [DayCode], &'static str, &'static str)]);

const WEEKDAYS: &[DayCode] = &[DayCode::Mon, DayCode::Tue, DayCode::Wed, DayCode::Thu, DayCode::Fri];
const WEEKEND: &[DayCode] = &[DayCode::Sat, DayCode::Sun];
const EVERY_DAY: &[DayCode] = &[DayCode::Mon, DayCode::Tue, DayCode::Wed, DayCode::Thu, DayCode::Fri, DayCode::Sat, DayCode::Sun];
const EVERY_DAY_AND_HOLIDAYS: &[DayCode] =
    &[DayCode::Mon, DayCode::Tue, DayCode::Wed, DayCode::Thu, DayCode::Fri, DayCode::Sat, DayCode::Sun, DayCode::Hol];
const HOLIDAYS_ONLY: &[DayCode] = &[DayCode::Hol];

/// The 20 schedules: office hours, evenings, weekends, 24/7, spans over midnight, `hol` intervals.
const PLANS: [Plan; 20] = [
    ("office hours", false, &[(WEEKDAYS, "08:00", "18:00")]),
    ("office hours, closed on holidays", true, &[(WEEKDAYS, "08:00", "18:00")]),
    ("office extended", true, &[(WEEKDAYS, "07:00", "20:00"), (&[DayCode::Sat], "09:00", "14:00")]),
    ("evenings", false, &[(WEEKDAYS, "18:00", "23:00")]),
    ("weekends", false, &[(WEEKEND, "00:00", "24:00")]),
    ("always (weekly)", false, &[(EVERY_DAY, "00:00", "24:00")]),
    ("always, holidays too", true, &[(EVERY_DAY_AND_HOLIDAYS, "00:00", "24:00")]),
    ("night shift", false, &[(EVERY_DAY, "22:00", "06:00")]),
    ("weeknight shift, not on holidays", true, &[(WEEKDAYS, "22:00", "06:00")]),
    ("pool", true, &[(WEEKDAYS, "07:00", "22:00"), (WEEKEND, "09:00", "21:00"), (HOLIDAYS_ONLY, "10:00", "14:00")]),
    ("gym", true, &[(EVERY_DAY, "06:00", "23:00"), (HOLIDAYS_ONLY, "08:00", "20:00")]),
    ("garage cleaning", false, &[(&[DayCode::Tue, DayCode::Thu], "10:00", "12:00")]),
    (
        "cleaning staff",
        true,
        &[
            (&[DayCode::Mon, DayCode::Tue, DayCode::Wed, DayCode::Thu, DayCode::Fri, DayCode::Sat], "05:00", "09:00"),
            (&[DayCode::Mon, DayCode::Tue, DayCode::Wed, DayCode::Thu, DayCode::Fri, DayCode::Sat], "19:00", "23:00"),
        ],
    ),
    ("deliveries", false, &[(WEEKDAYS, "09:00", "13:00"), (WEEKDAYS, "15:00", "17:00")]),
    ("maintenance", true, &[(WEEKDAYS, "08:00", "16:00"), (HOLIDAYS_ONLY, "09:00", "13:00")]),
    ("residents, daytime", false, &[(EVERY_DAY, "06:00", "24:00")]),
    (
        "security nights",
        true,
        &[
            (&[DayCode::Sun, DayCode::Mon, DayCode::Tue, DayCode::Wed, DayCode::Thu], "20:00", "08:00"),
            (&[DayCode::Fri, DayCode::Sat], "18:00", "10:00"),
            (HOLIDAYS_ONLY, "18:00", "10:00"),
        ],
    ),
    ("weekend and holiday mornings", true, &[(&[DayCode::Sat, DayCode::Sun, DayCode::Hol], "08:00", "14:00")]),
    ("school hours", true, &[(WEEKDAYS, "08:30", "14:30")]),
    ("concierge", false, &[(EVERY_DAY, "07:00", "23:00")]),
];

/// `(date, recurring)`: recurring days are written in another year so the yearly match is exercised.
const HOLIDAYS: [(&str, bool); 12] = [
    ("2020-05-01", true),
    ("2020-10-12", true),
    ("2020-11-01", true),
    ("2020-12-06", true),
    ("2020-12-08", true),
    // The Sunday before the week: its `hol` night intervals spill into Monday morning.
    ("2026-12-20", false),
    ("2026-12-24", false),
    ("2020-12-25", true),
    ("2026-12-26", false),
    ("2026-12-31", false),
    ("2020-01-01", true),
    ("2020-01-06", true),
];

impl Community {
    pub fn generate(seed: u64) -> anyhow::Result<Community> {
        let mut rng = StdRng::seed_from_u64(seed);
        let time_zone = chrono_tz::Europe::Madrid;
        let week_start_local = date("2026-12-21")?.and_hms_opt(0, 0, 0).context("midnight")?;
        let week_start = time_zone.from_local_datetime(&week_start_local).single().context("week start")?.with_timezone(&Utc);
        let week_end = week_start + Duration::days(7);
        let created = week_start - Duration::days(60);

        let tenant = TenantId::from_uuid(id(&mut rng));
        let keys = TenantKeys::derive(&MASTER_KEY, tenant);
        let mut policy = Policy::empty(tenant, keys.clone());
        let site = SiteId::from_uuid(id(&mut rng));
        policy.sites.push((site, time_zone));

        // Zones: the estate, its buildings and their floors, and the amenities.
        let mut zone = |parent: Option<ZoneId>, rng: &mut StdRng| {
            let zone =
                ZonePlace { id: ZoneId::from_uuid(id(rng)), site_id: site, parent_id: parent, rules: ZoneRules::default() };
            let zone_id = zone.id;
            policy.zones.push(zone);
            zone_id
        };
        let estate = zone(None, &mut rng);
        let mut buildings = Vec::new();
        let mut floors = Vec::new();
        for _ in 0..BUILDINGS {
            let building = zone(Some(estate), &mut rng);
            buildings.push(building);
            for _ in 0..FLOORS {
                floors.push((zone(Some(building), &mut rng), building));
            }
        }
        let amenities: Vec<ZoneId> = AMENITIES.iter().map(|_| zone(Some(estate), &mut rng)).collect();

        // Access points, and which points each zone's subtree holds.
        let mut under: HashMap<ZoneId, Vec<usize>> = HashMap::new();
        let mut add_point = |zone_id: ZoneId, ancestors: &[ZoneId], rng: &mut StdRng| {
            let index = policy.points.len();
            policy.points.push(PointPlace { id: AccessPointId::from_uuid(id(rng)), zone_id, door: DoorSettings::default() });
            for zone in std::iter::once(&zone_id).chain(ancestors) {
                under.entry(*zone).or_default().push(index);
            }
        };
        for &building in &buildings {
            for _ in 0..ENTRANCES_PER_BUILDING {
                add_point(building, &[estate], &mut rng);
            }
        }
        for &(floor, building) in &floors {
            for _ in 0..DOORS_PER_FLOOR {
                add_point(floor, &[building, estate], &mut rng);
            }
        }
        for &amenity in &amenities {
            for _ in 0..DOORS_PER_AMENITY {
                add_point(amenity, &[estate], &mut rng);
            }
        }

        // The holiday calendar and the schedules.
        let calendar = HolidayCalendarId::from_uuid(id(&mut rng));
        policy.holidays.push(HolidayCalendar {
            id: calendar,
            tenant_id: tenant,
            name: name("Madrid holidays")?,
            days: HOLIDAYS
                .iter()
                .map(|&(day, recurring)| Ok(Holiday { date: date(day)?, name: None, recurring }))
                .collect::<anyhow::Result<_>>()?,
            created_at: created,
            updated_at: created,
        });
        for (plan_name, uses_calendar, rows) in PLANS {
            let intervals = rows
                .iter()
                .map(|&(days, start, end)| Ok(Interval { days: days.to_vec(), start: clock(start)?, end: clock(end)? }))
                .collect::<anyhow::Result<Vec<_>>>()?;
            gatehouse_access::schedule::check_plan(&intervals, &[]).map_err(|err| anyhow::anyhow!("{plan_name}: {err}"))?;
            policy.schedules.push(Schedule {
                id: ScheduleId::from_uuid(id(&mut rng)),
                tenant_id: tenant,
                name: name(plan_name)?,
                time_zone: None,
                intervals,
                exceptions: Vec::new(),
                holiday_calendar_id: uses_calendar.then_some(calendar),
                created_at: created,
                updated_at: created,
            });
        }
        // The site's zone written explicitly on one schedule: the same as the site's.
        if let Some(schedule) = policy.schedules.get_mut(19) {
            schedule.time_zone = Some(TimeZone::parse("Europe/Madrid").map_err(|err| anyhow::anyhow!("{err}"))?);
        }

        // Access levels: 1 to 5 entries, each a zone (building, floor, amenity, rarely the
        // whole estate) or one access point, on a schedule or always.
        let mut level_points: Vec<Vec<usize>> = Vec::with_capacity(LEVELS);
        for index in 0..LEVELS {
            let mut entries = Vec::new();
            let mut covered = Vec::new();
            for _ in 0..rng.gen_range(1..=5) {
                let schedule_id =
                    if rng.gen_bool(0.25) { None } else { policy.schedules.choose(&mut rng).map(|schedule| schedule.id) };
                let roll = rng.gen_range(0..100);
                let (zone_id, point) = if roll < 45 {
                    (buildings.choose(&mut rng).copied(), None)
                } else if roll < 70 {
                    (floors.choose(&mut rng).map(|&(floor, _)| floor), None)
                } else if roll < 85 {
                    (amenities.choose(&mut rng).copied(), None)
                } else if roll < 99 {
                    (None, Some(rng.gen_range(0..policy.points.len())))
                } else {
                    (Some(estate), None)
                };
                match (zone_id, point) {
                    (Some(zone_id), _) => covered.extend(under.get(&zone_id).into_iter().flatten().copied()),
                    (None, Some(point)) => covered.push(point),
                    (None, None) => {}
                }
                entries.push(LevelEntry { access_point_id: point.map(|point| policy.points[point].id), zone_id, schedule_id });
            }
            covered.sort_unstable();
            covered.dedup();
            level_points.push(covered);
            policy.levels.push(AccessLevel {
                id: AccessLevelId::from_uuid(id(&mut rng)),
                tenant_id: tenant,
                name: name(&format!("level {index}"))?,
                entries,
                lockdown_exempt: false,
                door_override: false,
                created_at: created,
                updated_at: created,
            });
        }

        // People: a few hundred suspended.
        let mut statuses = vec![PersonStatus::Active; PEOPLE];
        for person in rand::seq::index::sample(&mut rng, PEOPLE, SUSPENDED_PEOPLE) {
            statuses[person] = PersonStatus::Suspended;
        }
        let people: Vec<PersonId> = (0..PEOPLE).map(|_| PersonId::from_uuid(id(&mut rng))).collect();
        policy.people = people.iter().copied().zip(statuses).collect();

        // Direct grants: 1 to 3 distinct levels each; about one in twelve bounded in time
        // (ending, starting or both inside the week, or long over).
        let mut reachable: Vec<Vec<usize>> = vec![Vec::new(); PEOPLE];
        for (person, &person_id) in people.iter().enumerate() {
            let count = rng.gen_range(1..=3);
            for level in rand::seq::index::sample(&mut rng, LEVELS, count) {
                let mut from = None;
                let mut until = None;
                if rng.gen_bool(0.08) {
                    let inside = |rng: &mut StdRng| week_start + Duration::minutes(rng.gen_range(0..7 * 24 * 60));
                    match rng.gen_range(0..4) {
                        0 => until = Some(inside(&mut rng)),
                        1 => from = Some(inside(&mut rng)),
                        2 => {
                            let (a, b) = (inside(&mut rng), inside(&mut rng));
                            from = Some(a.min(b));
                            until = Some(a.max(b) + Duration::minutes(1));
                        }
                        _ => {
                            from = Some(week_start - Duration::days(40));
                            until = Some(week_start - Duration::days(10));
                        }
                    }
                }
                let access_level_id = policy.levels[level].id;
                policy.grants.push(Grant {
                    id: GrantId::from_uuid(id(&mut rng)),
                    tenant_id: tenant,
                    person_id: Some(person_id),
                    group_id: None,
                    access_level_id,
                    valid_from: from,
                    valid_until: until,
                    created_at: created,
                });
                reachable[person].extend_from_slice(&level_points[level]);
            }
        }

        // Households: groups of 2 to 6 people, each holding one of the first 40 levels.
        let mut order: Vec<usize> = (0..PEOPLE).collect();
        order.shuffle(&mut rng);
        let mut next = 0;
        for _ in 0..HOUSEHOLDS {
            let size = rng.gen_range(2..=6);
            let members: Vec<usize> = order[next..next + size].to_vec();
            next += size;
            let group = GroupId::from_uuid(id(&mut rng));
            let level = rng.gen_range(0..40);
            policy.groups.push((group, members.iter().map(|&member| people[member]).collect()));
            let access_level_id = policy.levels[level].id;
            policy.grants.push(Grant {
                id: GrantId::from_uuid(id(&mut rng)),
                tenant_id: tenant,
                person_id: None,
                group_id: Some(group),
                access_level_id,
                valid_from: None,
                valid_until: None,
                created_at: created,
            });
            for member in members {
                reachable[member].extend_from_slice(&level_points[level]);
            }
        }
        for points in &mut reachable {
            points.sort_unstable();
            points.dedup();
        }

        // The deny list: most for good, some ending during the week.
        for (index, person) in rand::seq::index::sample(&mut rng, PEOPLE, DENIED_PEOPLE).into_iter().enumerate() {
            policy.denials.push(Denial {
                id: DenialId::from_uuid(id(&mut rng)),
                tenant_id: tenant,
                person_id: people[person],
                reason: "benchmark".into(),
                valid_until: (index % 5 == 0).then(|| week_start + Duration::minutes(rng.gen_range(0..7 * 24 * 60))),
                created_at: created,
            });
        }

        // Credentials: every person has a card, then more cards, PINs, plates and mobile keys.
        let mut issued = Issued {
            cards: Vec::new(),
            pins: Vec::new(),
            plates: Vec::new(),
            mobiles: Vec::new(),
            card_numbers: HashSet::new(),
            pin_values: HashSet::new(),
            plate_values: HashSet::new(),
            reachable,
        };
        let total = CARDS + PINS + PLATES + MOBILES;
        for index in 0..total {
            let person = if index < PEOPLE { index } else { rng.gen_range(0..PEOPLE) };
            let (kind, lookup_key) = if index < CARDS {
                let number = loop {
                    let number = rng.gen_range(100_000..10_000_000u64);
                    if issued.card_numbers.insert(number) {
                        break number;
                    }
                };
                issued.cards.push((number, person));
                (CredentialKind::Card, card_key(Some(FACILITY), number))
            } else if index < CARDS + PINS {
                let pin = loop {
                    let pin = rng.gen_range(100_000..1_000_000u32).to_string();
                    if issued.pin_values.insert(pin.clone()) {
                        break pin;
                    }
                };
                let key = keys.pin_key(&pin);
                issued.pins.push((pin, person));
                (CredentialKind::Pin, key)
            } else if index < CARDS + PINS + PLATES {
                let (plate, shown) = loop {
                    let digits = rng.gen_range(0..10_000u32);
                    let letters: String = (0..3).map(|_| char::from(b"BCDFGHJKLMNPRSTVWXYZ"[rng.gen_range(0..20)])).collect();
                    let shown = match rng.gen_range(0..3) {
                        0 => format!("{digits:04}{letters}"),
                        1 => format!("{digits:04}-{}", letters.to_lowercase()),
                        _ => format!("{digits:04} {letters}"),
                    };
                    let plate = normalize_plate(&shown).map_err(|err| anyhow::anyhow!("{err}"))?;
                    if issued.plate_values.insert(plate.clone()) {
                        break (plate, shown);
                    }
                };
                issued.plates.push((shown, person));
                (CredentialKind::Plate, plate)
            } else {
                let token: String = format!("mk_{:032x}", rng.gen::<u128>());
                let key = mobile_key(&token);
                issued.mobiles.push((token, person));
                (CredentialKind::Mobile, key)
            };
            let roll = rng.gen_range(0..1000);
            let status = match roll {
                0..=9 => CredentialStatus::Suspended,
                10..=14 => CredentialStatus::Lost,
                15..=19 => CredentialStatus::Expired,
                _ => CredentialStatus::Active,
            };
            let inside = week_start + Duration::minutes(rng.gen_range(0..7 * 24 * 60));
            let (valid_from, valid_until) = match roll {
                20..=29 => (None, Some(inside)),
                30..=34 => (Some(inside), None),
                _ => (None, None),
            };
            policy.credentials.push(CredentialEntry {
                id: CredentialId::from_uuid(id(&mut rng)),
                person_id: people[person],
                kind,
                lookup_key,
                status,
                valid_from,
                valid_until,
                single_use: false,
                used: false,
            });
        }

        let entries: usize = policy.levels.iter().map(|level| level.entries.len()).sum();
        let timed = policy.grants.iter().filter(|grant| grant.valid_from.is_some() || grant.valid_until.is_some()).count();
        let n = |count: usize| thousands(count as f64);
        let summary = format!(
            "1 tenant, 1 site (Europe/Madrid), {} zones (estate > {BUILDINGS} buildings x {FLOORS} floors, {} amenities), {} access points, \
             {} schedules, 1 holiday calendar of {} days, {} access levels ({} entries), {} people ({} suspended, \
             {DENIED_PEOPLE} on the deny list), {} grants ({} time-bounded, {HOUSEHOLDS} to households), {} credentials \
             ({} cards, {} PINs, {} plates, {} mobile keys)",
            policy.zones.len(),
            AMENITIES.len(),
            policy.points.len(),
            policy.schedules.len(),
            HOLIDAYS.len(),
            policy.levels.len(),
            entries,
            n(policy.people.len()),
            SUSPENDED_PEOPLE,
            n(policy.grants.len()),
            n(timed),
            n(policy.credentials.len()),
            n(CARDS),
            n(PINS),
            n(PLATES),
            n(MOBILES),
        );
        Ok(Community { policy, time_zone, week: (week_start, week_end), summary, issued })
    }

    /// `count` requests, deterministic in `seed`: 88% cards (3% of them unknown numbers),
    /// 4% each PINs, plates and mobile keys (5% unknown); three in four at a door one of the
    /// holder's levels covers, the rest anywhere; at a random second of the week.
    pub fn requests(&self, seed: u64, count: usize) -> anyhow::Result<Vec<BenchRequest>> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED_0F2E_9E57);
        let issued = &self.issued;
        let points = &self.policy.points;
        let (start, end) = self.week;
        let seconds = (end - start).num_seconds();
        let mut requests = Vec::with_capacity(count);
        for _ in 0..count {
            let roll = rng.gen_range(0..100);
            let unknown = rng.gen_range(0..100);
            let (presented, holder) = if roll < 88 {
                if unknown < 3 {
                    let number = loop {
                        let number = rng.gen_range(100_000..10_000_000u64);
                        if !issued.card_numbers.contains(&number) {
                            break number;
                        }
                    };
                    (Presentation::Card(number), None)
                } else {
                    let &(number, person) = issued.cards.choose(&mut rng).context("no cards")?;
                    (Presentation::Card(number), Some(person))
                }
            } else if roll < 92 {
                if unknown < 5 {
                    let pin = loop {
                        let pin = rng.gen_range(100_000..1_000_000u32).to_string();
                        if !issued.pin_values.contains(&pin) {
                            break pin;
                        }
                    };
                    (Presentation::Pin(pin), None)
                } else {
                    let (pin, person) = issued.pins.choose(&mut rng).context("no PINs")?;
                    (Presentation::Pin(pin.clone()), Some(*person))
                }
            } else if roll < 96 {
                if unknown < 5 {
                    (Presentation::Plate(format!("{:04}-QQQ", rng.gen_range(0..10_000))), None)
                } else {
                    let (plate, person) = issued.plates.choose(&mut rng).context("no plates")?;
                    (Presentation::Plate(plate.clone()), Some(*person))
                }
            } else if unknown < 5 {
                (Presentation::Mobile(format!("mk_unknown_{:016x}", rng.gen::<u64>())), None)
            } else {
                let (token, person) = issued.mobiles.choose(&mut rng).context("no mobile keys")?;
                (Presentation::Mobile(token.clone()), Some(*person))
            };
            let reachable = holder.map(|person| issued.reachable[person].as_slice()).unwrap_or_default();
            let point = match reachable.choose(&mut rng) {
                Some(&point) if rng.gen_bool(0.75) => point,
                _ => rng.gen_range(0..points.len()),
            };
            let at = start + Duration::seconds(rng.gen_range(0..seconds));
            requests.push(BenchRequest { point: points[point].id, presented, at });
        }
        Ok(requests)
    }
}

/// `1234567.8` → `1,234,568`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
