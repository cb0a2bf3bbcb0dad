//! What Gatehouse's edges share, beneath them: the HTTP API and the MQTT ingest
//! both decide through [`access::AccessService`], log through its writer, queue
//! commands through [`devices::DeviceService`] and authenticate through
//! [`identity::Identity`]. Every operation that is more than one store call lives
//! here, so an edge only parses, calls one service or store method, and maps.
//!
//! No HTTP here: failures are [`error::ServiceError`]s, which the API maps to its
//! problem details and the ingest to a device's refusal.

pub mod access;
pub mod devices;
pub mod error;
pub mod events;
pub mod identity;
pub mod people_import;
pub mod secret_token;
pub mod tenant_cache;

pub use error::{ServiceError, ServiceResult};
