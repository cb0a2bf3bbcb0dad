//! The SQL of [`crate::AccessLogStore`]: the hash-chained access log.
//! Expanded by [`crate::sql::sql_store!`] inside each backend's store module.

macro_rules! access_log_store_impl {
    ($store:ty, $db:ty, $row:ty) => {
        // A block of its own, so these imports stay out of the module that expands the macro.
        const _: () = {
            use gatehouse_access::chain::*;
            use gatehouse_domain::*;
            use crate::access::*;

        #[async_trait]
        impl crate::AccessLogStore for $store {
            #[allow(unused_variables)]
            async fn access_log_head(&self, tenant: TenantId) -> StoreResult<ChainHead> {
                unimplemented!("AccessLogStore")
            }

            #[allow(unused_variables)]
            async fn access_log_append(&self, records: &[LogRecord], uses: &[CredentialUse]) -> StoreResult<()> {
                unimplemented!("AccessLogStore")
            }

            #[allow(unused_variables)]
            async fn access_log_list(&self, tenant: TenantId, filter: &AccessLogFilter, after_seq: Option<i64>, limit: u32) -> StoreResult<LogPage> {
                unimplemented!("AccessLogStore")
            }

            #[allow(unused_variables)]
            async fn access_log_scan(&self, tenant: TenantId, after_seq: i64, limit: u32) -> StoreResult<Vec<LogRecord>> {
                unimplemented!("AccessLogStore")
            }

            #[allow(unused_variables)]
            async fn access_log_tenants(&self) -> StoreResult<Vec<TenantId>> {
                unimplemented!("AccessLogStore")
            }

        }
        };
    };
}
pub(crate) use access_log_store_impl;
