//! Access policy records: credentials, schedules, holiday calendars, access
//! levels, groups, grants, the deny list, door settings, zone rules and
//! lockdowns, on both backends.

use gatehouse_access::credential::*;
use gatehouse_access::policy::*;
use gatehouse_access::schedule::*;
use gatehouse_domain::audit::AuditEntry;
use sqlx::Connection as _;

use super::*;

pub(crate) fn later() -> ChangeContext {
    ChangeContext::system("conformance test", t1())
}

pub(crate) fn t1() -> DateTime<Utc> {
    t0() + Duration::minutes(1)
}

fn interval(days: &[DayCode], start: &str, end: &str) -> Interval {
    Interval { days: days.to_vec(), start: ClockTime::parse(start).unwrap(), end: ClockTime::parse(end).unwrap() }
}

fn weekdays() -> Vec<Interval> {
    use DayCode::*;
    vec![interval(&[Mon, Tue, Wed, Thu, Fri], "08:00", "18:00"), interval(&[Fri], "22:00", "02:00")]
}

fn new_schedule(schedule_name: &str) -> NewSchedule {
    NewSchedule {
        name: name(schedule_name),
        time_zone: None,
        intervals: weekdays(),
        exceptions: Vec::new(),
        holiday_calendar_id: None,
    }
}

fn holiday(date: &str, recurring: bool) -> Holiday {
    Holiday { date: date.parse().unwrap(), name: Some(format!("day {date}")), recurring }
}

fn new_calendar(calendar_name: &str) -> NewHolidayCalendar {
    NewHolidayCalendar { name: name(calendar_name), days: vec![holiday("2026-12-25", true)] }
}

fn point_entry(point: AccessPointId, schedule: Option<ScheduleId>) -> LevelEntry {
    LevelEntry { access_point_id: Some(point), zone_id: None, schedule_id: schedule }
}

fn zone_entry(zone: ZoneId, schedule: Option<ScheduleId>) -> LevelEntry {
    LevelEntry { access_point_id: None, zone_id: Some(zone), schedule_id: schedule }
}

fn new_level(level_name: &str, entries: Vec<LevelEntry>) -> NewAccessLevel {
    NewAccessLevel { name: name(level_name), entries, lockdown_exempt: false, door_override: false }
}

fn new_group(group_name: &str, members: Vec<PersonId>) -> NewGroup {
    NewGroup { name: name(group_name), kind: GroupKind::Household, members }
}

fn person_grant(person: PersonId, level: AccessLevelId) -> NewGrant {
    NewGrant { person_id: Some(person), group_id: None, access_level_id: level, valid_from: None, valid_until: None }
}

fn group_grant(group: GroupId, level: AccessLevelId) -> NewGrant {
    NewGrant { person_id: None, group_id: Some(group), access_level_id: level, valid_from: None, valid_until: None }
}

fn new_denial(person: PersonId) -> NewDenial {
    NewDenial { person_id: person, reason: "banned from the pool".into(), valid_until: None }
}

fn card(person: PersonId, number: u64) -> CredentialInput {
    CredentialInput {
        id: CredentialId::generate(),
        person_id: person,
        kind: CredentialKind::Card,
        value: Some(number.to_string()),
        facility_code: Some(17),
        lookup_key: card_key(Some(17), number),
        status: CredentialStatus::Active,
        valid_from: None,
        valid_until: None,
        single_use: false,
    }
}

fn pin(person: PersonId, digest: &str) -> CredentialInput {
    CredentialInput {
        id: CredentialId::generate(),
        person_id: person,
        kind: CredentialKind::Pin,
        value: None,
        facility_code: None,
        lookup_key: digest.to_owned(),
        status: CredentialStatus::Active,
        valid_from: None,
        valid_until: None,
        single_use: false,
    }
}

fn site_lockdown(site: SiteId) -> NewLockdown {
    NewLockdown { scope: LockdownScope::Site, site_id: Some(site), zone_id: None, reason: "fire drill".into() }
}

fn zone_lockdown(zone: ZoneId) -> NewLockdown {
    NewLockdown { scope: LockdownScope::Zone, site_id: None, zone_id: Some(zone), reason: "intruder".into() }
}

/// A tenant's physical layout and two people.
pub(crate) struct Place {
    pub(crate) site: Site,
    pub(crate) zone: Zone,
    pub(crate) inner: Zone,
    pub(crate) door: AccessPoint,
    pub(crate) person: Person,
    pub(crate) other: Person,
}

pub(crate) async fn place(store: &Arc<dyn Store>, t: TenantId) -> Place {
    let north = site(store, t, "North").await;
    let tower = zone(store, t, north.id, None, "Tower A").await;
    let inner = zone(store, t, north.id, Some(tower.id), "Floor 1").await;
    let new_door = NewAccessPoint { zone_id: tower.id, name: name("Lobby door"), kind: AccessPointKind::Door };
    let door = store.access_point_create(t, &new_door, &change()).await.unwrap();
    let person = store.person_create(t, &new_person("Ana", None), &change()).await.unwrap();
    let other = store.person_create(t, &new_person("Bia", None), &change()).await.unwrap();
    Place { site: north, zone: tower, inner, door, person, other }
}

pub(crate) async fn audit_entries(store: &Arc<dyn Store>, t: TenantId) -> Vec<AuditEntry> {
    let mut entries = Vec::new();
    let mut page = PageRequest::first(PAGE_LIMIT_MAX);
    loop {
        let found = store.audit_list(Some(t), &AuditFilter::default(), page).await.unwrap();
        entries.extend(found.items);
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => return entries,
        }
    }
}

pub(crate) fn is_in_use<T>(result: StoreResult<T>) -> bool {
    matches!(result, Err(StoreError::InUse(_)))
}

pub(crate) fn is_not_found<T>(result: StoreResult<T>) -> bool {
    matches!(result, Err(StoreError::NotFound))
}

pub(crate) async fn access_records_round_trip(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let p = place(&store, t).await;

    // Holiday calendars.
    let calendar = store.holiday_calendar_create(t, &new_calendar("Brazil"), &change()).await.unwrap();
    assert_eq!((calendar.tenant_id, calendar.created_at, calendar.updated_at), (t, t0(), t0()));
    assert_eq!(store.holiday_calendar_get(t, calendar.id).await.unwrap(), calendar);
    let patch = HolidayCalendarPatch { name: None, days: Some(vec![holiday("2026-12-25", true), holiday("2027-02-16", false)]) };
    let calendar = store.holiday_calendar_update(t, calendar.id, &patch, &later()).await.unwrap();
    assert_eq!((calendar.name.as_str(), calendar.days.len(), calendar.updated_at), ("Brazil", 2, t1()));
    assert_eq!(store.holiday_calendar_list(t, PageRequest::default()).await.unwrap().items, vec![calendar.clone()]);

    // Schedules: intervals, exceptions and calendar as written.
    let exception = ScheduleException {
        from: "2026-12-24T14:00:00".parse().unwrap(),
        until: "2026-12-27T00:00:00".parse().unwrap(),
        effect: ExceptionEffect::Closed,
        note: Some("Christmas".into()),
    };
    let new = NewSchedule {
        time_zone: Some(TimeZone::parse("Europe/Lisbon").unwrap()),
        exceptions: vec![exception.clone()],
        holiday_calendar_id: Some(calendar.id),
        ..new_schedule("Office hours")
    };
    let office = store.schedule_create(t, &new, &change()).await.unwrap();
    assert_eq!(
        (&office.name, &office.time_zone, &office.intervals, &office.exceptions, office.holiday_calendar_id),
        (&new.name, &new.time_zone, &new.intervals, &new.exceptions, new.holiday_calendar_id)
    );
    assert_eq!(store.schedule_get(t, office.id).await.unwrap(), office);
    let patch = SchedulePatch {
        time_zone: Some(None),
        holiday_calendar_id: Some(None),
        intervals: Some(vec![interval(&[DayCode::Sat, DayCode::Hol], "00:00", "24:00")]),
        ..SchedulePatch::default()
    };
    let office = store.schedule_update(t, office.id, &patch, &later()).await.unwrap();
    assert_eq!((office.time_zone.clone(), office.holiday_calendar_id, office.updated_at), (None, None, t1()));
    assert_eq!(office.exceptions, vec![exception], "left out, kept");
    assert_eq!(store.schedule_get(t, office.id).await.unwrap(), office);
    let bad = SchedulePatch { intervals: Some(vec![interval(&[DayCode::Mon], "08:00", "08:00")]), ..SchedulePatch::default() };
    assert_eq!(field_of(store.schedule_update(t, office.id, &bad, &later()).await.unwrap_err()), "intervals[0].end");
    let night = store.schedule_create(t, &new_schedule("Night"), &change()).await.unwrap();
    let first = store.schedule_list(t, PageRequest::first(1)).await.unwrap();
    assert_eq!(first.items, vec![office.clone()]);
    let second = store.schedule_list(t, PageRequest { limit: 1, after: first.next_after }).await.unwrap();
    assert_eq!((second.items, second.next_after), (vec![night.clone()], None));

    // Access levels: entries in order, replaced whole.
    let entries =
        vec![point_entry(p.door.id, Some(office.id)), zone_entry(p.zone.id, None), zone_entry(p.inner.id, Some(night.id))];
    let new = NewAccessLevel { door_override: true, ..new_level("Residents", entries.clone()) };
    let residents = store.access_level_create(t, &new, &change()).await.unwrap();
    assert_eq!((residents.entries.clone(), residents.door_override, residents.lockdown_exempt), (entries.clone(), true, false));
    assert_eq!(store.access_level_get(t, residents.id).await.unwrap(), residents);
    let reversed: Vec<LevelEntry> = entries.iter().rev().cloned().collect();
    let patch = AccessLevelPatch { entries: Some(reversed.clone()), lockdown_exempt: Some(true), ..AccessLevelPatch::default() };
    let residents = store.access_level_update(t, residents.id, &patch, &later()).await.unwrap();
    assert_eq!((residents.entries.clone(), residents.lockdown_exempt, residents.updated_at), (reversed, true, t1()));
    assert_eq!(store.access_level_get(t, residents.id).await.unwrap(), residents);
    let rename = AccessLevelPatch { name: Some(name("Residents 24h")), ..AccessLevelPatch::default() };
    let residents = store.access_level_update(t, residents.id, &rename, &later()).await.unwrap();
    assert_eq!(residents.entries.len(), 3, "entries left out are kept");
    let empty = store.access_level_create(t, &new_level("Nothing yet", Vec::new()), &change()).await.unwrap();
    let levels = store.access_level_list(t, PageRequest::default()).await.unwrap().items;
    assert_eq!(levels, vec![residents.clone(), empty.clone()]);
    let both = LevelEntry { access_point_id: Some(p.door.id), zone_id: Some(p.zone.id), schedule_id: None };
    let err = store.access_level_create(t, &new_level("Bad", vec![both]), &change()).await.unwrap_err();
    assert!(field_of(err).starts_with("entries[0]"));

    // Groups: members each once, in id order.
    let household =
        store.group_create(t, &new_group("Souza", vec![p.other.id, p.person.id, p.other.id]), &change()).await.unwrap();
    let mut expected = vec![p.person.id, p.other.id];
    expected.sort();
    assert_eq!((household.members.clone(), household.kind), (expected, GroupKind::Household));
    assert_eq!(store.group_get(t, household.id).await.unwrap(), household);
    let patch = GroupPatch { name: Some(name("Souza family")), kind: Some(GroupKind::Custom), members: Some(vec![p.person.id]) };
    let household = store.group_update(t, household.id, &patch, &later()).await.unwrap();
    assert_eq!(
        (household.name.as_str(), household.kind, household.members.clone()),
        ("Souza family", GroupKind::Custom, vec![p.person.id])
    );
    assert_eq!(store.group_list(t, PageRequest::default()).await.unwrap().items, vec![household.clone()]);

    // Grants, to a person (for a window) or to a group.
    let window = NewGrant {
        valid_from: Some(t0()),
        valid_until: Some(t0() + Duration::days(3)),
        ..person_grant(p.other.id, residents.id)
    };
    let to_person = store.grant_create(t, &window, &change()).await.unwrap();
    assert_eq!((to_person.person_id, to_person.group_id, to_person.valid_until), (Some(p.other.id), None, window.valid_until));
    let to_group = store.grant_create(t, &group_grant(household.id, residents.id), &change()).await.unwrap();
    assert_eq!(store.grant_get(t, to_group.id).await.unwrap(), to_group);
    let by_group = GrantFilter { group_id: Some(household.id), ..GrantFilter::default() };
    assert_eq!(store.grant_list(t, &by_group, PageRequest::default()).await.unwrap().items, vec![to_group.clone()]);
    let by_level = GrantFilter { access_level_id: Some(residents.id), ..GrantFilter::default() };
    assert_eq!(store.grant_list(t, &by_level, PageRequest::default()).await.unwrap().items.len(), 2);
    let by_person = GrantFilter { person_id: Some(p.person.id), ..GrantFilter::default() };
    assert!(store.grant_list(t, &by_person, PageRequest::default()).await.unwrap().items.is_empty());
    let neither = NewGrant { person_id: None, ..group_grant(household.id, residents.id) };
    let neither = NewGrant { group_id: None, ..neither };
    assert_eq!(field_of(store.grant_create(t, &neither, &change()).await.unwrap_err()), "person_id");
    store.grant_delete(t, to_person.id, &change()).await.unwrap();
    assert!(is_not_found(store.grant_get(t, to_person.id).await));

    // The deny list.
    let denial = store.denial_create(t, &new_denial(p.other.id), &change()).await.unwrap();
    assert_eq!((denial.person_id, denial.reason.as_str(), denial.created_at), (p.other.id, "banned from the pool", t0()));
    assert_eq!(store.denial_list(t, Some(p.other.id), PageRequest::default()).await.unwrap().items, vec![denial.clone()]);
    assert!(store.denial_list(t, Some(p.person.id), PageRequest::default()).await.unwrap().items.is_empty());
    store.denial_delete(t, denial.id, &change()).await.unwrap();
    assert!(store.denial_list(t, None, PageRequest::default()).await.unwrap().items.is_empty());
    assert!(is_not_found(store.denial_delete(t, denial.id, &change()).await));

    // Credentials: the id chosen by the caller, no value for secret kinds.
    let new_card = CredentialInput { valid_until: Some(t0() + Duration::days(30)), ..card(p.person.id, 123_456) };
    let badge = store.credential_create(t, &new_card, &change()).await.unwrap();
    assert_eq!(
        (badge.id, badge.kind, badge.value.as_deref(), badge.facility_code, badge.status, badge.used_at, badge.created_at),
        (new_card.id, CredentialKind::Card, Some("123456"), Some(17), CredentialStatus::Active, None, t0())
    );
    assert_eq!(store.credential_get(t, badge.id).await.unwrap(), badge);
    let code = store.credential_create(t, &pin(p.person.id, "a1b2c3"), &change()).await.unwrap();
    assert_eq!((code.kind, code.value.clone(), code.facility_code), (CredentialKind::Pin, None, None));
    let secret_value = CredentialInput { value: Some("1234".into()), ..pin(p.person.id, "d4e5") };
    assert_eq!(field_of(store.credential_create(t, &secret_value, &change()).await.unwrap_err()), "value");
    let plate = CredentialInput {
        kind: CredentialKind::Plate,
        value: Some("ABC1D23".into()),
        facility_code: None,
        lookup_key: "ABC1D23".into(),
        ..card(p.other.id, 1)
    };
    let plate = store.credential_create(t, &plate, &change()).await.unwrap();
    let all = store.credential_list(t, &CredentialFilter::default(), PageRequest::first(2)).await.unwrap();
    assert_eq!(all.items, vec![badge.clone(), code.clone()]);
    let rest =
        store.credential_list(t, &CredentialFilter::default(), PageRequest { limit: 2, after: all.next_after }).await.unwrap();
    assert_eq!((rest.items, rest.next_after), (vec![plate.clone()], None));
    let anas = CredentialFilter { person_id: Some(p.person.id), ..CredentialFilter::default() };
    assert_eq!(store.credential_list(t, &anas, PageRequest::default()).await.unwrap().items, vec![badge.clone(), code.clone()]);
    let pins = CredentialFilter { kind: Some(CredentialKind::Pin), ..CredentialFilter::default() };
    assert_eq!(store.credential_list(t, &pins, PageRequest::default()).await.unwrap().items, vec![code.clone()]);
    let patch =
        CredentialPatch { status: Some(CredentialStatus::Suspended), valid_from: Some(Some(t0())), valid_until: Some(None) };
    let suspended = store.credential_update(t, badge.id, &patch, &later()).await.unwrap();
    assert_eq!(
        (suspended.status, suspended.valid_from, suspended.valid_until, suspended.updated_at),
        (CredentialStatus::Suspended, Some(t0()), None, t1())
    );
    assert_eq!(store.credential_get(t, badge.id).await.unwrap(), suspended);
    let by_status = CredentialFilter { status: Some(CredentialStatus::Suspended), ..CredentialFilter::default() };
    assert_eq!(store.credential_list(t, &by_status, PageRequest::default()).await.unwrap().items, vec![suspended]);
    let backwards = CredentialPatch { valid_until: Some(Some(t0() - Duration::days(1))), ..CredentialPatch::default() };
    assert_eq!(field_of(store.credential_update(t, badge.id, &backwards, &later()).await.unwrap_err()), "valid_until");
    store.credential_delete(t, plate.id, &change()).await.unwrap();
    assert!(is_not_found(store.credential_get(t, plate.id).await));

    // Door settings: the defaults until set.
    assert_eq!(store.door_settings_get(t, p.door.id).await.unwrap(), DoorSettings::default());
    let timed = DoorSettings {
        mode: DoorMode::ScheduledUnlock,
        unlock_schedule_id: Some(office.id),
        first_person_in: true,
        requires_pin: true,
    };
    assert_eq!(store.door_settings_put(t, p.door.id, &timed, &change()).await.unwrap(), timed);
    assert_eq!(store.door_settings_get(t, p.door.id).await.unwrap(), timed);
    let locked = DoorSettings { mode: DoorMode::Locked, ..DoorSettings::default() };
    store.door_settings_put(t, p.door.id, &locked, &later()).await.unwrap();
    assert_eq!(store.door_settings_get(t, p.door.id).await.unwrap(), locked);
    let nowhere = AccessPointId::generate();
    assert!(is_not_found(store.door_settings_get(t, nowhere).await));
    assert!(is_not_found(store.door_settings_put(t, nowhere, &locked, &change()).await));

    // Zone rules: the defaults until set.
    assert_eq!(store.zone_rules_get(t, p.zone.id).await.unwrap(), ZoneRules::default());
    let rules =
        ZoneRules { anti_passback: AntiPassback::Hard, anti_passback_reset_s: Some(43_200), occupancy_max: Some(u32::MAX) };
    assert_eq!(store.zone_rules_put(t, p.zone.id, &rules, &change()).await.unwrap(), rules);
    assert_eq!(store.zone_rules_get(t, p.zone.id).await.unwrap(), rules);
    assert_eq!(store.zone_rules_get(t, p.inner.id).await.unwrap(), ZoneRules::default(), "rules are not inherited here");
    assert!(is_not_found(store.zone_rules_get(t, ZoneId::generate()).await));

    // Lockdowns: released once.
    let drill = store.lockdown_create(t, &site_lockdown(p.site.id), &change()).await.unwrap();
    assert_eq!(
        (drill.scope, drill.site_id, drill.zone_id, drill.started_at, drill.released_at),
        (LockdownScope::Site, Some(p.site.id), None, t0(), None)
    );
    assert_eq!(store.lockdown_get(t, drill.id).await.unwrap(), drill);
    let everywhere = NewLockdown { scope: LockdownScope::Tenant, site_id: None, zone_id: None, reason: "storm".into() };
    let storm = store.lockdown_create(t, &everywhere, &change()).await.unwrap();
    let intruder = store.lockdown_create(t, &zone_lockdown(p.inner.id), &change()).await.unwrap();
    let no_site = NewLockdown { site_id: None, ..site_lockdown(p.site.id) };
    assert_eq!(field_of(store.lockdown_create(t, &no_site, &change()).await.unwrap_err()), "site_id");
    let released = store.lockdown_release(t, drill.id, &later()).await.unwrap();
    assert_eq!(released.released_at, Some(t1()));
    let again = ChangeContext::system("conformance test", t1() + Duration::hours(1));
    assert_eq!(store.lockdown_release(t, drill.id, &again).await.unwrap(), released, "released once");
    assert_eq!(store.lockdown_get(t, drill.id).await.unwrap(), released);
    let active = store.lockdown_list(t, true, PageRequest::default()).await.unwrap().items;
    assert_eq!(active, vec![storm.clone(), intruder.clone()]);
    let all = store.lockdown_list(t, false, PageRequest::default()).await.unwrap().items;
    assert_eq!(all, vec![released, storm, intruder]);
    assert!(is_not_found(store.lockdown_release(t, LockdownId::generate(), &change()).await));
}

pub(crate) async fn access_names_and_lookup_keys_are_unique(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let p = place(&store, t).await;

    store.schedule_create(t, &new_schedule("Office hours"), &change()).await.unwrap();
    assert_eq!(field_of(store.schedule_create(t, &new_schedule("OFFICE HOURS"), &change()).await.unwrap_err()), "name");
    let night = store.schedule_create(t, &new_schedule("Night"), &change()).await.unwrap();
    let rename = SchedulePatch { name: Some(name("office hours")), ..SchedulePatch::default() };
    assert_eq!(field_of(store.schedule_update(t, night.id, &rename, &change()).await.unwrap_err()), "name");

    store.holiday_calendar_create(t, &new_calendar("Brazil"), &change()).await.unwrap();
    assert_eq!(field_of(store.holiday_calendar_create(t, &new_calendar("brazil"), &change()).await.unwrap_err()), "name");
    let other = store.holiday_calendar_create(t, &new_calendar("Portugal"), &change()).await.unwrap();
    let rename = HolidayCalendarPatch { name: Some(name("BRAZIL")), days: None };
    assert_eq!(field_of(store.holiday_calendar_update(t, other.id, &rename, &change()).await.unwrap_err()), "name");

    store.access_level_create(t, &new_level("Residents", Vec::new()), &change()).await.unwrap();
    assert_eq!(field_of(store.access_level_create(t, &new_level("residents", Vec::new()), &change()).await.unwrap_err()), "name");
    let staff = store.access_level_create(t, &new_level("Staff", Vec::new()), &change()).await.unwrap();
    let rename = AccessLevelPatch { name: Some(name("RESIDENTS")), ..AccessLevelPatch::default() };
    assert_eq!(field_of(store.access_level_update(t, staff.id, &rename, &change()).await.unwrap_err()), "name");

    store.group_create(t, &new_group("Souza", Vec::new()), &change()).await.unwrap();
    assert_eq!(field_of(store.group_create(t, &new_group("SOUZA", Vec::new()), &change()).await.unwrap_err()), "name");
    let silva = store.group_create(t, &new_group("Silva", vec![p.person.id]), &change()).await.unwrap();
    let rename = GroupPatch { name: Some(name("souza")), ..GroupPatch::default() };
    assert_eq!(field_of(store.group_update(t, silva.id, &rename, &change()).await.unwrap_err()), "name");
    assert_eq!(store.group_get(t, silva.id).await.unwrap(), silva, "nothing half-written");

    // A lookup key is unique per tenant and kind.
    store.credential_create(t, &card(p.person.id, 1234), &change()).await.unwrap();
    assert_eq!(field_of(store.credential_create(t, &card(p.other.id, 1234), &change()).await.unwrap_err()), "value");
    store.credential_create(t, &pin(p.person.id, "abcd"), &change()).await.unwrap();
    assert_eq!(field_of(store.credential_create(t, &pin(p.other.id, "abcd"), &change()).await.unwrap_err()), "value");
    let same_key_other_kind = CredentialInput { kind: CredentialKind::Biometric, facility_code: None, ..card(p.person.id, 1234) };
    store.credential_create(t, &same_key_other_kind, &change()).await.unwrap();
    let listed = store.credential_list(t, &CredentialFilter::default(), PageRequest::default()).await.unwrap().items;
    assert_eq!(listed.len(), 3);

    // Names and keys of another tenant are no conflict.
    let b = tenant(&store, "other").await.id;
    let pb = place(&store, b).await;
    store.schedule_create(b, &new_schedule("Office hours"), &change()).await.unwrap();
    store.holiday_calendar_create(b, &new_calendar("Brazil"), &change()).await.unwrap();
    store.access_level_create(b, &new_level("Residents", Vec::new()), &change()).await.unwrap();
    store.group_create(b, &new_group("Souza", Vec::new()), &change()).await.unwrap();
    store.credential_create(b, &card(pb.person.id, 1234), &change()).await.unwrap();
    store.credential_create(b, &pin(pb.person.id, "abcd"), &change()).await.unwrap();
}

pub(crate) async fn access_references_stay_in_the_tenant(store: Arc<dyn Store>, _db: TestDatabase) {
    let a = tenant(&store, "tenant-a").await.id;
    let b = tenant(&store, "tenant-b").await.id;
    let pa = place(&store, a).await;
    let pb = place(&store, b).await;
    let b_calendar = store.holiday_calendar_create(b, &new_calendar("B days"), &change()).await.unwrap();
    let b_schedule = store.schedule_create(b, &new_schedule("B hours"), &change()).await.unwrap();
    let b_level = store.access_level_create(b, &new_level("B level", Vec::new()), &change()).await.unwrap();
    let b_group = store.group_create(b, &new_group("B group", Vec::new()), &change()).await.unwrap();
    let a_schedule = store.schedule_create(a, &new_schedule("A hours"), &change()).await.unwrap();
    let a_level = store.access_level_create(a, &new_level("A level", Vec::new()), &change()).await.unwrap();
    let a_group = store.group_create(a, &new_group("A group", Vec::new()), &change()).await.unwrap();
    let audited = audit_entries(&store, a).await.len();
    let policy = store.access_policy(a).await.unwrap().records;

    // Another tenant's rows, and rows that do not exist at all.
    for person in [pb.person.id, PersonId::generate()] {
        assert_eq!(field_of(store.credential_create(a, &card(person, 1), &change()).await.unwrap_err()), "person_id");
        assert_eq!(field_of(store.grant_create(a, &person_grant(person, a_level.id), &change()).await.unwrap_err()), "person_id");
        assert_eq!(field_of(store.denial_create(a, &new_denial(person), &change()).await.unwrap_err()), "person_id");
        let members = vec![pa.person.id, person];
        assert_eq!(
            field_of(store.group_create(a, &new_group("Mixed", members.clone()), &change()).await.unwrap_err()),
            "members[1]"
        );
        let patch = GroupPatch { members: Some(members), ..GroupPatch::default() };
        assert_eq!(field_of(store.group_update(a, a_group.id, &patch, &change()).await.unwrap_err()), "members[1]");
    }
    for calendar in [b_calendar.id, HolidayCalendarId::generate()] {
        let new = NewSchedule { holiday_calendar_id: Some(calendar), ..new_schedule("With B days") };
        assert_eq!(field_of(store.schedule_create(a, &new, &change()).await.unwrap_err()), "holiday_calendar_id");
        let patch = SchedulePatch { holiday_calendar_id: Some(Some(calendar)), ..SchedulePatch::default() };
        assert_eq!(
            field_of(store.schedule_update(a, a_schedule.id, &patch, &change()).await.unwrap_err()),
            "holiday_calendar_id"
        );
    }
    for (entries, field) in [
        (vec![point_entry(pa.door.id, None), point_entry(pb.door.id, None)], "entries[1].access_point_id"),
        (vec![zone_entry(pb.zone.id, None)], "entries[0].zone_id"),
        (vec![zone_entry(pa.zone.id, None), zone_entry(ZoneId::generate(), None)], "entries[1].zone_id"),
        (vec![point_entry(pa.door.id, Some(b_schedule.id))], "entries[0].schedule_id"),
        (
            vec![point_entry(pa.door.id, Some(a_schedule.id)), zone_entry(pa.zone.id, Some(ScheduleId::generate()))],
            "entries[1].schedule_id",
        ),
    ] {
        assert_eq!(
            field_of(store.access_level_create(a, &new_level("Mixed", entries.clone()), &change()).await.unwrap_err()),
            field
        );
        let patch = AccessLevelPatch { entries: Some(entries), ..AccessLevelPatch::default() };
        assert_eq!(field_of(store.access_level_update(a, a_level.id, &patch, &change()).await.unwrap_err()), field);
    }
    for group in [b_group.id, GroupId::generate()] {
        assert_eq!(field_of(store.grant_create(a, &group_grant(group, a_level.id), &change()).await.unwrap_err()), "group_id");
    }
    for level in [b_level.id, AccessLevelId::generate()] {
        assert_eq!(
            field_of(store.grant_create(a, &person_grant(pa.person.id, level), &change()).await.unwrap_err()),
            "access_level_id"
        );
    }
    let with_b_schedule =
        DoorSettings { mode: DoorMode::ScheduledUnlock, unlock_schedule_id: Some(b_schedule.id), ..DoorSettings::default() };
    assert_eq!(
        field_of(store.door_settings_put(a, pa.door.id, &with_b_schedule, &change()).await.unwrap_err()),
        "unlock_schedule_id"
    );
    assert!(is_not_found(store.door_settings_put(a, pb.door.id, &DoorSettings::default(), &change()).await));
    assert!(is_not_found(store.door_settings_get(a, pb.door.id).await));
    assert!(is_not_found(store.zone_rules_put(a, pb.zone.id, &ZoneRules::default(), &change()).await));
    assert!(is_not_found(store.zone_rules_get(a, pb.zone.id).await));
    for site in [pb.site.id, SiteId::generate()] {
        assert_eq!(field_of(store.lockdown_create(a, &site_lockdown(site), &change()).await.unwrap_err()), "site_id");
    }
    for zone in [pb.zone.id, ZoneId::generate()] {
        assert_eq!(field_of(store.lockdown_create(a, &zone_lockdown(zone), &change()).await.unwrap_err()), "zone_id");
    }

    // Nothing was written, nothing recorded.
    assert_eq!(audit_entries(&store, a).await.len(), audited);
    let after = store.access_policy(a).await.unwrap().records;
    assert_eq!(format!("{after:?}"), format!("{policy:?}"));
    assert_eq!(store.group_get(a, a_group.id).await.unwrap().members, Vec::<PersonId>::new());
    assert_eq!(store.access_level_get(a, a_level.id).await.unwrap().entries, Vec::new());
}

pub(crate) async fn lost_credentials_are_final(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let p = place(&store, t).await;
    let badge = store.credential_create(t, &card(p.person.id, 42), &change()).await.unwrap();
    let lose = CredentialPatch { status: Some(CredentialStatus::Lost), ..CredentialPatch::default() };
    let lost = store.credential_update(t, badge.id, &lose, &later()).await.unwrap();
    assert_eq!(lost.status, CredentialStatus::Lost);

    let reactivate = CredentialPatch { status: Some(CredentialStatus::Active), ..CredentialPatch::default() };
    assert_eq!(field_of(store.credential_update(t, badge.id, &reactivate, &change()).await.unwrap_err()), "status");
    let extend = CredentialPatch { valid_until: Some(Some(t1() + Duration::days(1))), ..CredentialPatch::default() };
    assert_eq!(field_of(store.credential_update(t, badge.id, &extend, &change()).await.unwrap_err()), "status");
    assert!(is_in_use(store.credential_delete(t, badge.id, &change()).await));
    assert_eq!(store.credential_get(t, badge.id).await.unwrap(), lost, "kept unchanged");
    // Its number is never issued again, to anyone.
    assert_eq!(field_of(store.credential_create(t, &card(p.other.id, 42), &change()).await.unwrap_err()), "value");

    // Any other status may be deleted.
    let spare = store.credential_create(t, &card(p.person.id, 43), &change()).await.unwrap();
    let suspend = CredentialPatch { status: Some(CredentialStatus::Suspended), ..CredentialPatch::default() };
    store.credential_update(t, spare.id, &suspend, &change()).await.unwrap();
    store.credential_delete(t, spare.id, &change()).await.unwrap();
    assert!(is_not_found(store.credential_get(t, spare.id).await));
    assert!(is_not_found(store.credential_update(t, spare.id, &suspend, &change()).await));
}

pub(crate) async fn access_deletes_refuse_records_in_use(store: Arc<dyn Store>, db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let p = place(&store, t).await;
    let lobby = zone(&store, t, p.site.id, None, "Lobby").await;
    let calendar = store.holiday_calendar_create(t, &new_calendar("Brazil"), &change()).await.unwrap();
    let new = NewSchedule { holiday_calendar_id: Some(calendar.id), ..new_schedule("Office hours") };
    let office = store.schedule_create(t, &new, &change()).await.unwrap();
    let door_hours = store.schedule_create(t, &new_schedule("Door hours"), &change()).await.unwrap();
    let entries = vec![point_entry(p.door.id, Some(office.id)), zone_entry(lobby.id, None)];
    let level = store.access_level_create(t, &new_level("Residents", entries), &change()).await.unwrap();
    let household = store.group_create(t, &new_group("Souza", vec![p.person.id]), &change()).await.unwrap();
    let grant = store.grant_create(t, &group_grant(household.id, level.id), &change()).await.unwrap();
    let timed =
        DoorSettings { mode: DoorMode::ScheduledUnlock, unlock_schedule_id: Some(door_hours.id), ..DoorSettings::default() };
    store.door_settings_put(t, p.door.id, &timed, &change()).await.unwrap();
    store
        .zone_rules_put(t, lobby.id, &ZoneRules { anti_passback: AntiPassback::Soft, ..ZoneRules::default() }, &change())
        .await
        .unwrap();
    let badge = store.credential_create(t, &card(p.other.id, 7), &change()).await.unwrap();
    let annex = site(&store, t, "Annex").await;
    let drill = store.lockdown_create(t, &site_lockdown(annex.id), &change()).await.unwrap();
    let audited = audit_entries(&store, t).await.len();

    assert!(is_in_use(store.holiday_calendar_delete(t, calendar.id, &change()).await), "a schedule uses it");
    assert!(is_in_use(store.schedule_delete(t, office.id, &change()).await), "a level uses it");
    assert!(is_in_use(store.schedule_delete(t, door_hours.id, &change()).await), "a door unlocks on it");
    assert!(is_in_use(store.access_level_delete(t, level.id, &change()).await), "a grant gives it");
    assert!(is_in_use(store.group_delete(t, household.id, &change()).await), "a grant gives it a level");
    assert!(is_in_use(store.access_point_delete(t, p.door.id, &change()).await), "a level names the door");
    assert!(is_in_use(store.zone_delete(t, lobby.id, &change()).await), "a level names the zone");
    assert!(is_in_use(store.site_delete(t, annex.id, &change()).await), "a lockdown names the site");
    let refused = raw_delete_person(&db, t, p.other.id).await.unwrap_err();
    assert!(refused.as_database_error().is_some_and(|err| err.is_foreign_key_violation()), "{refused}");
    assert_eq!(audit_entries(&store, t).await.len(), audited, "refusals are not recorded");

    // Once nothing uses them, they go, with what belongs to them.
    store.grant_delete(t, grant.id, &change()).await.unwrap();
    store.group_delete(t, household.id, &change()).await.unwrap();
    store.access_level_delete(t, level.id, &change()).await.unwrap();
    assert!(is_not_found(store.access_level_get(t, level.id).await));
    store.schedule_delete(t, office.id, &change()).await.unwrap();
    store.holiday_calendar_delete(t, calendar.id, &change()).await.unwrap();
    store.door_settings_put(t, p.door.id, &DoorSettings::default(), &change()).await.unwrap();
    store.schedule_delete(t, door_hours.id, &change()).await.unwrap();
    store.access_point_delete(t, p.door.id, &change()).await.unwrap();
    store.zone_delete(t, lobby.id, &change()).await.unwrap();
    store.credential_delete(t, badge.id, &change()).await.unwrap();
    assert_eq!(raw_delete_person(&db, t, p.other.id).await.unwrap(), 1);
    store.lockdown_release(t, drill.id, &change()).await.unwrap();
    // A released lockdown no longer holds its site (its history stays in the access log and the audit trail).
    store.site_delete(t, annex.id, &change()).await.unwrap();
    assert!(is_not_found(store.lockdown_get(t, drill.id).await));

    let policy = store.access_policy(t).await.unwrap().records;
    assert!(policy.schedules.is_empty() && policy.holidays.is_empty() && policy.levels.is_empty());
    assert!(policy.groups.is_empty() && policy.grants.is_empty() && policy.credentials.is_empty() && policy.lockdowns.is_empty());
    assert!(policy.points.is_empty(), "the door went with its settings");
    assert_eq!(
        policy.zones.iter().map(|z| z.id).collect::<Vec<_>>(),
        vec![p.zone.id, p.inner.id],
        "the lobby went with its rules"
    );
}

/// Deletes a person with raw SQL: the store itself archives people and never deletes them.
async fn raw_delete_person(db: &TestDatabase, tenant: TenantId, person: PersonId) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM people WHERE tenant_id = $1 AND id = $2";
    match &db.url {
        DatabaseUrl::Sqlite(path) => {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .foreign_keys(true)
                .busy_timeout(std::time::Duration::from_secs(5));
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            let done = sqlx::query(sql).bind(tenant.as_uuid()).bind(person.as_uuid()).execute(&mut conn).await?;
            Ok(done.rows_affected())
        }
        DatabaseUrl::Postgres(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let mut tx = conn.begin().await?;
            sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, true)").bind(tenant.to_string()).execute(&mut *tx).await?;
            let done = sqlx::query(sql).bind(tenant.as_uuid()).bind(person.as_uuid()).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        }
    }
}

pub(crate) async fn access_records_never_cross_tenants(store: Arc<dyn Store>, _db: TestDatabase) {
    let a = tenant(&store, "tenant-a").await.id;
    let b = tenant(&store, "tenant-b").await.id;
    let pa = place(&store, a).await;
    place(&store, b).await;
    let calendar = store.holiday_calendar_create(a, &new_calendar("Brazil"), &change()).await.unwrap();
    let schedule = store.schedule_create(a, &new_schedule("Office hours"), &change()).await.unwrap();
    let level =
        store.access_level_create(a, &new_level("Residents", vec![point_entry(pa.door.id, None)]), &change()).await.unwrap();
    let group = store.group_create(a, &new_group("Souza", vec![pa.person.id]), &change()).await.unwrap();
    let grant = store.grant_create(a, &person_grant(pa.person.id, level.id), &change()).await.unwrap();
    let denial = store.denial_create(a, &new_denial(pa.other.id), &change()).await.unwrap();
    let badge = store.credential_create(a, &card(pa.person.id, 99), &change()).await.unwrap();
    let locked = DoorSettings { mode: DoorMode::Locked, ..DoorSettings::default() };
    store.door_settings_put(a, pa.door.id, &locked, &change()).await.unwrap();
    let rules = ZoneRules { anti_passback: AntiPassback::Hard, ..ZoneRules::default() };
    store.zone_rules_put(a, pa.zone.id, &rules, &change()).await.unwrap();
    let drill = store.lockdown_create(a, &site_lockdown(pa.site.id), &change()).await.unwrap();

    // Tenant B sees none of it.
    assert!(is_not_found(store.holiday_calendar_get(b, calendar.id).await));
    assert!(is_not_found(store.schedule_get(b, schedule.id).await));
    assert!(is_not_found(store.access_level_get(b, level.id).await));
    assert!(is_not_found(store.group_get(b, group.id).await));
    assert!(is_not_found(store.grant_get(b, grant.id).await));
    assert!(is_not_found(store.credential_get(b, badge.id).await));
    assert!(is_not_found(store.door_settings_get(b, pa.door.id).await));
    assert!(is_not_found(store.zone_rules_get(b, pa.zone.id).await));
    assert!(is_not_found(store.lockdown_get(b, drill.id).await));
    let page = PageRequest::default();
    assert!(store.holiday_calendar_list(b, page).await.unwrap().items.is_empty());
    assert!(store.schedule_list(b, page).await.unwrap().items.is_empty());
    assert!(store.access_level_list(b, page).await.unwrap().items.is_empty());
    assert!(store.group_list(b, page).await.unwrap().items.is_empty());
    assert!(store.grant_list(b, &GrantFilter::default(), page).await.unwrap().items.is_empty());
    let anas = GrantFilter { person_id: Some(pa.person.id), ..GrantFilter::default() };
    assert!(store.grant_list(b, &anas, page).await.unwrap().items.is_empty());
    assert!(store.denial_list(b, None, page).await.unwrap().items.is_empty());
    assert!(store.denial_list(b, Some(pa.other.id), page).await.unwrap().items.is_empty());
    assert!(store.credential_list(b, &CredentialFilter::default(), page).await.unwrap().items.is_empty());
    assert!(store.lockdown_list(b, false, page).await.unwrap().items.is_empty());
    let policy = store.access_policy(b).await.unwrap().records;
    assert!(
        policy.credentials.is_empty() && policy.schedules.is_empty() && policy.levels.is_empty() && policy.lockdowns.is_empty()
    );
    assert!(policy.grants.is_empty() && policy.groups.is_empty() && policy.denials.is_empty() && policy.holidays.is_empty());
    assert!(policy.points.iter().all(|point| point.id != pa.door.id));

    // Nor can it change or delete any of it.
    let patch = HolidayCalendarPatch { name: Some(name("Hijacked")), days: None };
    assert!(is_not_found(store.holiday_calendar_update(b, calendar.id, &patch, &change()).await));
    let patch = SchedulePatch { name: Some(name("Hijacked")), ..SchedulePatch::default() };
    assert!(is_not_found(store.schedule_update(b, schedule.id, &patch, &change()).await));
    let patch = AccessLevelPatch { door_override: Some(true), ..AccessLevelPatch::default() };
    assert!(is_not_found(store.access_level_update(b, level.id, &patch, &change()).await));
    let patch = GroupPatch { members: Some(Vec::new()), ..GroupPatch::default() };
    assert!(is_not_found(store.group_update(b, group.id, &patch, &change()).await));
    let patch = CredentialPatch { status: Some(CredentialStatus::Suspended), ..CredentialPatch::default() };
    assert!(is_not_found(store.credential_update(b, badge.id, &patch, &change()).await));
    assert!(is_not_found(store.door_settings_put(b, pa.door.id, &DoorSettings::default(), &change()).await));
    assert!(is_not_found(store.zone_rules_put(b, pa.zone.id, &ZoneRules::default(), &change()).await));
    assert!(is_not_found(store.lockdown_release(b, drill.id, &change()).await));
    assert!(is_not_found(store.grant_delete(b, grant.id, &change()).await));
    assert!(is_not_found(store.denial_delete(b, denial.id, &change()).await));
    assert!(is_not_found(store.credential_delete(b, badge.id, &change()).await));
    assert!(is_not_found(store.group_delete(b, group.id, &change()).await));
    assert!(is_not_found(store.access_level_delete(b, level.id, &change()).await));
    assert!(is_not_found(store.schedule_delete(b, schedule.id, &change()).await));
    assert!(is_not_found(store.holiday_calendar_delete(b, calendar.id, &change()).await));
    assert!(audit_entries(&store, b).await.iter().all(|entry| !entry.action.starts_with("access.")));

    assert_eq!(store.holiday_calendar_get(a, calendar.id).await.unwrap(), calendar);
    assert_eq!(store.schedule_get(a, schedule.id).await.unwrap(), schedule);
    assert_eq!(store.access_level_get(a, level.id).await.unwrap(), level);
    assert_eq!(store.group_get(a, group.id).await.unwrap(), group);
    assert_eq!(store.grant_get(a, grant.id).await.unwrap(), grant);
    assert_eq!(store.credential_get(a, badge.id).await.unwrap(), badge);
    assert_eq!(store.denial_list(a, None, page).await.unwrap().items, vec![denial]);
    assert_eq!(store.door_settings_get(a, pa.door.id).await.unwrap(), locked);
    assert_eq!(store.zone_rules_get(a, pa.zone.id).await.unwrap(), rules);
    assert_eq!(store.lockdown_get(a, drill.id).await.unwrap(), drill);
}

pub(crate) async fn access_writes_are_audited_once_each(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let p = place(&store, t).await;
    let mut seen = audit_entries(&store, t).await.len();
    // The newest entry, after checking it is the only one the last write added.
    macro_rules! expect {
        ($action:expr, $target_type:expr, $target_id:expr) => {{
            let entries = audit_entries(&store, t).await;
            assert_eq!(entries.len(), seen + 1, "{}: exactly one entry", $action);
            seen = entries.len();
            let newest = entries[0].clone();
            assert_eq!((newest.action.as_str(), newest.target_type.as_str()), ($action, $target_type));
            assert_eq!(newest.target_id, Some($target_id.to_string()), "{}", $action);
            assert_eq!(newest.tenant_id, Some(t));
            newest
        }};
    }

    let calendar = store.holiday_calendar_create(t, &new_calendar("Brazil"), &change()).await.unwrap();
    let id = calendar.id.to_string();
    let entry = expect!("access.holiday_calendar.create", "holiday_calendar", id.clone());
    assert_eq!(entry.after.unwrap()["name"], "Brazil");
    let patch = HolidayCalendarPatch { name: Some(name("Brasil")), days: None };
    store.holiday_calendar_update(t, calendar.id, &patch, &change()).await.unwrap();
    let entry = expect!("access.holiday_calendar.update", "holiday_calendar", id.clone());
    assert_eq!((entry.before.unwrap()["name"].clone(), entry.after.unwrap()["name"].clone()), ("Brazil".into(), "Brasil".into()));

    let schedule = store.schedule_create(t, &new_schedule("Office hours"), &change()).await.unwrap();
    let sid = schedule.id.to_string();
    expect!("access.schedule.create", "schedule", sid.clone());
    let patch = SchedulePatch { holiday_calendar_id: Some(Some(calendar.id)), ..SchedulePatch::default() };
    store.schedule_update(t, schedule.id, &patch, &change()).await.unwrap();
    expect!("access.schedule.update", "schedule", sid.clone());

    let level = store
        .access_level_create(t, &new_level("Residents", vec![point_entry(p.door.id, Some(schedule.id))]), &change())
        .await
        .unwrap();
    let lid = level.id.to_string();
    let entry = expect!("access.access_level.create", "access_level", lid.clone());
    assert_eq!(entry.after.unwrap()["entries"].as_array().map(Vec::len), Some(1), "the entries are part of the record");
    let patch = AccessLevelPatch { entries: Some(Vec::new()), ..AccessLevelPatch::default() };
    store.access_level_update(t, level.id, &patch, &change()).await.unwrap();
    let entry = expect!("access.access_level.update", "access_level", lid.clone());
    assert_eq!(entry.after.unwrap()["entries"].as_array().map(Vec::len), Some(0));

    let group = store.group_create(t, &new_group("Souza", vec![p.person.id]), &change()).await.unwrap();
    let gid = group.id.to_string();
    expect!("access.group.create", "group", gid.clone());
    let patch = GroupPatch { members: Some(vec![p.person.id, p.other.id]), ..GroupPatch::default() };
    store.group_update(t, group.id, &patch, &change()).await.unwrap();
    let entry = expect!("access.group.update", "group", gid.clone());
    assert_eq!(entry.after.unwrap()["members"].as_array().map(Vec::len), Some(2));

    let grant = store.grant_create(t, &group_grant(group.id, level.id), &change()).await.unwrap();
    expect!("access.grant.create", "grant", grant.id.to_string());
    let denial = store.denial_create(t, &new_denial(p.other.id), &change()).await.unwrap();
    expect!("access.denial.create", "denial", denial.id.to_string());

    // A credential's lookup key (a keyed digest for PINs) is never recorded.
    let digest = "5e0f3c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
    let code = store.credential_create(t, &pin(p.person.id, digest), &change()).await.unwrap();
    let cid = code.id.to_string();
    expect!("access.credential.create", "credential", cid.clone());
    let patch = CredentialPatch { status: Some(CredentialStatus::Suspended), ..CredentialPatch::default() };
    store.credential_update(t, code.id, &patch, &change()).await.unwrap();
    expect!("access.credential.update", "credential", cid.clone());
    store.credential_delete(t, code.id, &change()).await.unwrap();
    expect!("access.credential.delete", "credential", cid.clone());
    let recorded = serde_json::to_string(&audit_entries(&store, t).await).unwrap();
    assert!(!recorded.contains(digest) && !recorded.contains("lookup_key"), "no lookup key in the audit trail");

    let timed =
        DoorSettings { mode: DoorMode::ScheduledUnlock, unlock_schedule_id: Some(schedule.id), ..DoorSettings::default() };
    store.door_settings_put(t, p.door.id, &timed, &change()).await.unwrap();
    let entry = expect!("access.door.update", "access_point", p.door.id.to_string());
    assert_eq!(
        (entry.before.unwrap()["mode"].clone(), entry.after.unwrap()["mode"].clone()),
        ("normal".into(), "scheduled_unlock".into())
    );
    let rules = ZoneRules { occupancy_max: Some(40), ..ZoneRules::default() };
    store.zone_rules_put(t, p.zone.id, &rules, &change()).await.unwrap();
    let entry = expect!("access.zone_rules.update", "zone", p.zone.id.to_string());
    assert_eq!(entry.after.unwrap()["occupancy_max"], 40);

    let drill = store.lockdown_create(t, &site_lockdown(p.site.id), &change()).await.unwrap();
    let did = drill.id.to_string();
    expect!("access.lockdown.create", "lockdown", did.clone());
    store.lockdown_release(t, drill.id, &later()).await.unwrap();
    expect!("access.lockdown.release", "lockdown", did.clone());
    store.lockdown_release(t, drill.id, &later()).await.unwrap();
    assert_eq!(audit_entries(&store, t).await.len(), seen, "releasing a released lockdown records nothing");

    // Refused writes record nothing.
    assert!(store.schedule_create(t, &new_schedule("office HOURS"), &change()).await.is_err());
    assert!(store.schedule_delete(t, schedule.id, &change()).await.is_err());
    assert!(store.credential_create(t, &card(PersonId::generate(), 5), &change()).await.is_err());
    assert_eq!(audit_entries(&store, t).await.len(), seen);

    store.grant_delete(t, grant.id, &change()).await.unwrap();
    expect!("access.grant.delete", "grant", grant.id.to_string());
    store.denial_delete(t, denial.id, &change()).await.unwrap();
    expect!("access.denial.delete", "denial", denial.id.to_string());
    store.group_delete(t, group.id, &change()).await.unwrap();
    let entry = expect!("access.group.delete", "group", gid);
    assert_eq!((entry.before.unwrap()["name"].clone(), entry.after), ("Souza".into(), None));
    store.access_level_delete(t, level.id, &change()).await.unwrap();
    expect!("access.access_level.delete", "access_level", lid);
    store.door_settings_put(t, p.door.id, &DoorSettings::default(), &change()).await.unwrap();
    expect!("access.door.update", "access_point", p.door.id.to_string());
    store.schedule_delete(t, schedule.id, &change()).await.unwrap();
    expect!("access.schedule.delete", "schedule", sid);
    store.holiday_calendar_delete(t, calendar.id, &change()).await.unwrap();
    expect!("access.holiday_calendar.delete", "holiday_calendar", id);
    assert_eq!(audit_entries(&store, t).await.len(), seen, "nothing else was recorded");
}

pub(crate) async fn access_policy_holds_what_was_written(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let other_tenant = tenant(&store, "other").await.id;
    let p = place(&store, t).await;
    let elsewhere = place(&store, other_tenant).await;
    store.credential_create(other_tenant, &card(elsewhere.person.id, 1), &change()).await.unwrap();
    let south = store
        .site_create(t, &NewSite { name: name("South"), time_zone: TimeZone::parse("Europe/Lisbon").unwrap() }, &change())
        .await
        .unwrap();
    let gate = store
        .access_point_create(
            t,
            &NewAccessPoint { zone_id: p.inner.id, name: name("Gate"), kind: AccessPointKind::Gate },
            &change(),
        )
        .await
        .unwrap();
    let archived = PersonPatch { status: Some(PersonStatus::Archived), ..PersonPatch::default() };
    store.person_update(t, p.other.id, &archived, &change()).await.unwrap();

    let calendar = store.holiday_calendar_create(t, &new_calendar("Brazil"), &change()).await.unwrap();
    let new = NewSchedule { holiday_calendar_id: Some(calendar.id), ..new_schedule("Office hours") };
    let office = store.schedule_create(t, &new, &change()).await.unwrap();
    let night = store.schedule_create(t, &new_schedule("Night"), &change()).await.unwrap();
    let residents = store
        .access_level_create(
            t,
            &new_level("Residents", vec![point_entry(gate.id, Some(night.id)), zone_entry(p.zone.id, Some(office.id))]),
            &change(),
        )
        .await
        .unwrap();
    let security =
        NewAccessLevel { lockdown_exempt: true, door_override: true, ..new_level("Security", vec![zone_entry(p.zone.id, None)]) };
    let security = store.access_level_create(t, &security, &change()).await.unwrap();
    let household = store.group_create(t, &new_group("Souza", vec![p.other.id, p.person.id]), &change()).await.unwrap();
    let empty = store.group_create(t, &new_group("Nobody", Vec::new()), &change()).await.unwrap();
    let g1 = store.grant_create(t, &group_grant(household.id, residents.id), &change()).await.unwrap();
    let window = NewGrant { valid_until: Some(t0() + Duration::days(1)), ..person_grant(p.person.id, security.id) };
    let g2 = store.grant_create(t, &window, &change()).await.unwrap();
    let denial = store.denial_create(t, &new_denial(p.other.id), &change()).await.unwrap();
    let badge = store.credential_create(t, &card(p.person.id, 31_337), &change()).await.unwrap();
    let qr = CredentialInput {
        kind: CredentialKind::Qr,
        value: None,
        facility_code: None,
        lookup_key: "qr-key".into(),
        single_use: true,
        valid_from: Some(t0()),
        valid_until: Some(t1()),
        ..card(p.other.id, 0)
    };
    let qr = store.credential_create(t, &qr, &change()).await.unwrap();
    let timed = DoorSettings {
        mode: DoorMode::ScheduledUnlock,
        unlock_schedule_id: Some(night.id),
        first_person_in: true,
        requires_pin: false,
    };
    store.door_settings_put(t, gate.id, &timed, &change()).await.unwrap();
    let rules = ZoneRules { anti_passback: AntiPassback::Soft, anti_passback_reset_s: Some(3_600), occupancy_max: Some(12) };
    store.zone_rules_put(t, p.inner.id, &rules, &change()).await.unwrap();
    let released = store.lockdown_create(t, &site_lockdown(south.id), &change()).await.unwrap();
    store.lockdown_release(t, released.id, &change()).await.unwrap();
    let active = store.lockdown_create(t, &zone_lockdown(p.inner.id), &change()).await.unwrap();

    let policy = store.access_policy(t).await.unwrap().records;
    let sites: Vec<_> = policy.sites.iter().map(|(site, zone)| (*site, zone.name().to_owned())).collect();
    assert_eq!(sites, vec![(p.site.id, "America/Sao_Paulo".to_owned()), (south.id, "Europe/Lisbon".to_owned())]);
    assert_eq!(
        policy.zones,
        vec![
            ZonePlace { id: p.zone.id, site_id: p.site.id, parent_id: None, rules: ZoneRules::default() },
            ZonePlace { id: p.inner.id, site_id: p.site.id, parent_id: Some(p.zone.id), rules },
        ]
    );
    assert_eq!(
        policy.points,
        vec![
            PointPlace { id: p.door.id, zone_id: p.zone.id, door: DoorSettings::default() },
            PointPlace { id: gate.id, zone_id: p.inner.id, door: timed },
        ]
    );
    assert_eq!(policy.people, vec![(p.person.id, PersonStatus::Active), (p.other.id, PersonStatus::Archived)]);
    assert_eq!(
        policy.credentials,
        vec![
            CredentialEntry {
                id: badge.id,
                person_id: p.person.id,
                kind: CredentialKind::Card,
                lookup_key: "17:31337".into(),
                status: CredentialStatus::Active,
                valid_from: None,
                valid_until: None,
                single_use: false,
                used: false,
            },
            CredentialEntry {
                id: qr.id,
                person_id: p.other.id,
                kind: CredentialKind::Qr,
                lookup_key: "qr-key".into(),
                status: CredentialStatus::Active,
                valid_from: Some(t0()),
                valid_until: Some(t1()),
                single_use: true,
                used: false,
            },
        ]
    );
    assert_eq!(policy.schedules, vec![office, night]);
    assert_eq!(policy.holidays, vec![calendar]);
    assert_eq!(policy.levels, vec![residents, security]);
    assert_eq!(policy.grants, vec![g1, g2]);
    let mut members = vec![p.person.id, p.other.id];
    members.sort();
    assert_eq!(policy.groups, vec![(household.id, members), (empty.id, Vec::new())]);
    assert_eq!(policy.denials, vec![denial]);
    assert_eq!(policy.lockdowns, vec![active], "only lockdowns in force");
}

/// Row-level security covers every access policy table.
#[tokio::test]
async fn access_tables_are_behind_row_level_security() {
    use sqlx::{Executor as _, Row as _};

    let db = TestDatabase::postgres().await;
    let store = open(&db.url, OpenOptions::default()).await.unwrap();
    let a = tenant(&store, "tenant-a").await.id;
    let b = tenant(&store, "tenant-b").await.id;
    for t in [a, b] {
        let p = place(&store, t).await;
        let schedule = store.schedule_create(t, &new_schedule("Hours"), &change()).await.unwrap();
        store.holiday_calendar_create(t, &new_calendar("Days"), &change()).await.unwrap();
        let level = store
            .access_level_create(t, &new_level("Level", vec![point_entry(p.door.id, Some(schedule.id))]), &change())
            .await
            .unwrap();
        let group = store.group_create(t, &new_group("Group", vec![p.person.id]), &change()).await.unwrap();
        store.grant_create(t, &group_grant(group.id, level.id), &change()).await.unwrap();
        store.denial_create(t, &new_denial(p.other.id), &change()).await.unwrap();
        store.credential_create(t, &card(p.person.id, 1), &change()).await.unwrap();
        store.door_settings_put(t, p.door.id, &DoorSettings::default(), &change()).await.unwrap();
        store.zone_rules_put(t, p.zone.id, &ZoneRules::default(), &change()).await.unwrap();
        store.lockdown_create(t, &site_lockdown(p.site.id), &change()).await.unwrap();
    }

    let DatabaseUrl::Postgres(url) = &db.url else { unreachable!("a PostgreSQL test database") };
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    conn.execute(format!("SET ROLE {POSTGRES_APP_ROLE}").as_str()).await.unwrap();
    for table in [
        "credentials",
        "holiday_calendars",
        "schedules",
        "access_levels",
        "access_level_entries",
        "groups",
        "group_members",
        "grants",
        "denials",
        "door_settings",
        "zone_rules",
        "lockdowns",
    ] {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, true)").bind(a.to_string()).execute(&mut *tx).await.unwrap();
        let rows = tx.fetch_all(format!("SELECT tenant_id FROM {table}").as_str()).await.unwrap();
        let tenants: Vec<uuid::Uuid> = rows.iter().map(|r| r.get("tenant_id")).collect();
        assert_eq!(tenants, vec![a.as_uuid()], "{table}: tenant A sees only its own row");
        tx.commit().await.unwrap();
        let rows = conn.fetch_all(format!("SELECT tenant_id FROM {table}").as_str()).await.unwrap();
        assert!(rows.is_empty(), "{table}: no tenant, no rows");
    }
}
