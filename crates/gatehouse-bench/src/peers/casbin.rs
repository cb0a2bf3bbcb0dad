//! The benchmark's policy in casbin (casbin-rs 2, runtime-tokio, used only to load the
//! policy), decided with the synchronous `Enforcer::enforce`.
//!
//! Mapping from Gatehouse's `Policy`:
//! - Names: `P<i>` person, `G<i>` group, `L<i>` access level, `D<i>` access point, `Z<i>` zone
//!   (i: the index in the policy's list). casbin-rs keeps every `g`-type link in one role
//!   manager, so the prefixes keep people and doors apart.
//! - `g` (person → level, person → group → level): grants without a window and group memberships.
//!   Time-bounded grants (person, level, `[from, until)` in Unix seconds) are in a table read by
//!   the custom function `timedGrant(r.sub, p.sub, r.now)` (casbin has no validity on links).
//! - `g2` (door → zone → parent zone, transitive): the zone tree, so `g2(r.obj, p.obj)` holds for
//!   a door in zone `p.obj` or a zone inside it, as a Gatehouse zone entry covers them; an entry
//!   on one access point names the door itself (`has_link` of a name with itself is true).
//! - `p = level, zone-or-door, schedule`: one row per level entry. The schedule is written in the
//!   row itself: `*` (always), or `H;` (follows the holiday calendar) / `W;` (does not) and
//!   intervals `days@start-end` separated by `;`, days as digits (Monday 0 … Sunday 6, holiday
//!   7), minutes of the day, an end at or before the start spanning midnight.
//! - The custom function `inSchedule(p.sched, r.minute, r.day, r.yday, r.wday, r.ywday)` reads
//!   the row's schedule against the request's wall clock, which the harness computes per request
//!   (timed; `day`/`yday` are 7 on holidays, `wday`/`ywday` never): an interval belongs to the
//!   day it starts on, as in Gatehouse.
//! - Effect: `some(where (p.eft == allow))`. Matcher:
//!   `g2(r.obj, p.obj) && (g(r.sub, p.sub) || timedGrant(r.sub, p.sub, r.now)) && inSchedule(…)`
//!   (door first: it rules out most rows with the cheapest lookups; the order changes no answer).
//! - Inactive people and the deny list are checked by the harness, timed, before `enforce`:
//!   casbin's allow-only effect has no per-subject deny without a second policy type.
//! - Credentials (lookup, suspended/lost/expired, window) are the harness's (see `peers/mod.rs`).
//! - The role manager's maximum hierarchy depth is the deepest chain of links (door → zones to
//!   the root, person → group → level), at least casbin's default of 10; checked on every door.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use anyhow::ensure;
use casbin::function_map::OperatorFunction;
use casbin::prelude::*;
use casbin::rhai::Dynamic;
use casbin::{DefaultRoleManager, RoleManager};
use gatehouse_access::policy::Policy;
use gatehouse_domain::people::PersonStatus;

use super::{schedule_rows, Harness};
use crate::community::BenchRequest;

const MODEL: &str = r#"
[request_definition]
r = sub, obj, now, minute, day, yday, wday, ywday

[policy_definition]
p = sub, obj, sched

[role_definition]
g = _, _
g2 = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g2(r.obj, p.obj) && (g(r.sub, p.sub) || timedGrant(r.sub, p.sub, r.now)) && inSchedule(p.sched, r.minute, r.day, r.yday, r.wday, r.ywday)
"#;

/// Person → `(level, from, until)` of their time-bounded grants. A custom function is a plain
/// `fn`, so its data lives in a static: one casbin peer per process.
static TIMED: OnceLock<TimedGrants> = OnceLock::new();

type TimedGrants = HashMap<String, Vec<(String, i64, i64)>>;

fn timed_grant(person: Dynamic, level: Dynamic, now: Dynamic) -> bool {
    let (Ok(person), Ok(level), Ok(now)) = (person.into_immutable_string(), level.into_immutable_string(), now.as_int()) else {
        return false;
    };
    let now = i64::from(now);
    TIMED.get().and_then(|table| table.get(person.as_str())).is_some_and(|grants| {
        grants.iter().any(|(held, from, until)| held.as_str() == level.as_str() && *from <= now && now < *until)
    })
}

/// Reads a row's schedule (see the module doc) at the request's wall clock.
fn in_schedule(spec: &str, minute: i32, day: i32, yesterday: i32, weekday: i32, yesterday_weekday: i32) -> bool {
    if spec == "*" {
        return true;
    }
    let mut parts = spec.split(';');
    let (today, yesterday) = match parts.next() {
        Some("H") => (day, yesterday),
        _ => (weekday, yesterday_weekday),
    };
    let has = |days: &str, day: i32| days.bytes().any(|digit| i32::from(digit) - i32::from(b'0') == day);
    for interval in parts {
        let Some((days, range)) = interval.split_once('@') else { continue };
        let Some((start, end)) = range.split_once('-') else { continue };
        let (Ok(start), Ok(end)) = (start.parse::<i32>(), end.parse::<i32>()) else { continue };
        let open = if end > start {
            has(days, today) && start <= minute && minute < end
        } else {
            (has(days, today) && start <= minute) || (has(days, yesterday) && minute < end)
        };
        if open {
            return true;
        }
    }
    false
}

fn in_schedule_dynamic(spec: Dynamic, minute: Dynamic, day: Dynamic, yday: Dynamic, wday: Dynamic, ywday: Dynamic) -> Dynamic {
    let Ok(spec) = spec.into_immutable_string() else { return false.into() };
    match (minute.as_int(), day.as_int(), yday.as_int(), wday.as_int(), ywday.as_int()) {
        (Ok(minute), Ok(day), Ok(yday), Ok(wday), Ok(ywday)) => in_schedule(spec.as_str(), minute, day, yday, wday, ywday).into(),
        _ => false.into(),
    }
}

/// A schedule as a casbin row field.
fn schedule_spec(schedule: &gatehouse_access::policy::Schedule) -> String {
    let mut spec = String::from(if schedule.holiday_calendar_id.is_some() { "H" } else { "W" });
    for (days, start, end) in schedule_rows(schedule) {
        let days: String = days.iter().map(i64::to_string).collect();
        spec.push_str(&format!(";{days}@{start}-{end}"));
    }
    spec
}

struct Person {
    name: String,
    active: bool,
    /// Unix seconds the latest deny-list entry ends (`i64::MIN`: not listed).
    denied_until: i64,
}

pub struct Casbin {
    harness: Harness,
    enforcer: Enforcer,
    people: Vec<Person>,
    doors: Vec<String>,
    /// Rows: `p`, and `g` plus `g2`.
    pub policy_rows: usize,
    pub link_rows: usize,
    pub max_depth: usize,
}

fn casbin_error(err: casbin::Error) -> anyhow::Error {
    anyhow::anyhow!("casbin: {err}")
}

impl Casbin {
    pub fn build(policy: &Policy, harness: Harness) -> anyhow::Result<Casbin> {
        let zone_ix: HashMap<_, usize> = policy.zones.iter().enumerate().map(|(ix, zone)| (zone.id, ix)).collect();
        let point_ix: HashMap<_, usize> = policy.points.iter().enumerate().map(|(ix, point)| (point.id, ix)).collect();
        let level_ix: HashMap<_, usize> = policy.levels.iter().enumerate().map(|(ix, level)| (level.id, ix)).collect();
        let person_ix: HashMap<_, usize> = policy.people.iter().enumerate().map(|(ix, &(id, _))| (id, ix)).collect();
        let group_ix: HashMap<_, usize> = policy.groups.iter().enumerate().map(|(ix, (id, _))| (*id, ix)).collect();

        let mut g = BTreeSet::new();
        let mut timed = TimedGrants::new();
        for grant in &policy.grants {
            let Some(&level) = level_ix.get(&grant.access_level_id) else { continue };
            if let Some(&person) = grant.person_id.as_ref().and_then(|id| person_ix.get(id)) {
                if grant.valid_from.is_none() && grant.valid_until.is_none() {
                    g.insert(vec![format!("P{person}"), format!("L{level}")]);
                } else {
                    timed.entry(format!("P{person}")).or_default().push((
                        format!("L{level}"),
                        grant.valid_from.map_or(i64::MIN, |at| at.timestamp()),
                        grant.valid_until.map_or(i64::MAX, |at| at.timestamp()),
                    ));
                }
            }
            if let Some(&group) = grant.group_id.as_ref().and_then(|id| group_ix.get(id)) {
                g.insert(vec![format!("G{group}"), format!("L{level}")]);
            }
        }
        for (group, (_, members)) in policy.groups.iter().enumerate() {
            for member in members {
                if let Some(&person) = person_ix.get(member) {
                    g.insert(vec![format!("P{person}"), format!("G{group}")]);
                }
            }
        }
        let mut g2 = BTreeSet::new();
        let mut zone_depth = vec![0usize; policy.zones.len()];
        for (ix, zone) in policy.zones.iter().enumerate() {
            if let Some(&parent) = zone.parent_id.as_ref().and_then(|id| zone_ix.get(id)) {
                g2.insert(vec![format!("Z{ix}"), format!("Z{parent}")]);
            }
            // Links from this zone up to the root (bounded: the tree has no cycles, but be safe).
            let mut current = zone.parent_id;
            while let Some(parent) = current {
                zone_depth[ix] += 1;
                ensure!(zone_depth[ix] <= policy.zones.len(), "the zone tree has a cycle");
                current = zone_ix.get(&parent).and_then(|&parent| policy.zones[parent].parent_id);
            }
        }
        let mut door_depth = 0;
        for (ix, point) in policy.points.iter().enumerate() {
            if let Some(&zone) = zone_ix.get(&point.zone_id) {
                g2.insert(vec![format!("D{ix}"), format!("Z{zone}")]);
                door_depth = door_depth.max(1 + zone_depth[zone]);
            }
        }
        // person → group → level is 2 links.
        let max_depth = door_depth.max(2).max(10);

        let schedule_ix: HashMap<_, usize> =
            policy.schedules.iter().enumerate().map(|(ix, schedule)| (schedule.id, ix)).collect();
        let specs: Vec<String> = policy.schedules.iter().map(schedule_spec).collect();
        let mut p = BTreeSet::new();
        for (level, access_level) in policy.levels.iter().enumerate() {
            for entry in &access_level.entries {
                let spec = match entry.schedule_id {
                    None => "*".to_owned(),
                    // Gatehouse skips an entry whose schedule is gone.
                    Some(id) => match schedule_ix.get(&id) {
                        Some(&ix) => specs[ix].clone(),
                        None => continue,
                    },
                };
                if let Some(&point) = entry.access_point_id.as_ref().and_then(|id| point_ix.get(id)) {
                    p.insert(vec![format!("L{level}"), format!("D{point}"), spec.clone()]);
                }
                if let Some(&zone) = entry.zone_id.as_ref().and_then(|id| zone_ix.get(id)) {
                    p.insert(vec![format!("L{level}"), format!("Z{zone}"), spec]);
                }
            }
        }
        let (policy_rows, link_rows) = (p.len(), g.len() + g2.len());
        TIMED.set(timed).map_err(|_| anyhow::anyhow!("the casbin peer is built once per process"))?;

        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        let enforcer = runtime.block_on(async {
            let model = DefaultModel::from_str(MODEL).await?;
            let mut enforcer = Enforcer::new(model, MemoryAdapter::default()).await?;
            enforcer
                .add_function("timedGrant", OperatorFunction::Arg3(|person, level, now| timed_grant(person, level, now).into()));
            enforcer.add_function("inSchedule", OperatorFunction::Arg6(in_schedule_dynamic));
            let roles: Arc<parking_lot::RwLock<dyn RoleManager>> =
                Arc::new(parking_lot::RwLock::new(DefaultRoleManager::new(max_depth)));
            enforcer.set_role_manager(roles)?;
            let added = [
                enforcer.add_named_grouping_policies("g", g.into_iter().collect()).await?,
                enforcer.add_named_grouping_policies("g2", g2.into_iter().collect()).await?,
                enforcer.add_policies(p.into_iter().collect()).await?,
            ];
            enforcer.build_role_links()?;
            Ok::<_, casbin::Error>((enforcer, added))
        });
        let (enforcer, added) = enforcer.map_err(casbin_error)?;
        ensure!(added.iter().all(|&added| added), "casbin refused some rows");

        // Every door reaches every zone above it within the role manager's depth.
        let roles = enforcer.get_role_manager();
        for (ix, point) in policy.points.iter().enumerate() {
            let mut current = Some(point.zone_id);
            while let Some(zone) = current.and_then(|zone| zone_ix.get(&zone)) {
                ensure!(
                    roles.read().has_link(&format!("D{ix}"), &format!("Z{zone}"), None),
                    "door D{ix} does not reach zone Z{zone}"
                );
                current = policy.zones[*zone].parent_id;
            }
        }

        let mut denied_until = vec![i64::MIN; policy.people.len()];
        for denial in &policy.denials {
            if let Some(&person) = person_ix.get(&denial.person_id) {
                denied_until[person] = denied_until[person].max(denial.valid_until.map_or(i64::MAX, |at| at.timestamp()));
            }
        }
        Ok(Casbin {
            harness,
            enforcer,
            people: policy
                .people
                .iter()
                .enumerate()
                .map(|(ix, &(_, status))| Person {
                    name: format!("P{ix}"),
                    active: status == PersonStatus::Active,
                    denied_until: denied_until[ix],
                })
                .collect(),
            doors: (0..policy.points.len()).map(|ix| format!("D{ix}")).collect(),
            policy_rows,
            link_rows,
            max_depth,
        })
    }

    /// The harness, the person's state, then `enforce`.
    #[inline]
    pub fn decide(&self, request: &BenchRequest) -> anyhow::Result<bool> {
        let Some(prepared) = self.harness.prepare(request) else { return Ok(false) };
        let person = &self.people[prepared.person];
        if !person.active || prepared.now < person.denied_until {
            return Ok(false);
        }
        // casbin's script engine is built with 32-bit integers.
        let small = |value: i64| i32::try_from(value).map_err(|_| anyhow::anyhow!("{value} does not fit casbin's integers"));
        self.enforcer
            .enforce((
                person.name.as_str(),
                self.doors[prepared.door].as_str(),
                small(prepared.now)?,
                small(prepared.minute)?,
                small(prepared.day)?,
                small(prepared.yesterday)?,
                small(prepared.weekday)?,
                small(prepared.yesterday_weekday)?,
            ))
            .map_err(casbin_error)
    }
}

impl std::fmt::Debug for Casbin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Casbin")
            .field("policy_rows", &self.policy_rows)
            .field("link_rows", &self.link_rows)
            .finish_non_exhaustive()
    }
}
