//! Validation of a people CSV file, all of it before anything is written.
//!
//! The whole file is read and every row checked against the tenant's units and the
//! e-mails and external ids already taken; the result is the rows that are valid and
//! every error with its line number. The caller then writes all rows, none, or (when
//! asked to skip invalid rows) only the valid ones, in one transaction.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::people::{Metadata, NewPerson, PersonKind, PersonStatus};
use crate::values::{Email, ExternalId, Name, Phone};
use crate::{UnitId, ValidationError};

/// Most data rows one import accepts.
pub const IMPORT_ROWS_MAX: usize = 100_000;

/// The columns a people CSV may have, in any order; `kind` and `first_name` are required.
pub const COLUMNS: &[&str] =
    &["kind", "first_name", "last_name", "email", "phone", "unit_id", "unit", "external_id", "status", "metadata"];

/// What the file is checked against: the tenant's state just before the import.
#[derive(Debug, Default)]
pub struct ImportContext {
    /// Every unit of the tenant with its name, to resolve `unit_id` and `unit` columns.
    pub units: Vec<(UnitId, String)>,
    /// E-mails (lower-case) already used by a person of the tenant.
    pub taken_emails: HashSet<String>,
    /// External ids already used by a person of the tenant.
    pub taken_external_ids: HashSet<String>,
}

/// One problem in the file. Line 1 is the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowError {
    pub line: u64,
    /// The column at fault, or null when the whole row or file is.
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct ValidRow {
    pub line: u64,
    pub person: NewPerson,
}

#[derive(Debug, Default)]
pub struct ImportPlan {
    pub data_rows: usize,
    pub valid: Vec<ValidRow>,
    pub errors: Vec<RowError>,
}

impl ImportPlan {
    fn file_error(line: u64, field: Option<&str>, message: impl Into<String>) -> Self {
        Self { errors: vec![RowError { line, field: field.map(str::to_owned), message: message.into() }], ..Self::default() }
    }
}

/// Reads and checks the whole file. Never fails: problems are in `errors`.
pub fn plan_import(csv_bytes: &[u8], context: &ImportContext) -> ImportPlan {
    let csv_bytes = csv_bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(csv_bytes);
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(csv_bytes);

    let header = match reader.headers() {
        Ok(header) => header.iter().map(|h| h.to_ascii_lowercase()).collect::<Vec<_>>(),
        Err(err) => return ImportPlan::file_error(1, None, format!("cannot read the header: {err}")),
    };
    if header.iter().all(String::is_empty) {
        return ImportPlan::file_error(
            1,
            None,
            "the file is empty; expected a header line such as 'kind,first_name,last_name,email'",
        );
    }
    let mut seen_columns = HashSet::new();
    for column in &header {
        if !COLUMNS.contains(&column.as_str()) {
            return ImportPlan::file_error(
                1,
                Some(column),
                format!("unknown column '{column}'; expected some of {}", COLUMNS.join(", ")),
            );
        }
        if !seen_columns.insert(column.clone()) {
            return ImportPlan::file_error(1, Some(column), format!("column '{column}' appears twice"));
        }
    }
    for required in ["kind", "first_name"] {
        if !seen_columns.contains(required) {
            return ImportPlan::file_error(1, Some(required), format!("required column '{required}' is missing"));
        }
    }

    let units = UnitIndex::new(&context.units);
    let mut plan = ImportPlan::default();
    let mut first_line_of_email: HashMap<String, u64> = HashMap::new();
    let mut first_line_of_external_id: HashMap<String, u64> = HashMap::new();
    let mut first_line_of_row: HashMap<Vec<String>, u64> = HashMap::new();

    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                let line = err.position().map_or(0, |p| p.line());
                plan.errors.push(RowError { line, field: None, message: format!("unreadable row: {err}") });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        plan.data_rows += 1;
        if plan.data_rows > IMPORT_ROWS_MAX {
            plan.errors.push(RowError {
                line,
                field: None,
                message: format!("an import holds at most {IMPORT_ROWS_MAX} rows; split the file"),
            });
            break;
        }
        if record.len() != header.len() {
            plan.errors.push(RowError {
                line,
                field: None,
                message: format!("row has {} fields but the header has {}", record.len(), header.len()),
            });
            continue;
        }
        let cells: HashMap<&str, &str> = header.iter().map(String::as_str).zip(record.iter()).collect();
        let normalized_row: Vec<String> = record.iter().map(str::to_lowercase).collect();
        if let Some(first) = first_line_of_row.get(&normalized_row) {
            plan.errors.push(RowError { line, field: None, message: format!("duplicate of line {first}") });
            continue;
        }
        first_line_of_row.insert(normalized_row, line);

        match parse_row(&cells, &units) {
            Ok(person) => {
                let mut row_errors = Vec::new();
                if let Some(email) = &person.email {
                    if context.taken_emails.contains(email.as_str()) {
                        row_errors.push(("email", format!("'{email}' already belongs to a person of this tenant")));
                    } else if let Some(first) = first_line_of_email.get(email.as_str()) {
                        row_errors.push(("email", format!("'{email}' is also on line {first}")));
                    } else {
                        first_line_of_email.insert(email.as_str().to_owned(), line);
                    }
                }
                if let Some(external_id) = &person.external_id {
                    if context.taken_external_ids.contains(external_id.as_str()) {
                        row_errors.push(("external_id", format!("'{external_id}' already belongs to a person of this tenant")));
                    } else if let Some(first) = first_line_of_external_id.get(external_id.as_str()) {
                        row_errors.push(("external_id", format!("'{external_id}' is also on line {first}")));
                    } else {
                        first_line_of_external_id.insert(external_id.as_str().to_owned(), line);
                    }
                }
                if row_errors.is_empty() {
                    plan.valid.push(ValidRow { line, person });
                } else {
                    plan.errors.extend(row_errors.into_iter().map(|(field, message)| RowError {
                        line,
                        field: Some(field.to_owned()),
                        message,
                    }));
                }
            }
            Err(errors) => {
                plan.errors.extend(errors.into_iter().map(|e| RowError { line, field: Some(e.field), message: e.message }))
            }
        }
    }
    plan
}

struct UnitIndex {
    ids: HashSet<UnitId>,
    by_name: HashMap<String, Vec<UnitId>>,
}

impl UnitIndex {
    fn new(units: &[(UnitId, String)]) -> Self {
        let mut by_name: HashMap<String, Vec<UnitId>> = HashMap::new();
        for (id, name) in units {
            by_name.entry(name.to_lowercase()).or_default().push(*id);
        }
        Self { ids: units.iter().map(|(id, _)| *id).collect(), by_name }
    }
}

/// Parses one row, collecting every field error rather than stopping at the first.
fn parse_row(cells: &HashMap<&str, &str>, units: &UnitIndex) -> Result<NewPerson, Vec<ValidationError>> {
    let mut errors = Vec::new();
    let cell = |column: &str| cells.get(column).copied().filter(|v| !v.is_empty());

    fn required<T>(
        value: Option<&str>,
        column: &str,
        parse: impl Fn(&str) -> Result<T, ValidationError>,
        errors: &mut Vec<ValidationError>,
    ) -> Option<T> {
        match value {
            None => {
                errors.push(ValidationError::new(column, "is required"));
                None
            }
            Some(raw) => optional(Some(raw), column, parse, errors),
        }
    }
    fn optional<T>(
        value: Option<&str>,
        column: &str,
        parse: impl Fn(&str) -> Result<T, ValidationError>,
        errors: &mut Vec<ValidationError>,
    ) -> Option<T> {
        match value.map(&parse) {
            None => None,
            Some(Ok(parsed)) => Some(parsed),
            Some(Err(err)) => {
                errors.push(err.at(column));
                None
            }
        }
    }

    let kind = required(cell("kind"), "kind", |raw| raw.to_lowercase().parse::<PersonKind>(), &mut errors);
    let first_name = required(cell("first_name"), "first_name", Name::parse, &mut errors);
    let last_name = optional(cell("last_name"), "last_name", Name::parse, &mut errors);
    let email = optional(cell("email"), "email", Email::parse, &mut errors);
    let phone = optional(cell("phone"), "phone", Phone::parse, &mut errors);
    let external_id = optional(cell("external_id"), "external_id", ExternalId::parse, &mut errors);
    let status = optional(cell("status"), "status", |raw| raw.to_lowercase().parse::<PersonStatus>(), &mut errors);
    let metadata = optional(
        cell("metadata"),
        "metadata",
        |raw| {
            let value: serde_json::Value =
                serde_json::from_str(raw).map_err(|err| ValidationError::message(format!("is not valid JSON: {err}")))?;
            Metadata::try_from(value)
        },
        &mut errors,
    );
    let unit_id = match (cell("unit_id"), cell("unit")) {
        (Some(_), Some(_)) => {
            errors.push(ValidationError::new("unit", "give unit_id or unit, not both"));
            None
        }
        (Some(raw), None) => match raw.parse::<UnitId>() {
            Ok(id) if units.ids.contains(&id) => Some(id),
            Ok(_) => {
                errors.push(ValidationError::new("unit_id", format!("no unit {raw} in this tenant")));
                None
            }
            Err(_) => {
                errors.push(ValidationError::new("unit_id", format!("'{raw}' is not a UUID")));
                None
            }
        },
        (None, Some(name)) => match units.by_name.get(&name.to_lowercase()).map(Vec::as_slice) {
            Some([id]) => Some(*id),
            Some(many) => {
                errors.push(ValidationError::new(
                    "unit",
                    format!("'{name}' names {} units; use the unit_id column instead", many.len()),
                ));
                None
            }
            None => {
                errors.push(ValidationError::new("unit", format!("no unit named '{name}' in this tenant")));
                None
            }
        },
        (None, None) => None,
    };

    match (kind, first_name) {
        (Some(kind), Some(first_name)) if errors.is_empty() => {
            Ok(NewPerson { kind, first_name, last_name, email, phone, unit_id, external_id, status, metadata })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn context() -> ImportContext {
        ImportContext {
            units: vec![
                (UnitId::from_uuid(Uuid::from_u128(1)), "A-101".to_owned()),
                (UnitId::from_uuid(Uuid::from_u128(2)), "101".to_owned()),
                (UnitId::from_uuid(Uuid::from_u128(3)), "101".to_owned()),
            ],
            taken_emails: ["taken@example.com".to_owned()].into_iter().collect(),
            taken_external_ids: HashSet::new(),
        }
    }

    #[test]
    fn valid_file_gives_every_row() {
        let csv = "\u{FEFF}kind,first_name,last_name,email,unit,metadata\n\
                   resident,Ana,Souza,ana@example.com,a-101,\"{\"\"pet\"\":\"\"dog\"\"}\"\n\
                   visitor,Bo,,,,\n";
        let plan = plan_import(csv.as_bytes(), &context());
        assert_eq!(plan.errors, vec![]);
        assert_eq!(plan.data_rows, 2);
        assert_eq!(plan.valid[0].line, 2);
        assert_eq!(plan.valid[0].person.unit_id, Some(UnitId::from_uuid(Uuid::from_u128(1))));
        assert_eq!(plan.valid[1].person.last_name, None);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line_and_field() {
        let csv = "kind,first_name,email,unit\n\
                   resident,Ana,ana@example.com,A-101\n\
                   alien,Bo,bo@example,\n\
                   resident,Cy,ana@example.com,\n\
                   resident,Di,taken@example.com,\n\
                   resident,Ed,,101\n\
                   resident,Ana,ana@example.com,A-101\n\
                   resident,,,\n";
        let plan = plan_import(csv.as_bytes(), &context());
        let found: Vec<(u64, Option<&str>)> = plan.errors.iter().map(|e| (e.line, e.field.as_deref())).collect();
        assert_eq!(
            found,
            vec![
                (3, Some("kind")),
                (3, Some("email")),
                (4, Some("email")),
                (5, Some("email")),
                (6, Some("unit")),
                (7, None),
                (8, Some("first_name")),
            ]
        );
        assert_eq!(plan.valid.len(), 1);
        assert_eq!(plan.data_rows, 7);
    }

    #[test]
    fn header_problems_stop_at_line_one() {
        let plan = plan_import(b"kind,first_name,shoe_size\n", &context());
        assert_eq!(plan.errors[0].line, 1);
        assert_eq!(plan.errors[0].field.as_deref(), Some("shoe_size"));
        let plan = plan_import(b"first_name\nAna\n", &context());
        assert_eq!(plan.errors[0].field.as_deref(), Some("kind"));
        assert!(!plan_import(b"", &context()).errors.is_empty());
    }

    #[test]
    fn ragged_rows_are_reported() {
        let plan = plan_import(b"kind,first_name\nresident,Ana,extra\n", &context());
        assert_eq!(plan.errors[0].line, 2);
        assert!(plan.errors[0].message.contains("3 fields"));
    }
}
