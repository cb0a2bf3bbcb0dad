//! Checking a tenant's access-log chain, in constant memory: shared by
//! `GET /api/v1/access/log/verify` and `gatehouse audit verify`.

use gatehouse_access::chain::{ChainKey, Verification, Verifier};
use gatehouse_domain::TenantId;
use gatehouse_store::{Store, StoreResult};

/// Entries read per query while verifying.
const SCAN_CHUNK: u32 = 5_000;

/// Reads the whole chain in sequence order and checks every link, then the end against the recorded head.
pub async fn verify_chain(store: &dyn Store, key: ChainKey, tenant: TenantId) -> StoreResult<Verification> {
    let recorded = store.access_log_head(tenant).await?;
    let mut verifier = Verifier::new(key);
    let mut after = 0;
    loop {
        let chunk = store.access_log_scan(tenant, after, SCAN_CHUNK).await?;
        for record in &chunk {
            verifier.push(record);
        }
        match chunk.last() {
            Some(last) if chunk.len() == SCAN_CHUNK as usize => after = last.seq,
            _ => break,
        }
    }
    Ok(verifier.finish_at(recorded))
}
