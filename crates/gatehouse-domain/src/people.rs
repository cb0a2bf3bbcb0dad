//! People: residents, employees, staff and visitors, and the households (units) they belong to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::tenancy::code_enum;
use crate::values::{Email, ExternalId, Name, Phone};
use crate::{PersonId, TenantId, UnitId, ValidationError};

/// Largest `metadata` object we store, serialized, in bytes.
pub const METADATA_BYTES_MAX: usize = 16 * 1024;

code_enum!(
    /// The relationship of a person to the tenant.
    PersonKind { Resident => "resident", Employee => "employee", Staff => "staff", Visitor => "visitor" }
);
code_enum!(
    /// `archived` keeps the person for history (access logs name them) but out of default lists.
    PersonStatus { Active => "active", Suspended => "suspended", Archived => "archived" }
);

/// Free-form attributes an integrator attaches to a person: a JSON object of at most 16 KiB.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = Object))]
#[serde(try_from = "serde_json::Value", into = "serde_json::Value")]
pub struct Metadata(serde_json::Map<String, serde_json::Value>);

impl Metadata {
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
}

impl TryFrom<serde_json::Value> for Metadata {
    type Error = ValidationError;
    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        let serde_json::Value::Object(map) = value else {
            return Err(ValidationError::message("must be a JSON object"));
        };
        if map.iter().any(|(key, value)| key.contains('\0') || holds_nul(value)) {
            // PostgreSQL's jsonb cannot store \u0000, and no real attribute needs it.
            return Err(ValidationError::message("must not contain the NUL character (\\u0000)"));
        }
        let size = serde_json::to_vec(&map).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
        if size > METADATA_BYTES_MAX {
            return Err(ValidationError::message(format!("must be at most {METADATA_BYTES_MAX} bytes as JSON")));
        }
        Ok(Self(map))
    }
}

fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(key, value)| key.contains('\0') || holds_nul(value)),
        _ => false,
    }
}

impl From<Metadata> for serde_json::Value {
    fn from(metadata: Metadata) -> Self {
        serde_json::Value::Object(metadata.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Person {
    pub id: PersonId,
    pub tenant_id: TenantId,
    pub kind: PersonKind,
    pub first_name: Name,
    /// Null for people known by a single name.
    pub last_name: Option<Name>,
    /// Unique within the tenant when present.
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    /// The household (apartment, office, room) the person belongs to.
    pub unit_id: Option<UnitId>,
    /// The person's id in another system (HR, property management); unique within the tenant when present.
    pub external_id: Option<ExternalId>,
    pub status: PersonStatus,
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    pub kind: PersonKind,
    pub first_name: Name,
    #[serde(default)]
    pub last_name: Option<Name>,
    #[serde(default)]
    pub email: Option<Email>,
    #[serde(default)]
    pub phone: Option<Phone>,
    #[serde(default)]
    pub unit_id: Option<UnitId>,
    #[serde(default)]
    pub external_id: Option<ExternalId>,
    /// Defaults to `active`.
    #[serde(default)]
    pub status: Option<PersonStatus>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// Fields left out stay as they are; nullable fields sent as `null` are cleared.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    pub kind: Option<PersonKind>,
    pub first_name: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_name: Option<Option<Name>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub email: Option<Option<Email>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub phone: Option<Option<Phone>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub unit_id: Option<Option<UnitId>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub external_id: Option<Option<ExternalId>>,
    pub status: Option<PersonStatus>,
    pub metadata: Option<Metadata>,
}

/// For PATCH bodies: a field that is present (even as `null`) becomes `Some(..)`,
/// so "leave as is" (absent, via `#[serde(default)]`) and "clear" (`null`) differ.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl Person {
    /// Applies a patch, returning the updated record (timestamps are the caller's).
    pub fn patched(&self, patch: PersonPatch) -> Person {
        let mut person = self.clone();
        if let Some(kind) = patch.kind {
            person.kind = kind;
        }
        if let Some(first_name) = patch.first_name {
            person.first_name = first_name;
        }
        if let Some(last_name) = patch.last_name {
            person.last_name = last_name;
        }
        if let Some(email) = patch.email {
            person.email = email;
        }
        if let Some(phone) = patch.phone {
            person.phone = phone;
        }
        if let Some(unit_id) = patch.unit_id {
            person.unit_id = unit_id;
        }
        if let Some(external_id) = patch.external_id {
            person.external_id = external_id;
        }
        if let Some(status) = patch.status {
            person.status = status;
        }
        if let Some(metadata) = patch.metadata {
            person.metadata = metadata;
        }
        person
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_must_be_a_bounded_object() {
        assert!(Metadata::try_from(serde_json::json!({"badge": "blue"})).is_ok());
        assert!(Metadata::try_from(serde_json::json!([1, 2])).is_err());
        assert!(Metadata::try_from(serde_json::json!({"a": ["ok", {"b": "nul\u{0}"}]})).is_err());
        assert!(Metadata::try_from(serde_json::json!({"k\u{0}": 1})).is_err());
        let big = serde_json::json!({ "blob": "x".repeat(METADATA_BYTES_MAX) });
        assert!(Metadata::try_from(big).is_err());
    }

    #[test]
    fn patch_tells_absent_from_null() -> Result<(), serde_json::Error> {
        let absent: PersonPatch = serde_json::from_str("{}")?;
        assert_eq!(absent.email, None);
        let cleared: PersonPatch = serde_json::from_str(r#"{"email": null}"#)?;
        assert_eq!(cleared.email, Some(None));
        Ok(())
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<NewPerson>(r#"{"kind":"resident","first_name":"Ana","nick":"A"}"#).err();
        assert!(err.is_some_and(|e| e.to_string().contains("nick")));
    }
}
