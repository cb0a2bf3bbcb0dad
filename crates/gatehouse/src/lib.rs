//! The `gatehouse` binary: configuration, the command line, starting and stopping
//! the server, and the demo tenant. Everything else lives in the library crates
//! (`gatehouse-domain`, `gatehouse-store`, `gatehouse-api`).

pub mod cli;
pub mod config;
pub mod demo;
pub mod logging;
pub mod server;
pub mod simulate;
