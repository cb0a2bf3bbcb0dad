//! The one route layer around every handler: metrics, then authorization, then
//! idempotency, then the handler.
//!
//! One layer, not one per step: axum boxes each route layer's service and
//! clones the whole chain below it on every request, so three `from_fn` layers
//! cost three boxed futures and three chains of clones per request. Here the
//! steps are plain async functions that each take the next one as a closure.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;
use crate::{auth, idempotency, metrics};

/// The layer's state.
#[derive(Clone)]
pub(crate) struct Guard {
    pub state: AppState,
    pub authorization: Authorization,
}

/// How a request's caller is established.
#[derive(Clone)]
pub(crate) enum Authorization {
    /// From its credentials, checked against the permission its route declares.
    Checked,
    /// A fixed bootstrap caller in one tenant, whatever the request carries.
    /// Only for measuring what authentication costs (`gatehouse-bench auth-overhead`).
    #[cfg(feature = "bench")]
    Fixed(std::sync::Arc<gatehouse_domain::tenancy::Tenant>),
}

pub(crate) async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let Guard { state, authorization } = &guard;
    let handler = |request| idempotency::idempotency(state, request, |request| next.run(request));
    metrics::track(request, |request| async move {
        match authorization {
            Authorization::Checked => auth::authorize(state, request, handler).await,
            #[cfg(feature = "bench")]
            Authorization::Fixed(tenant) => {
                let mut request = request;
                request.extensions_mut().insert(auth::TenantContext::fixed_for_bench(tenant.clone()));
                handler(request).await
            }
        }
    })
    .await
}
