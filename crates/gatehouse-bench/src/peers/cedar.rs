//! The benchmark's policy in Cedar (cedar-policy 4), decided with `Authorizer::is_authorized`.
//!
//! Mapping from Gatehouse's `Policy`:
//! - `Zone::"Z<i>"` per zone (i: its index in `Policy::zones`), parent: its parent zone.
//! - `Door::"D<i>"` per access point, parent: its zone. So `resource in Zone::"Z"` holds for
//!   every door in `Z` and the zones inside it, as a Gatehouse zone entry covers them.
//! - `Level::"L<i>"` per access level; `Group::"G<i>"` per group, parents: the levels granted
//!   to the group (group grants have no window here).
//! - `Person::"P<i>"` per person, parents: the levels of their grants without a window, and
//!   their groups. Attributes: `active` (status is active), `denied_until` (Unix seconds the
//!   latest deny-list entry ends, `i64::MAX` for good, `i64::MIN` when not listed), and `timed`:
//!   a record with one field per level the person holds through a time-bounded grant,
//!   `L<i>: {from, until}` (Unix seconds, `[from, until)`).
//! - One `permit` per level entry:
//!   `permit (principal in Level::"L", action == Action::"enter", resource in Zone::"Z" | resource == Door::"D") when { <schedule> };`
//!   and, for a level held through some time-bounded grant, the principal moves to the
//!   condition: `permit (principal, …) when { (principal in Level::"L" || (principal.timed has L
//!   && principal.timed.L.from <= context.now && context.now < principal.timed.L.until)) && <schedule> };`
//! - The schedule is written over context fields the harness computes per request (timed):
//!   `minute` of the local day, `weekday` / `yesterday_weekday` (Monday 0 … Sunday 6), and
//!   `day` / `yesterday`, the same but 7 on a day of the holiday calendar (used by schedules
//!   that follow the calendar). Interval `days start–end` is
//!   `[days].contains(context.day) && start <= context.minute && context.minute < end`; one that
//!   spans midnight is `([days].contains(context.day) && start <= context.minute) ||
//!   ([days].contains(context.yesterday) && context.minute < end)`, as Gatehouse's interval
//!   belongs to the day it starts on. No schedule: `true`.
//! - `forbid (principal, action, resource) when { !principal.active };` and
//!   `forbid (principal, action, resource) when { context.now < principal.denied_until };`.
//! - Credentials (lookup, suspended/lost/expired, window) are the harness's (see `peers/mod.rs`).
//!
//! Entities are built once (Cedar computes the transitive closure then); no schema (it
//! would only add validation). Any evaluation error in a response is reported as a failure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression,
};
use gatehouse_access::policy::Policy;
use gatehouse_domain::people::PersonStatus;

use super::{schedule_rows, Harness};
use crate::community::BenchRequest;

pub struct Cedar {
    harness: Harness,
    authorizer: Authorizer,
    policies: PolicySet,
    entities: Entities,
    people: Vec<EntityUid>,
    doors: Vec<EntityUid>,
    action: EntityUid,
    /// How many policies the set holds.
    pub policy_count: usize,
}

fn type_name(name: &str) -> anyhow::Result<EntityTypeName> {
    EntityTypeName::from_str(name).map_err(|err| anyhow::anyhow!("entity type {name}: {err}"))
}

fn uid(kind: &EntityTypeName, id: String) -> EntityUid {
    EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
}

fn long(value: i64) -> RestrictedExpression {
    RestrictedExpression::new_long(value)
}

/// `[0, 1, 2].contains(field)`, or `field == 5` for one day.
fn days_test(days: &[i64], field: &str) -> String {
    match days {
        [day] => format!("{field} == {day}"),
        _ => format!("[{}].contains({field})", days.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// A schedule as a Cedar condition over the context (see the module doc).
fn schedule_condition(schedule: &gatehouse_access::policy::Schedule) -> String {
    let (today, yesterday) = if schedule.holiday_calendar_id.is_some() {
        ("context.day", "context.yesterday")
    } else {
        ("context.weekday", "context.yesterday_weekday")
    };
    let terms: Vec<String> = schedule_rows(schedule)
        .into_iter()
        .map(|(days, start, end)| {
            let mut from = vec![days_test(&days, today)];
            if end > start {
                if start > 0 {
                    from.push(format!("{start} <= context.minute"));
                }
                if end < 1_440 {
                    from.push(format!("context.minute < {end}"));
                }
                format!("({})", from.join(" && "))
            } else {
                if start > 0 {
                    from.push(format!("{start} <= context.minute"));
                }
                format!("({}) || ({} && context.minute < {end})", from.join(" && "), days_test(&days, yesterday))
            }
        })
        .collect();
    if terms.is_empty() {
        "false".to_owned()
    } else {
        terms.join(" || ")
    }
}

impl Cedar {
    pub fn build(policy: &Policy, harness: Harness) -> anyhow::Result<Cedar> {
        let (zone_t, door_t, level_t, group_t, person_t) =
            (type_name("Zone")?, type_name("Door")?, type_name("Level")?, type_name("Group")?, type_name("Person")?);
        let zone_ix: HashMap<_, usize> = policy.zones.iter().enumerate().map(|(ix, zone)| (zone.id, ix)).collect();
        let point_ix: HashMap<_, usize> = policy.points.iter().enumerate().map(|(ix, point)| (point.id, ix)).collect();
        let level_ix: HashMap<_, usize> = policy.levels.iter().enumerate().map(|(ix, level)| (level.id, ix)).collect();
        let person_ix: HashMap<_, usize> = policy.people.iter().enumerate().map(|(ix, &(id, _))| (id, ix)).collect();
        let group_ix: HashMap<_, usize> = policy.groups.iter().enumerate().map(|(ix, (id, _))| (*id, ix)).collect();
        let zone = |ix: usize| uid(&zone_t, format!("Z{ix}"));
        let door = |ix: usize| uid(&door_t, format!("D{ix}"));
        let level = |ix: usize| uid(&level_t, format!("L{ix}"));
        let group = |ix: usize| uid(&group_t, format!("G{ix}"));
        let person = |ix: usize| uid(&person_t, format!("P{ix}"));

        // Grants: levels without a window as parents, time-bounded ones as `timed` fields.
        let mut person_parents: Vec<HashSet<EntityUid>> = vec![HashSet::new(); policy.people.len()];
        let mut timed: Vec<BTreeMap<usize, (i64, i64)>> = vec![BTreeMap::new(); policy.people.len()];
        let mut timed_levels = HashSet::new();
        let mut group_parents: Vec<HashSet<EntityUid>> = vec![HashSet::new(); policy.groups.len()];
        for grant in &policy.grants {
            let Some(&level_i) = level_ix.get(&grant.access_level_id) else { continue };
            if let Some(&person_i) = grant.person_id.as_ref().and_then(|id| person_ix.get(id)) {
                if grant.valid_from.is_none() && grant.valid_until.is_none() {
                    person_parents[person_i].insert(level(level_i));
                } else {
                    let window = (
                        grant.valid_from.map_or(i64::MIN, |at| at.timestamp()),
                        grant.valid_until.map_or(i64::MAX, |at| at.timestamp()),
                    );
                    anyhow::ensure!(
                        timed[person_i].insert(level_i, window).is_none(),
                        "two time-bounded grants of one level to one person are not translated"
                    );
                    timed_levels.insert(level_i);
                }
            }
            if let Some(&group_i) = grant.group_id.as_ref().and_then(|id| group_ix.get(id)) {
                group_parents[group_i].insert(level(level_i));
            }
        }
        for (group_i, (_, members)) in policy.groups.iter().enumerate() {
            for member in members {
                if let Some(&person_i) = person_ix.get(member) {
                    person_parents[person_i].insert(group(group_i));
                }
            }
        }
        let mut denied_until = vec![i64::MIN; policy.people.len()];
        for denial in &policy.denials {
            if let Some(&person_i) = person_ix.get(&denial.person_id) {
                let until = denial.valid_until.map_or(i64::MAX, |at| at.timestamp());
                denied_until[person_i] = denied_until[person_i].max(until);
            }
        }

        let mut entities = Vec::new();
        for (ix, place) in policy.zones.iter().enumerate() {
            let parents =
                place.parent_id.and_then(|parent| zone_ix.get(&parent)).map(|&parent| zone(parent)).into_iter().collect();
            entities.push(Entity::new_no_attrs(zone(ix), parents));
        }
        for (ix, point) in policy.points.iter().enumerate() {
            let parents = zone_ix.get(&point.zone_id).map(|&parent| zone(parent)).into_iter().collect();
            entities.push(Entity::new_no_attrs(door(ix), parents));
        }
        for ix in 0..policy.levels.len() {
            entities.push(Entity::new_no_attrs(level(ix), HashSet::new()));
        }
        for (ix, parents) in group_parents.into_iter().enumerate() {
            entities.push(Entity::new_no_attrs(group(ix), parents));
        }
        for (ix, ((&(_, status), parents), timed)) in policy.people.iter().zip(person_parents).zip(&timed).enumerate() {
            let windows = timed
                .iter()
                .map(|(&level_i, &(from, until))| {
                    Ok((
                        format!("L{level_i}"),
                        RestrictedExpression::new_record([("from".to_owned(), long(from)), ("until".to_owned(), long(until))])?,
                    ))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let attrs = HashMap::from([
                ("active".to_owned(), RestrictedExpression::new_bool(status == PersonStatus::Active)),
                ("denied_until".to_owned(), long(denied_until[ix])),
                ("timed".to_owned(), RestrictedExpression::new_record(windows)?),
            ]);
            entities.push(Entity::new(person(ix), attrs, parents)?);
        }
        let entities = Entities::from_entities(entities, None)?;

        // Policies: the two forbids, then one permit per level entry.
        let mut text = String::from(
            "forbid (principal, action, resource) when { !principal.active };\n\
             forbid (principal, action, resource) when { context.now < principal.denied_until };\n",
        );
        let schedule_ix: HashMap<_, usize> =
            policy.schedules.iter().enumerate().map(|(ix, schedule)| (schedule.id, ix)).collect();
        let conditions: Vec<String> = policy.schedules.iter().map(schedule_condition).collect();
        let mut policy_count = 2;
        for (level_i, access_level) in policy.levels.iter().enumerate() {
            for entry in &access_level.entries {
                let condition = match entry.schedule_id {
                    None => "true",
                    // Gatehouse skips an entry whose schedule is gone.
                    Some(id) => match schedule_ix.get(&id) {
                        Some(&ix) => conditions[ix].as_str(),
                        None => continue,
                    },
                };
                let mut resources = Vec::new();
                if let Some(&point) = entry.access_point_id.as_ref().and_then(|id| point_ix.get(id)) {
                    resources.push(format!("resource == Door::\"D{point}\""));
                }
                if let Some(&zone_i) = entry.zone_id.as_ref().and_then(|id| zone_ix.get(id)) {
                    resources.push(format!("resource in Zone::\"Z{zone_i}\""));
                }
                for resource in resources {
                    let line = if timed_levels.contains(&level_i) {
                        let held = format!(
                            "principal in Level::\"L{level_i}\" || (principal.timed has L{level_i} && principal.timed.L{level_i}.from <= context.now && context.now < principal.timed.L{level_i}.until)"
                        );
                        format!(
                            "permit (principal, action == Action::\"enter\", {resource}) when {{ ({held}) && ({condition}) }};\n"
                        )
                    } else {
                        format!(
                            "permit (principal in Level::\"L{level_i}\", action == Action::\"enter\", {resource}) when {{ {condition} }};\n"
                        )
                    };
                    text.push_str(&line);
                    policy_count += 1;
                }
            }
        }
        let policies = PolicySet::from_str(&text).map_err(|err| anyhow::anyhow!("the Cedar policies do not parse: {err}"))?;
        let action = EntityUid::from_str("Action::\"enter\"").map_err(|err| anyhow::anyhow!("{err}"))?;
        Ok(Cedar {
            harness,
            authorizer: Authorizer::new(),
            policies,
            entities,
            people: (0..policy.people.len()).map(person).collect(),
            doors: (0..policy.points.len()).map(door).collect(),
            action,
            policy_count,
        })
    }

    /// The harness, then `is_authorized` with the request's context.
    #[inline]
    pub fn decide(&self, request: &BenchRequest) -> anyhow::Result<bool> {
        let Some(prepared) = self.harness.prepare(request) else { return Ok(false) };
        let context = Context::from_pairs([
            ("now".to_owned(), long(prepared.now)),
            ("minute".to_owned(), long(prepared.minute)),
            ("weekday".to_owned(), long(prepared.weekday)),
            ("yesterday_weekday".to_owned(), long(prepared.yesterday_weekday)),
            ("day".to_owned(), long(prepared.day)),
            ("yesterday".to_owned(), long(prepared.yesterday)),
        ])?;
        let request = Request::new(
            self.people[prepared.person].clone(),
            self.action.clone(),
            self.doors[prepared.door].clone(),
            context,
            None,
        )?;
        let response = self.authorizer.is_authorized(&request, &self.policies, &self.entities);
        if let Some(error) = response.diagnostics().errors().next() {
            anyhow::bail!("Cedar evaluation error: {error}");
        }
        Ok(response.decision() == Decision::Allow)
    }
}

impl std::fmt::Debug for Cedar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cedar").field("policies", &self.policy_count).finish_non_exhaustive()
    }
}
