//! The benchmark's policy in Cedar (cedar-policy 4), decided with `Authorizer::is_authorized`,
//! encoded the way Cedar's documentation models role- and hierarchy-based access: membership
//! and containment are entity parents, and there is one `permit` per access level.
//!
//! Entities (built once; Cedar computes the transitive closure of `in` then):
//! - `Zone::"Z<i>"` per zone (i: its index in `Policy::zones`), parent: its parent zone; and
//!   `Door::"D<i>"` per access point, parent: its zone. So `resource in Zone::"Z"` holds for
//!   every door in `Z` and in the zones inside it, as a Gatehouse zone entry covers them, and
//!   `resource in Door::"D"` for that door alone.
//! - `Level::"L<i>"` per access level. `Group::"G<i>"` per group, parents: the levels granted to
//!   the group (group grants have no window here).
//! - `Person::"P<i>"` per person, parents: their groups and the levels of their grants.
//!   Attributes: `active` (status is active), `denied_until` (Unix seconds the latest deny-list
//!   entry ends, `i64::MAX` for good, `i64::MIN` when not listed) and `windows`: one field per
//!   level the person holds only through a time-bounded grant, `L<i>: {from, until}` (Unix
//!   seconds, `[from, until)`). A level also held without a window (directly or through a group)
//!   has no field: the grant without a window decides.
//! - `Credential::"C<i>"` per credential, parent: its holder; the principal of every request.
//!   Attributes: `active` (status is active, not suspended, lost or expired), `from` and `until`
//!   (its validity window, Unix seconds) and `holder` (the `Person` entity).
//!
//! Policies: one `permit` per access level (that has an entry left), principal and resource in
//! the scope where one entity says it:
//! ```text
//! permit (principal in Level::"L7", action == Action::"enter", resource in Zone::"Z3")
//! when { <schedule of the entry> };
//! permit (principal in Level::"L9", action == Action::"enter", resource)
//! when { (resource in Zone::"Z4" && (<schedule>)) || resource in Door::"D12" }   // several entries
//! unless { principal.holder.windows has L9 &&
//!          (context.now < principal.holder.windows.L9.from || principal.holder.windows.L9.until <= context.now) };
//! ```
//! (the `unless` only on levels someone holds through a time-bounded grant), and three `forbid`s:
//! a credential not active or outside its window, a holder not active, a holder on the deny list
//! (`context.now < principal.holder.denied_until`).
//!
//! What Cedar cannot express is computed per request by the harness, inside the timed region,
//! and handed over in the context: Cedar has no time zones or calendars, so the site's wall
//! clock is context fields: `now` (Unix seconds), `minute` of the local day, `weekday` /
//! `yesterday_weekday` (Monday 0 … Sunday 6), and `day` / `yesterday`, the same but 7 on a day of
//! the holiday calendar (used by schedules that follow the calendar). An interval `days start–end`
//! is `[days].contains(context.day) && start <= context.minute && context.minute < end`; one that
//! spans midnight is `([days].contains(context.day) && start <= context.minute) ||
//! ([days].contains(context.yesterday) && context.minute < end)`, as Gatehouse's interval belongs
//! to the day it starts on; no schedule is no condition. Cedar cannot look an entity up by an
//! attribute's value either, so the harness finds the credential by its lookup key (as Gatehouse
//! does) and an unknown credential or door is refused before Cedar; the credential's state is
//! Cedar's (`Harness::prepare_with(…, false)`).
//!
//! No schema (it would only add validation). Any evaluation error in a response is reported as a
//! failure, and the agreement check of `engine.rs` compares every answer with Gatehouse's.

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
    credentials: Vec<EntityUid>,
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

/// The policy text of one access level: `entries` are `(resource entity, schedule condition)`.
fn level_policy(level: usize, entries: &[(String, Option<&str>)], windowed: bool) -> String {
    let (resource, when) = match entries {
        [(entity, condition)] => (format!("resource in {entity}"), condition.map(str::to_owned)),
        _ => {
            let terms: Vec<String> = entries
                .iter()
                .map(|(entity, condition)| match condition {
                    Some(condition) => format!("(resource in {entity} && ({condition}))"),
                    None => format!("resource in {entity}"),
                })
                .collect();
            ("resource".to_owned(), Some(terms.join(" || ")))
        }
    };
    let mut text = format!("permit (principal in Level::\"L{level}\", action == Action::\"enter\", {resource})");
    if let Some(when) = when {
        text.push_str(&format!("\nwhen {{ {when} }}"));
    }
    if windowed {
        let window = format!("principal.holder.windows.L{level}");
        text.push_str(&format!(
            "\nunless {{ principal.holder.windows has L{level} && (context.now < {window}.from || {window}.until <= context.now) }}"
        ));
    }
    text.push_str(";\n");
    text
}

impl Cedar {
    pub fn build(policy: &Policy, harness: Harness) -> anyhow::Result<Cedar> {
        let (zone_t, door_t, level_t, group_t, person_t, credential_t) = (
            type_name("Zone")?,
            type_name("Door")?,
            type_name("Level")?,
            type_name("Group")?,
            type_name("Person")?,
            type_name("Credential")?,
        );
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
        let credential = |ix: usize| uid(&credential_t, format!("C{ix}"));

        // Grants: every granted level is a parent; a time-bounded one also gets a window,
        // dropped below when the level is held without one too.
        let mut person_parents: Vec<HashSet<EntityUid>> = vec![HashSet::new(); policy.people.len()];
        let mut untimed: Vec<HashSet<usize>> = vec![HashSet::new(); policy.people.len()];
        let mut windows: Vec<BTreeMap<usize, (i64, i64)>> = vec![BTreeMap::new(); policy.people.len()];
        let mut group_levels: Vec<HashSet<usize>> = vec![HashSet::new(); policy.groups.len()];
        for grant in &policy.grants {
            let Some(&level_i) = level_ix.get(&grant.access_level_id) else { continue };
            if let Some(&person_i) = grant.person_id.as_ref().and_then(|id| person_ix.get(id)) {
                person_parents[person_i].insert(level(level_i));
                if grant.valid_from.is_none() && grant.valid_until.is_none() {
                    untimed[person_i].insert(level_i);
                } else {
                    let window = (
                        grant.valid_from.map_or(i64::MIN, |at| at.timestamp()),
                        grant.valid_until.map_or(i64::MAX, |at| at.timestamp()),
                    );
                    anyhow::ensure!(
                        windows[person_i].insert(level_i, window).is_none(),
                        "two time-bounded grants of one level to one person are not translated"
                    );
                }
            }
            if let Some(&group_i) = grant.group_id.as_ref().and_then(|id| group_ix.get(id)) {
                group_levels[group_i].insert(level_i);
            }
        }
        for (group_i, (_, members)) in policy.groups.iter().enumerate() {
            for member in members {
                if let Some(&person_i) = person_ix.get(member) {
                    person_parents[person_i].insert(group(group_i));
                    untimed[person_i].extend(group_levels[group_i].iter().copied());
                }
            }
        }
        let mut windowed_levels = HashSet::new();
        for (windows, untimed) in windows.iter_mut().zip(&untimed) {
            windows.retain(|level_i, _| !untimed.contains(level_i));
            windowed_levels.extend(windows.keys().copied());
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
        for (ix, levels) in group_levels.iter().enumerate() {
            entities.push(Entity::new_no_attrs(group(ix), levels.iter().map(|&level_i| level(level_i)).collect()));
        }
        for (ix, ((&(_, status), parents), windows)) in policy.people.iter().zip(person_parents).zip(&windows).enumerate() {
            let windows = windows
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
                ("windows".to_owned(), RestrictedExpression::new_record(windows)?),
            ]);
            entities.push(Entity::new(person(ix), attrs, parents)?);
        }
        let mut credentials = Vec::new();
        for (ix, (holder, active, from, until)) in harness.credentials().enumerate() {
            let attrs = HashMap::from([
                ("active".to_owned(), RestrictedExpression::new_bool(active)),
                ("from".to_owned(), long(from)),
                ("until".to_owned(), long(until)),
                ("holder".to_owned(), RestrictedExpression::new_entity_uid(person(holder))),
            ]);
            entities.push(Entity::new(credential(ix), attrs, HashSet::from([person(holder)]))?);
            credentials.push(credential(ix));
        }
        let entities = Entities::from_entities(entities, None)?;

        // Policies: the three forbids, then one permit per access level.
        let mut text = String::from(
            "forbid (principal, action, resource)\n\
             unless { principal.active && principal.from <= context.now && context.now < principal.until };\n\
             forbid (principal, action, resource) unless { principal.holder.active };\n\
             forbid (principal, action, resource) when { context.now < principal.holder.denied_until };\n",
        );
        let mut policy_count = 3;
        let schedule_ix: HashMap<_, usize> =
            policy.schedules.iter().enumerate().map(|(ix, schedule)| (schedule.id, ix)).collect();
        let conditions: Vec<String> = policy.schedules.iter().map(schedule_condition).collect();
        for (level_i, access_level) in policy.levels.iter().enumerate() {
            let mut entries: Vec<(String, Option<&str>)> = Vec::new();
            for entry in &access_level.entries {
                let condition = match entry.schedule_id {
                    None => None,
                    // Gatehouse skips an entry whose schedule is gone.
                    Some(id) => match schedule_ix.get(&id) {
                        Some(&ix) => Some(conditions[ix].as_str()),
                        None => continue,
                    },
                };
                if let Some(&point) = entry.access_point_id.as_ref().and_then(|id| point_ix.get(id)) {
                    entries.push((format!("Door::\"D{point}\""), condition));
                }
                if let Some(&zone_i) = entry.zone_id.as_ref().and_then(|id| zone_ix.get(id)) {
                    entries.push((format!("Zone::\"Z{zone_i}\""), condition));
                }
            }
            if entries.is_empty() {
                continue;
            }
            text.push_str(&level_policy(level_i, &entries, windowed_levels.contains(&level_i)));
            policy_count += 1;
        }
        let policies = PolicySet::from_str(&text).map_err(|err| anyhow::anyhow!("the Cedar policies do not parse: {err}"))?;
        let action = EntityUid::from_str("Action::\"enter\"").map_err(|err| anyhow::anyhow!("{err}"))?;
        Ok(Cedar {
            harness,
            authorizer: Authorizer::new(),
            policies,
            entities,
            credentials,
            doors: (0..policy.points.len()).map(door).collect(),
            action,
            policy_count,
        })
    }

    /// The harness (credential and door found, wall clock), then `is_authorized` with the request's context.
    #[inline]
    pub fn decide(&self, request: &BenchRequest) -> anyhow::Result<bool> {
        let Some(prepared) = self.harness.prepare_with(request, false) else { return Ok(false) };
        let context = Context::from_pairs([
            ("now".to_owned(), long(prepared.now)),
            ("minute".to_owned(), long(prepared.minute)),
            ("weekday".to_owned(), long(prepared.weekday)),
            ("yesterday_weekday".to_owned(), long(prepared.yesterday_weekday)),
            ("day".to_owned(), long(prepared.day)),
            ("yesterday".to_owned(), long(prepared.yesterday)),
        ])?;
        let request = Request::new(
            self.credentials[prepared.credential].clone(),
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
