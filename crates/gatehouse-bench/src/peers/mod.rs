//! The engine benchmark's peers: the same policy written in cedar-policy ([`cedar`]) and in
//! casbin ([`casbin`]), built only with the `peers` feature.
//!
//! Neither authorizer knows credentials, wall clocks or holiday calendars, so both sit behind
//! one [`Harness`] that does, on every request and inside the timed region, what Gatehouse's
//! engine does inside `Engine::decide` before it reaches the access levels:
//! - finds the credential by the same lookup keys Gatehouse uses (card `(facility, number)`;
//!   the tenant-keyed HMAC of a PIN, checked for format first; the normalised plate; the SHA-256
//!   of a mobile token) in hash maps with Gatehouse's hasher (foldhash), and refuses it when it is
//!   suspended, lost, expired or outside its validity window;
//! - finds the person and the door;
//! - turns the instant into the site's wall clock (chrono-tz, like Gatehouse): minute of the
//!   day, weekday, and whether today and yesterday are days of the holiday calendar (Gatehouse's
//!   own `Holidays`, a binary search).
//!
//! What a credential's state decides is the harness's; everything about people, levels, zones,
//! doors and schedules is the peer's (see each file's mapping). The harness refuses a policy
//! outside the subset both translations cover: one site, one holiday calendar, no schedule
//! exceptions, zone rules off, doors in normal mode without PIN, no lockdown, no QR or
//! biometric credentials, group grants without a window.

pub mod casbin;
pub mod cedar;

use std::collections::HashMap;

use anyhow::ensure;
use chrono::{Datelike, Timelike};
use chrono_tz::Tz;
use gatehouse_access::credential::{check_pin, mobile_key, normalize_plate, CredentialKind, CredentialStatus, TenantKeys};
use gatehouse_access::policy::{DoorMode, Policy, ZoneRules};
use gatehouse_access::schedule::{DayCode, Holidays};
use gatehouse_domain::{AccessPointId, HolidayCalendarId};

use crate::community::{BenchRequest, Presentation, FACILITY};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What a peer needs of a credential.
#[derive(Debug, Clone, Copy)]
struct Credential {
    person: u32,
    status: CredentialStatus,
    valid_from: i64,
    valid_until: i64,
}

/// A request the harness let through to the authorizer: who, where, and the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct Prepared {
    /// Index into [`Harness::credentials`].
    pub credential: usize,
    /// Index into `Policy::people`.
    pub person: usize,
    /// Index into `Policy::points`.
    pub door: usize,
    /// Unix seconds.
    pub now: i64,
    /// Minute of the local day, 0 to 1,439.
    pub minute: i64,
    /// Monday 0 to Sunday 6.
    pub weekday: i64,
    pub yesterday_weekday: i64,
    /// The weekday, or 7 on a day of the holiday calendar.
    pub day: i64,
    pub yesterday: i64,
}

/// The per-request work around a peer authorizer (see the module doc).
pub struct Harness {
    keys: TenantKeys,
    cards: FastMap<(u32, u64), u32>,
    pins: FastMap<Box<str>, u32>,
    plates: FastMap<Box<str>, u32>,
    mobiles: FastMap<Box<str>, u32>,
    credentials: Vec<Credential>,
    doors: FastMap<AccessPointId, u32>,
    time_zone: Tz,
    holidays: Holidays,
}

/// The day code's number in the peers' context: Monday 0 … Sunday 6, holiday 7.
pub fn day_number(day: DayCode) -> i64 {
    match day {
        DayCode::Mon => 0,
        DayCode::Tue => 1,
        DayCode::Wed => 2,
        DayCode::Thu => 3,
        DayCode::Fri => 4,
        DayCode::Sat => 5,
        DayCode::Sun => 6,
        DayCode::Hol => 7,
    }
}

/// The one holiday calendar the policy's schedules use, if any.
pub fn the_calendar(policy: &Policy) -> anyhow::Result<Option<HolidayCalendarId>> {
    let mut used: Vec<HolidayCalendarId> = policy.schedules.iter().filter_map(|schedule| schedule.holiday_calendar_id).collect();
    used.sort_unstable();
    used.dedup();
    ensure!(used.len() <= 1, "the peers' translations support one holiday calendar, the policy uses {}", used.len());
    Ok(used.first().copied())
}

impl Harness {
    pub fn new(policy: &Policy) -> anyhow::Result<Harness> {
        ensure!(policy.sites.len() == 1, "the peers' translations support one site");
        let time_zone = policy.sites[0].1;
        ensure!(policy.zones.iter().all(|zone| zone.rules == ZoneRules::default()), "zone rules are not translated");
        ensure!(
            policy.points.iter().all(|point| point.door.mode == DoorMode::Normal && !point.door.requires_pin),
            "door modes other than normal, and card-plus-PIN readers, are not translated"
        );
        ensure!(policy.lockdowns.iter().all(|lockdown| lockdown.released_at.is_some()), "lockdowns are not translated");
        for schedule in &policy.schedules {
            ensure!(schedule.exceptions.is_empty(), "schedule exceptions are not translated");
            ensure!(
                schedule.time_zone.as_ref().is_none_or(|zone| zone.tz() == time_zone),
                "schedules in another time zone than the site's are not translated"
            );
        }
        ensure!(
            policy
                .grants
                .iter()
                .all(|grant| grant.group_id.is_none() || (grant.valid_from.is_none() && grant.valid_until.is_none())),
            "time-bounded group grants are not translated"
        );
        let calendar = the_calendar(policy)?;
        let holidays = policy
            .holidays
            .iter()
            .find(|holidays| Some(holidays.id) == calendar)
            .map(|calendar| Holidays::compile(&calendar.days))
            .unwrap_or_default();

        let person_ix: FastMap<_, u32> =
            policy.people.iter().enumerate().map(|(ix, &(id, _))| Ok((id, u32::try_from(ix)?))).collect::<anyhow::Result<_>>()?;
        let mut harness = Harness {
            keys: policy.keys.clone(),
            cards: FastMap::default(),
            pins: FastMap::default(),
            plates: FastMap::default(),
            mobiles: FastMap::default(),
            credentials: Vec::with_capacity(policy.credentials.len()),
            doors: policy
                .points
                .iter()
                .enumerate()
                .map(|(ix, point)| Ok((point.id, u32::try_from(ix)?)))
                .collect::<anyhow::Result<_>>()?,
            time_zone,
            holidays,
        };
        for credential in &policy.credentials {
            let Some(&person) = person_ix.get(&credential.person_id) else { continue };
            let ix = u32::try_from(harness.credentials.len())?;
            let key: Box<str> = credential.lookup_key.clone().into_boxed_str();
            match credential.kind {
                CredentialKind::Card => {
                    let (facility, number) = credential
                        .lookup_key
                        .split_once(':')
                        .ok_or_else(|| anyhow::anyhow!("card key {:?}", credential.lookup_key))?;
                    ensure!(facility != "-", "cards without a facility code are not generated");
                    harness.cards.insert((facility.parse()?, number.parse()?), ix);
                }
                CredentialKind::Pin => {
                    harness.pins.insert(key, ix);
                }
                CredentialKind::Plate => {
                    harness.plates.insert(key, ix);
                }
                CredentialKind::Mobile => {
                    harness.mobiles.insert(key, ix);
                }
                CredentialKind::Qr | CredentialKind::Biometric => {
                    anyhow::bail!("QR and biometric credentials are not translated")
                }
            }
            ensure!(!credential.single_use, "single-use credentials are not translated");
            harness.credentials.push(Credential {
                person,
                status: credential.status,
                valid_from: credential.valid_from.map_or(i64::MIN, |at| at.timestamp()),
                valid_until: credential.valid_until.map_or(i64::MAX, |at| at.timestamp()),
            });
        }
        Ok(harness)
    }

    /// Every credential the harness finds, in the order of [`Prepared::credential`]: the holder's
    /// index in `Policy::people`, whether its status is active, and its window `[from, until)`
    /// in Unix seconds (`i64::MIN` / `i64::MAX` when open).
    pub fn credentials(&self) -> impl Iterator<Item = (usize, bool, i64, i64)> + '_ {
        self.credentials.iter().map(|credential| {
            (
                credential.person as usize,
                credential.status == CredentialStatus::Active,
                credential.valid_from,
                credential.valid_until,
            )
        })
    }

    /// `None`: refused before the authorizer (unknown or unusable credential, unknown door).
    #[inline]
    pub fn prepare(&self, request: &BenchRequest) -> Option<Prepared> {
        self.prepare_with(request, true)
    }

    /// [`Harness::prepare`] that leaves the credential's status and validity window to the
    /// authorizer (`check_credential: false`): only an unknown credential or door is refused.
    #[inline]
    pub fn prepare_with(&self, request: &BenchRequest, check_credential: bool) -> Option<Prepared> {
        let found = match &request.presented {
            Presentation::Card(number) => self.cards.get(&(FACILITY, *number)),
            Presentation::Pin(pin) => {
                check_pin(pin).ok()?;
                self.pins.get(self.keys.pin_key(pin).as_str())
            }
            Presentation::Plate(text) => self.plates.get(normalize_plate(text).ok()?.as_str()),
            Presentation::Mobile(token) => self.mobiles.get(mobile_key(token).as_str()),
        };
        let credential_ix = *found? as usize;
        let credential = self.credentials[credential_ix];
        let now = request.at.timestamp();
        if check_credential
            && (credential.status != CredentialStatus::Active || now >= credential.valid_until || now < credential.valid_from)
        {
            return None;
        }
        let door = *self.doors.get(&request.point)? as usize;
        let local = request.at.with_timezone(&self.time_zone).naive_local();
        let today = local.date();
        let yesterday = today.pred_opt()?;
        let weekday = i64::from(today.weekday().num_days_from_monday());
        let yesterday_weekday = i64::from(yesterday.weekday().num_days_from_monday());
        Some(Prepared {
            credential: credential_ix,
            person: credential.person as usize,
            door,
            now,
            minute: i64::from(local.hour() * 60 + local.minute()),
            weekday,
            yesterday_weekday,
            day: if self.holidays.contains(today) { 7 } else { weekday },
            yesterday: if self.holidays.contains(yesterday) { 7 } else { yesterday_weekday },
        })
    }
}

/// A schedule's intervals as the peers read them: `(days, start, end)` in minutes, the days
/// as context numbers (see [`day_number`]); `hol` is dropped from a schedule without a holiday
/// calendar, where Gatehouse never sees a holiday.
pub fn schedule_rows(schedule: &gatehouse_access::policy::Schedule) -> Vec<(Vec<i64>, i64, i64)> {
    schedule
        .intervals
        .iter()
        .filter_map(|interval| {
            let mut days: Vec<i64> = interval
                .days
                .iter()
                .filter(|&&day| day != DayCode::Hol || schedule.holiday_calendar_id.is_some())
                .map(|&day| day_number(day))
                .collect();
            days.sort_unstable();
            days.dedup();
            (!days.is_empty()).then(|| (days, i64::from(interval.start.minutes()), i64::from(interval.end.minutes())))
        })
        .collect()
}
