//! gatehouse-api
