//! The event log's writers. Today one: [`tailer`], which turns every access-log entry
//! (decisions, offline decisions, door events, door modes, lockdowns, unlocks) into its
//! event, exactly once, and keeps its position in the same transaction.

pub mod from_log;
pub mod tailer;
