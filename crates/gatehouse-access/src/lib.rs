//! The access decision engine, Gatehouse's core: who may pass which door when.
//!
//! Everything here is pure: the edges load a tenant's policy into a [`policy::Policy`],
//! [`snapshot::Snapshot::compile`] turns it into an immutable index, and an
//! [`Engine`] answers requests against the current snapshot and the door state,
//! at an instant handed in by the caller. No IO, no clock, no async.

pub mod chain;
pub mod credential;
pub mod decide;
pub mod policy;
pub mod presence;
pub mod schedule;
pub mod snapshot;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;

pub use decide::{evaluate, Direction, DoorAction, DoorState, Outcome, Presented, Reason, Request, Rule, Subject};
pub use snapshot::Snapshot;

/// One tenant's engine: the current snapshot, swapped whole on every policy
/// change, and the door state its decisions change.
#[derive(Debug)]
pub struct Engine {
    snapshot: ArcSwap<Snapshot>,
    state: Mutex<DoorState>,
}

impl Engine {
    pub fn new(snapshot: Snapshot) -> Engine {
        Engine { snapshot: ArcSwap::from_pointee(snapshot), state: Mutex::new(DoorState::default()) }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Installs a newly compiled policy; the next decision reads it.
    pub fn replace(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }

    fn state(&self) -> MutexGuard<'_, DoorState> {
        // The state is a plain value updated in one step; a panic elsewhere cannot leave it half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides and applies what a grant changes (presence, first-person-in, a used QR code),
    /// atomically: two concurrent entries cannot both pass a hard anti-passback check.
    /// `None`: the access point is not in this tenant.
    pub fn decide(&self, request: &Request<'_>) -> Option<Outcome> {
        let snapshot = self.snapshot.load();
        let mut state = self.state();
        let outcome = evaluate(&snapshot, &state, request)?;
        if outcome.granted {
            state.apply(&snapshot, &outcome.effect, request.at.timestamp());
        }
        Some(outcome)
    }

    /// The same answer as [`Engine::decide`], changing nothing.
    pub fn explain(&self, request: &Request<'_>) -> Option<Outcome> {
        let snapshot = self.snapshot.load();
        let state = self.state();
        evaluate(&snapshot, &state, request)
    }

    /// Reads the door state (presence, for occupancy reports).
    pub fn with_state<T>(&self, read: impl FnOnce(&DoorState) -> T) -> T {
        read(&self.state())
    }

    /// Changes the door state (manual anti-passback forgive).
    pub fn with_state_mut<T>(&self, change: impl FnOnce(&mut DoorState) -> T) -> T {
        change(&mut self.state())
    }
}
