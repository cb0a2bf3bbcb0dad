//! gatehouse-domain
