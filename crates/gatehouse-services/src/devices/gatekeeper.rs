//! The embedded broker's questions, answered from the registry: a device
//! connects with its id and the secret it was issued, and every refusal is
//! counted and written to the tenant's audit trail.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::tenancy::TenantStatus;
use gatehouse_domain::{DeviceId, TenantId};
use gatehouse_mqtt::broker::{Admission, ConnectAttempt, DeviceIdentity, Gatekeeper, Refusal};
use gatehouse_store::Store;
use subtle::ConstantTimeEq as _;
use tokio::sync::mpsc;

use super::secret_digest;
use crate::tenant_cache::TenantCache;

/// Refusals waiting to be audited; beyond this a flood is only counted.
const AUDIT_BACKLOG_MAX: usize = 1_024;

pub struct RegistryGatekeeper {
    store: Arc<dyn Store>,
    tenants: Arc<TenantCache>,
    audit: mpsc::Sender<Refusal>,
}

impl RegistryGatekeeper {
    pub fn new(store: Arc<dyn Store>, tenants: Arc<TenantCache>) -> RegistryGatekeeper {
        let (audit, refusals) = mpsc::channel(AUDIT_BACKLOG_MAX);
        tokio::spawn(audit_refusals(store.clone(), refusals));
        RegistryGatekeeper { store, tenants, audit }
    }

    async fn admit(&self, attempt: &ConnectAttempt<'_>) -> Result<DeviceIdentity, &'static str> {
        let stored = self
            .store
            .device_secret(DeviceId::from_uuid(attempt.device))
            .await
            .map_err(|_| "the registry could not be read")?
            .ok_or("no such device")?;
        let presented = secret_digest(attempt.secret);
        if !bool::from(presented.ct_eq(&stored.secret_sha256)) {
            return Err("wrong secret");
        }
        if stored.revoked {
            return Err("the device's credentials were revoked");
        }
        let tenant = self.tenants.find(&stored.tenant.to_string()).await.map_err(|_| "the tenant could not be read")?;
        if tenant.status != TenantStatus::Active {
            return Err("the tenant is not active");
        }
        Ok(DeviceIdentity { tenant: stored.tenant.as_uuid(), device: attempt.device })
    }
}

#[async_trait]
impl Gatekeeper for RegistryGatekeeper {
    async fn authenticate(&self, attempt: ConnectAttempt<'_>) -> Admission {
        match self.admit(&attempt).await {
            Ok(identity) => Admission::Device(identity),
            Err(reason) => Admission::Refused(reason),
        }
    }

    fn refused(&self, refusal: Refusal) {
        let kind = match &refusal {
            Refusal::Connect { .. } => "connect",
            Refusal::Publish { .. } => "publish",
            Refusal::Subscribe { .. } => "subscribe",
            Refusal::Throttled { .. } => "throttled",
        };
        metrics::counter!("gatehouse_mqtt_refusals_total", "kind" => kind).increment(1);
        if self.audit.try_send(refusal).is_err() {
            metrics::counter!("gatehouse_mqtt_refusals_unaudited_total").increment(1);
        }
    }
}

/// Writes refusals to the audit trail of the device's tenant (or the platform's,
/// when the connection named no device Gatehouse knows).
async fn audit_refusals(store: Arc<dyn Store>, mut refusals: mpsc::Receiver<Refusal>) {
    while let Some(refusal) = refusals.recv().await {
        let (tenant, device, action, details) = match &refusal {
            Refusal::Connect { device, remote, reason } => {
                let tenant = match device {
                    Some(device) => match store.device_secret(DeviceId::from_uuid(*device)).await {
                        Ok(found) => found.map(|found| found.tenant),
                        Err(err) => {
                            // Still audited, in the platform's trail rather than lost.
                            tracing::warn!(error = %err, %device, "could not find the tenant of a refused device");
                            None
                        }
                    },
                    None => None,
                };
                let details = serde_json::json!({"reason": reason, "remote": remote.map(|addr| addr.to_string())});
                (tenant, *device, "devices.mqtt.connect_refused", details)
            }
            Refusal::Publish { identity, topic } => (
                Some(TenantId::from_uuid(identity.tenant)),
                Some(identity.device),
                "devices.mqtt.publish_refused",
                serde_json::json!({"topic": topic}),
            ),
            Refusal::Subscribe { identity, filter } => (
                Some(TenantId::from_uuid(identity.tenant)),
                Some(identity.device),
                "devices.mqtt.subscribe_refused",
                serde_json::json!({"filter": filter}),
            ),
            Refusal::Throttled { identity } => (
                Some(TenantId::from_uuid(identity.tenant)),
                Some(identity.device),
                "devices.mqtt.throttled",
                serde_json::json!({}),
            ),
        };
        let change = ChangeContext::system("mqtt broker", Utc::now());
        let target = device.map(|device| device.to_string());
        if let Err(err) = store.audit_record(tenant, &change, action, "device", target, Some(details)).await {
            tracing::warn!(error = %err, action, "could not audit an MQTT refusal");
        }
    }
}
