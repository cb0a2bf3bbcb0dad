//! Rules for the zone tree: a zone's parent is in the same site, the tree has no
//! cycles, and it is at most [`ZONE_DEPTH_MAX`] levels deep.

use crate::{SiteId, ValidationError, ZoneId};

/// Deepest nesting we accept (site > building > floor > wing > area ... is rarely past 6).
pub const ZONE_DEPTH_MAX: usize = 32;

/// One zone on the path from a prospective parent up to its site's top level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneLink {
    pub id: ZoneId,
    pub site_id: SiteId,
}

/// Checks that `zone` (in `site_id`, with a subtree `subtree_levels` deep counting
/// itself) may hang under the first zone of `parent_path`, where `parent_path` runs
/// from that parent up to the top of its tree. `zone` is `None` for a zone not yet created.
pub fn check_parent(
    zone: Option<ZoneId>,
    site_id: SiteId,
    parent_path: &[ZoneLink],
    subtree_levels: usize,
) -> Result<(), ValidationError> {
    let Some(parent) = parent_path.first() else {
        return Ok(());
    };
    if parent.site_id != site_id {
        return Err(ValidationError::new("parent_id", "the parent zone belongs to another site"));
    }
    if let Some(zone) = zone {
        if parent_path.iter().any(|link| link.id == zone) {
            return Err(ValidationError::new("parent_id", "a zone cannot be placed inside itself or one of its own descendants"));
        }
    }
    let depth = parent_path.len() + subtree_levels.max(1);
    if depth > ZONE_DEPTH_MAX {
        return Err(ValidationError::new(
            "parent_id",
            format!("zones nest at most {ZONE_DEPTH_MAX} levels deep; this would make {depth}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn zone(n: u128) -> ZoneId {
        ZoneId::from_uuid(Uuid::from_u128(n))
    }
    fn site(n: u128) -> SiteId {
        SiteId::from_uuid(Uuid::from_u128(n))
    }
    fn path(ids: &[u128], s: u128) -> Vec<ZoneLink> {
        ids.iter().map(|&id| ZoneLink { id: zone(id), site_id: site(s) }).collect()
    }

    #[test]
    fn top_level_zone_is_fine() {
        assert!(check_parent(None, site(1), &[], 1).is_ok());
    }

    #[test]
    fn parent_in_another_site_is_refused() {
        let err = check_parent(None, site(1), &path(&[10], 2), 1).err();
        assert!(err.is_some_and(|e| e.field == "parent_id" && e.message.contains("another site")));
    }

    #[test]
    fn moving_under_own_descendant_is_a_cycle() {
        // Tree: 1 > 2 > 3. Moving 1 under 3: path from 3 upward is [3, 2, 1].
        let err = check_parent(Some(zone(1)), site(1), &path(&[3, 2, 1], 1), 3).err();
        assert!(err.is_some_and(|e| e.message.contains("descendants")));
        // Moving under itself.
        assert!(check_parent(Some(zone(1)), site(1), &path(&[1], 1), 1).is_err());
    }

    #[test]
    fn depth_is_bounded_including_the_moved_subtree() {
        let deep: Vec<u128> = (100..100 + ZONE_DEPTH_MAX as u128 - 1).collect();
        assert!(check_parent(None, site(1), &path(&deep, 1), 1).is_ok());
        assert!(check_parent(Some(zone(1)), site(1), &path(&deep, 1), 2).is_err());
    }
}
