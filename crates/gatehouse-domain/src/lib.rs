//! The pure core of Gatehouse: identifiers, validated values and the records of
//! tenancy and people, plus the rules that need no IO (zone trees, CSV import
//! validation). Nothing here touches a socket, a file, a database or the clock:
//! the edges parse input into these types and hand in the instant they decide for.

pub mod audit;
pub mod authz;
pub mod devices;
pub mod events;
pub mod identity;
pub mod ids;
pub mod people;
pub mod people_csv;
pub mod tenancy;
pub mod validation;
pub mod values;
pub mod wiegand;
pub mod zone_tree;

pub use ids::*;
pub use validation::ValidationError;
