//! An account's TOTP second factor: enrolled (a new secret, sealed under the master
//! key), confirmed with a first code (answering the recovery codes once) and turned
//! off with a current or a recovery code. The account's sessions on this node learn
//! of each change at once.

use chrono::{DateTime, Utc};
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::AccountId;
use gatehouse_store::{Store, StoreError};

use super::{mfa, Identity};
use crate::error::{ServiceError, ServiceResult};

/// A secret just issued, in the three forms authenticator apps take.
#[derive(Debug)]
pub struct NewSecret {
    /// The secret in base32, for typing in.
    pub secret: String,
    /// The `otpauth://` URI, for apps that take a link.
    pub otpauth_uri: String,
    /// The URI as a QR code (SVG), for apps that scan.
    pub qr_svg: String,
}

impl Identity {
    /// Starts enrolment: a new secret, to confirm with a first code.
    pub async fn mfa_enroll(&self, store: &dyn Store, account_id: AccountId, change: &ChangeContext) -> ServiceResult<NewSecret> {
        let account = store.account_get(account_id).await?;
        let secret = mfa::new_secret();
        let sealed = self.keys.seal_secret(&secret).map_err(|reason| ServiceError::internal(&reason))?;
        match store.mfa_begin(account_id, &sealed, change).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return Err(ServiceError::Conflict { field: "mfa" }),
            Err(err) => return Err(err.into()),
        }
        let otpauth_uri = mfa::otpauth_uri(&self.mfa_issuer, account.email.as_str(), &secret);
        let qr_svg = mfa::qr_svg(&otpauth_uri).map_err(|reason| ServiceError::internal(&reason))?;
        Ok(NewSecret { secret: mfa::secret_base32(&secret), otpauth_uri, qr_svg })
    }

    /// Confirms enrolment with a current code; returns the recovery codes, shown once.
    pub async fn mfa_confirm(
        &self,
        store: &dyn Store,
        account_id: AccountId,
        code: &str,
        change: &ChangeContext,
        now: DateTime<Utc>,
    ) -> ServiceResult<Vec<String>> {
        let pending = store
            .mfa_get(account_id)
            .await?
            .filter(|mfa| mfa.confirmed_at.is_none())
            .ok_or_else(|| ServiceError::validation("code", "no enrolment is waiting for confirmation; enrol first"))?;
        let secret = self.keys.open_secret(&pending.secret_sealed).map_err(|reason| ServiceError::internal(&reason))?;
        let step = mfa::matching_step(&secret, code, now.timestamp())
            .ok_or_else(|| ServiceError::validation("code", "the code is not the current one"))?;
        let codes = mfa::new_recovery_codes();
        let digests: Vec<String> = codes.iter().map(|code| mfa::recovery_digest(code)).collect();
        store.mfa_confirm(account_id, step, &digests, change).await.map_err(|err| match err {
            StoreError::NotFound => ServiceError::validation("code", "this code was already used"),
            other => other.into(),
        })?;
        self.sessions.set_mfa_enrolled(account_id, true);
        Ok(codes)
    }

    /// Turns the second factor off, with a current code or a recovery code.
    pub async fn mfa_disable(
        &self,
        store: &dyn Store,
        account_id: AccountId,
        code: &str,
        change: &ChangeContext,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        let active = store
            .mfa_get(account_id)
            .await?
            .filter(|mfa| mfa.confirmed_at.is_some())
            .ok_or_else(|| ServiceError::validation("code", "the account has no second factor"))?;
        let secret = self.keys.open_secret(&active.secret_sealed).map_err(|reason| ServiceError::internal(&reason))?;
        if !mfa::accept_code(store, account_id, &secret, code, true, now).await? {
            return Err(ServiceError::validation("code", "the code is wrong or was already used"));
        }
        store.mfa_disable(account_id, change).await?;
        self.sessions.set_mfa_enrolled(account_id, false);
        Ok(())
    }
}
