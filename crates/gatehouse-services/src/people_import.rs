//! Bulk import of people from CSV, shared by `POST /api/v1/people/import` and
//! `gatehouse import people`: validate every row first, then write all valid rows
//! in one transaction, or nothing.

use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::people_csv::{plan_import, RowError};
use gatehouse_domain::TenantId;
use gatehouse_store::{Store, StoreError};
use serde::Serialize;

/// What an import did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    /// Data rows in the file (blank lines aside).
    pub total_rows: usize,
    /// Rows written.
    pub imported: usize,
    /// Invalid rows left out (only with `skip_invalid`).
    pub skipped: usize,
    /// Every problem found, with its line (line 1 is the header).
    pub errors: Vec<RowError>,
}

#[derive(Debug)]
pub enum ImportError {
    /// The file has problems and `skip_invalid` was not asked for: nothing was written.
    Invalid(Vec<RowError>),
    Store(StoreError),
}

impl From<StoreError> for ImportError {
    fn from(err: StoreError) -> Self {
        ImportError::Store(err)
    }
}

/// Observes an import's progress: rows validated, then rows written.
pub trait ImportProgress: Send + Sync {
    fn validated(&self, _rows: usize) {}
    fn written(&self, _rows: usize) {}
}

impl ImportProgress for () {}

pub async fn import_people(
    store: &dyn Store,
    tenant: TenantId,
    csv: &[u8],
    skip_invalid: bool,
    change: &ChangeContext,
    progress: &dyn ImportProgress,
) -> Result<ImportReport, ImportError> {
    let context = store.people_import_context(tenant).await?;
    let plan = plan_import(csv, &context);
    progress.validated(plan.data_rows);
    // Header-level problems (line 1) make every row meaningless: never skip past them.
    let header_broken = plan.errors.iter().any(|e| e.line <= 1);
    if !plan.errors.is_empty() && (!skip_invalid || header_broken) {
        return Err(ImportError::Invalid(plan.errors));
    }
    let people: Vec<_> = plan.valid.into_iter().map(|row| row.person).collect();
    let report_written = |rows: usize| progress.written(rows);
    let imported = match people.is_empty() {
        true => 0,
        false => store.people_insert_all(tenant, &people, change, &report_written).await?,
    };
    Ok(ImportReport { total_rows: plan.data_rows, imported, skipped: plan.data_rows - imported, errors: plan.errors })
}
