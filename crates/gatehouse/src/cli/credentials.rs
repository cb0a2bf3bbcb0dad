//! `gatehouse admin set-credential-status`: a badge reported lost or stolen is
//! suspended from the server's own console, with no API token at hand. The change
//! goes through the store like an API call (audited in the same transaction), and a
//! running server sees it through the tenant's policy version within a second.

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;
use gatehouse_access::credential::CredentialStatus;
use gatehouse_access::policy::CredentialPatch;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::CredentialId;
use gatehouse_store::StoreError;

use crate::config::Config;
use crate::server;

#[derive(Debug, Args)]
pub struct CredentialStatusArgs {
    /// The tenant's slug or id.
    #[arg(long)]
    pub tenant: String,
    /// The credential's id.
    pub credential: String,
    /// active, suspended, lost (final: a lost credential never changes again) or expired.
    #[arg(long)]
    pub status: String,
}

pub async fn set_credential_status_command(config: Config, args: CredentialStatusArgs) -> anyhow::Result<ExitCode> {
    let credential: CredentialId =
        args.credential.parse().map_err(|_| anyhow::anyhow!("'{}' is not a credential id (a UUID)", args.credential))?;
    let status: CredentialStatus = args
        .status
        .parse()
        .map_err(|_| anyhow::anyhow!("--status: '{}' is not one of {}", args.status, CredentialStatus::expected()))?;
    let store = server::open_store(&config).await?;
    let tenant = super::find_tenant(store.as_ref(), &args.tenant).await?;
    let patch = CredentialPatch { status: Some(status), valid_from: None, valid_until: None };
    let change = ChangeContext::system("gatehouse admin set-credential-status", Utc::now());
    let updated = store.credential_update(tenant, credential, &patch, &change).await;
    store.close().await;
    let updated = match updated {
        Ok(updated) => updated,
        Err(StoreError::NotFound) => anyhow::bail!("no credential {credential} in tenant '{}'", args.tenant),
        Err(StoreError::Invalid(err)) => anyhow::bail!("{}: {}", err.field, err.message),
        Err(err) => return Err(err).context("cannot change the credential"),
    };
    println!("credential {} is {}; running servers decide with it within a second", updated.id, updated.status);
    Ok(ExitCode::SUCCESS)
}
