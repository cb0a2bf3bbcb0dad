//! Who is inside each zone: the state behind anti-passback and occupancy limits.
//!
//! A person is inside a zone from a granted entry until a granted exit, a
//! manual forgive, or (where the zone resets) the reset period after entering.
//! Counts are set sizes, so they cannot go negative; an exit of someone not
//! inside changes nothing.

use gatehouse_domain::{PersonId, ZoneId};

use crate::policy::{AntiPassback, ZoneRules};
use crate::snapshot::FastMap;

/// What an entry into a zone would run into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryCheck {
    Clear,
    /// Already inside, and the zone has anti-passback (the rules say whether hard or soft).
    Passback(AntiPassback),
    /// The zone holds its maximum.
    Full,
}

#[derive(Debug, Default, Clone)]
pub struct Presence {
    zones: FastMap<ZoneId, FastMap<PersonId, i64>>,
}

impl Presence {
    fn stale(rules: &ZoneRules, since: i64, now: i64) -> bool {
        rules.anti_passback_reset_s.is_some_and(|reset| since.saturating_add(i64::from(reset)) <= now)
    }

    /// Whether `person` inside counts at `now`.
    pub fn is_inside(&self, zone: ZoneId, rules: &ZoneRules, person: PersonId, now: i64) -> bool {
        self.zones.get(&zone).and_then(|inside| inside.get(&person)).is_some_and(|&since| !Self::stale(rules, since, now))
    }

    pub fn check_entry(&self, zone: ZoneId, rules: &ZoneRules, person: PersonId, now: i64) -> EntryCheck {
        if rules.anti_passback == AntiPassback::Off && rules.occupancy_max.is_none() {
            return EntryCheck::Clear;
        }
        let inside = self.is_inside(zone, rules, person, now);
        if inside && rules.anti_passback != AntiPassback::Off {
            return EntryCheck::Passback(rules.anti_passback);
        }
        if let Some(max) = rules.occupancy_max {
            // Someone already inside re-entering does not add to the count.
            if !inside && self.count(zone, rules, now) >= max as usize {
                return EntryCheck::Full;
            }
        }
        EntryCheck::Clear
    }

    /// People inside who count at `now`.
    pub fn count(&self, zone: ZoneId, rules: &ZoneRules, now: i64) -> usize {
        let Some(inside) = self.zones.get(&zone) else { return 0 };
        if rules.anti_passback_reset_s.is_none() {
            return inside.len();
        }
        inside.values().filter(|&&since| !Self::stale(rules, since, now)).count()
    }

    pub fn enter(&mut self, zone: ZoneId, rules: &ZoneRules, person: PersonId, now: i64) {
        let inside = self.zones.entry(zone).or_default();
        if rules.anti_passback_reset_s.is_some() {
            inside.retain(|_, since| !Self::stale(rules, *since, now));
        }
        inside.insert(person, now);
    }

    pub fn exit(&mut self, zone: ZoneId, person: PersonId) {
        if let Some(inside) = self.zones.get_mut(&zone) {
            inside.remove(&person);
        }
    }

    /// Manual forgive: the person counts as outside `zone`, or every zone.
    pub fn forgive(&mut self, zone: Option<ZoneId>, person: PersonId) -> usize {
        match zone {
            Some(zone) => usize::from(self.zones.get_mut(&zone).is_some_and(|inside| inside.remove(&person).is_some())),
            None => self.zones.values_mut().map(|inside| usize::from(inside.remove(&person).is_some())).sum(),
        }
    }

    /// Who is inside, with the Unix time each entered, oldest first.
    pub fn occupants(&self, zone: ZoneId, rules: &ZoneRules, now: i64) -> Vec<(PersonId, i64)> {
        let mut found: Vec<_> = self
            .zones
            .get(&zone)
            .into_iter()
            .flatten()
            .filter(|(_, &since)| !Self::stale(rules, since, now))
            .map(|(&person, &since)| (person, since))
            .collect();
        found.sort_by_key(|&(person, since)| (since, person));
        found
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    fn zone() -> ZoneId {
        ZoneId::from_uuid(Uuid::from_u128(1))
    }

    fn person(n: u8) -> PersonId {
        PersonId::from_uuid(Uuid::from_u128(u128::from(n) + 100))
    }

    #[derive(Debug, Clone)]
    enum Step {
        In(u8),
        Out(u8),
        Forgive(u8),
        Wait(u16),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec(
            prop_oneof![
                4 => (0u8..6).prop_map(Step::In),
                3 => (0u8..6).prop_map(Step::Out),
                1 => (0u8..6).prop_map(Step::Forgive),
                1 => (0u16..400).prop_map(Step::Wait),
            ],
            1..200,
        )
    }

    fn rules() -> impl Strategy<Value = ZoneRules> {
        (
            prop::sample::select(vec![AntiPassback::Off, AntiPassback::Soft, AntiPassback::Hard]),
            prop::option::of(1u32..300),
            prop::option::of(0u32..5),
        )
            .prop_map(|(anti_passback, anti_passback_reset_s, occupancy_max)| ZoneRules {
                anti_passback,
                anti_passback_reset_s,
                occupancy_max,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Granting only what `check_entry` clears (soft passback too): under hard
        /// anti-passback no one passes twice without an exit, a forgive or a reset,
        /// the count never exceeds the maximum, and it always equals the model's.
        #[test]
        fn presence_never_goes_negative_nor_lets_two_entries_pass(rules in rules(), steps in steps()) {
            let mut presence = Presence::default();
            let mut now = 0i64;
            // The model: when each person last entered, if they are inside.
            let mut model: HashMap<u8, i64> = HashMap::new();
            for step in steps {
                match step {
                    Step::In(n) => {
                        let model_inside = model.get(&n).is_some_and(|&since| {
                            rules.anti_passback_reset_s.is_none_or(|reset| since + i64::from(reset) > now)
                        });
                        let check = presence.check_entry(zone(), &rules, person(n), now);
                        let granted = match check {
                            EntryCheck::Clear => true,
                            EntryCheck::Passback(AntiPassback::Soft) => true,
                            EntryCheck::Passback(_) | EntryCheck::Full => false,
                        };
                        if rules.anti_passback == AntiPassback::Hard {
                            prop_assert!(!(granted && model_inside), "a second entry passed without an exit");
                        }
                        if granted {
                            presence.enter(zone(), &rules, person(n), now);
                            model.insert(n, now);
                        }
                    }
                    Step::Out(n) => {
                        presence.exit(zone(), person(n));
                        model.remove(&n);
                    }
                    Step::Forgive(n) => {
                        presence.forgive(None, person(n));
                        model.remove(&n);
                    }
                    Step::Wait(seconds) => now += i64::from(seconds),
                }
                let expected = model.values().filter(|&&since| {
                    rules.anti_passback_reset_s.is_none_or(|reset| since + i64::from(reset) > now)
                }).count();
                let count = presence.count(zone(), &rules, now);
                prop_assert_eq!(count, expected);
                prop_assert_eq!(presence.occupants(zone(), &rules, now).len(), count);
                if let Some(max) = rules.occupancy_max {
                    prop_assert!(count <= max as usize, "{} inside a zone for {}", count, max);
                }
            }
        }
    }
}
