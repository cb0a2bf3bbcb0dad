use gatehouse_domain::ValidationError;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row in this tenant (rows of other tenants are, by design, "not found").
    #[error("not found")]
    NotFound,
    /// A unique value is already taken.
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// The row is still referenced and cannot be deleted.
    #[error("still in use: {0}")]
    InUse(&'static str),
    /// The input refers to something that doesn't exist or breaks a rule that needs the data to check.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A stored value no longer parses: the database was changed behind our back.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(err)
    }
}

impl StoreError {
    /// Maps a unique violation to [`StoreError::Conflict`] on `field`; other errors pass through.
    pub(crate) fn on_unique(err: sqlx::Error, field: &'static str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { field },
            _ => StoreError::Database(err),
        }
    }

    /// Maps a foreign-key violation (a delete of a referenced row) to [`StoreError::InUse`].
    pub(crate) fn on_referenced(err: sqlx::Error, what: &'static str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::InUse(what),
            _ => StoreError::Database(err),
        }
    }
}

impl StoreError {
    /// For writes that reference other rows: a foreign-key violation means the
    /// referenced row vanished since it was checked (a concurrent delete).
    pub(crate) fn on_missing_reference(self, field: &'static str) -> Self {
        match &self {
            StoreError::Database(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                StoreError::Invalid(ValidationError::new(field, "refers to a row that no longer exists in this tenant"))
            }
            _ => self,
        }
    }

    /// Like [`StoreError::on_unique`] for tables with several unique columns: the
    /// field is the first candidate named by the violated constraint (PostgreSQL
    /// index name) or message (SQLite's "UNIQUE constraint failed: people.tenant_id, people.email").
    pub(crate) fn on_unique_among(err: sqlx::Error, candidates: &[&'static str]) -> Self {
        let field = match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                let named = db.constraint().unwrap_or_default().to_owned() + " " + db.message();
                candidates.iter().copied().find(|field| named.contains(field)).or(candidates.first().copied())
            }
            _ => None,
        };
        match field {
            Some(field) => StoreError::Conflict { field },
            None => StoreError::Database(err),
        }
    }
}
