//! Cursor pagination: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out.
//! The cursor is opaque to clients (base64url of the last row's id).

use base64::Engine as _;
use gatehouse_store::{Page, PageRequest, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

/// One page of a list. `next_cursor` is null on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null when there is none.
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for List<T> {
    fn from(page: Page<T>) -> Self {
        List { items: page.items, next_cursor: page.next_after.map(encode_cursor) }
    }
}

pub fn encode_cursor(after: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(after.as_bytes())
}

/// Builds a page request from the raw `limit` and `cursor` parameters.
pub fn page_request(limit: Option<u32>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(PAGE_LIMIT_DEFAULT);
    if !(1..=PAGE_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::invalid_query(format!("limit must be between 1 and {PAGE_LIMIT_MAX}")).with_field("limit"));
    }
    // `?cursor=` (empty) is the first page, as if no cursor were given.
    let after = cursor
        .filter(|cursor| !cursor.is_empty())
        .map(|cursor| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| Uuid::from_slice(&bytes).ok())
                .ok_or_else(|| {
                    ApiError::invalid_query("cursor is not one this API issued; pass next_cursor from the previous page")
                        .with_field("cursor")
                })
        })
        .transpose()?;
    Ok(PageRequest { limit, after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let id = Uuid::now_v7();
        let cursor = encode_cursor(id);
        assert_eq!(page_request(Some(10), Some(&cursor)).ok(), Some(PageRequest { limit: 10, after: Some(id) }));
        assert!(page_request(None, Some("not-a-cursor")).is_err());
        assert!(page_request(Some(0), None).is_err());
        assert!(page_request(Some(PAGE_LIMIT_MAX + 1), None).is_err());
    }
}

/// `?limit=&cursor=`, for lists with no other filter.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        page_request(self.limit, self.cursor.as_deref())
    }
}
