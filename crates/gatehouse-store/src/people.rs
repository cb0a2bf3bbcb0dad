//! The people area.

use async_trait::async_trait;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::people::{NewPerson, Person, PersonPatch};
use gatehouse_domain::people_csv::ImportContext;
use gatehouse_domain::{PersonId, TenantId};

use crate::*;

/// A tenant's people, one by one or imported all at once.
#[async_trait]
pub trait PeopleStore: Send + Sync {
    async fn person_create(&self, tenant: TenantId, new: &NewPerson, change: &ChangeContext) -> StoreResult<Person>;

    async fn person_get(&self, tenant: TenantId, id: PersonId) -> StoreResult<Person>;

    async fn person_list(&self, tenant: TenantId, filter: &PersonFilter, page: PageRequest) -> StoreResult<Page<Person>>;

    async fn person_update(
        &self,
        tenant: TenantId,
        id: PersonId,
        patch: &PersonPatch,
        change: &ChangeContext,
    ) -> StoreResult<Person>;

    /// What a people CSV is validated against: units, taken e-mails and external ids.
    async fn people_import_context(&self, tenant: TenantId) -> StoreResult<ImportContext>;

    /// Inserts all the people in one transaction: all of them or none. `progress`
    /// hears the number of rows written so far after each batch.
    async fn people_insert_all(
        &self,
        tenant: TenantId,
        people: &[NewPerson],
        change: &ChangeContext,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> StoreResult<usize>;
}
