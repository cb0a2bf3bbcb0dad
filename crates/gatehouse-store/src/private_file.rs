//! Database files only their owner may read: the database holds password hashes
//! and sealed keys, and the access log's index who went where.

use std::path::{Path, PathBuf};

/// What SQLite keeps beside a database file in WAL mode, after the file itself ("").
pub(crate) const WITH_COMPANIONS: [&str; 3] = ["", "-wal", "-shm"];

/// `path` with `suffix` appended to its file name (`gatehouse.db` → `gatehouse.db-wal`).
pub(crate) fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `path` empty, readable and writable by its owner only, unless it exists.
/// SQLite gives the WAL and shared-memory files it makes later the database file's
/// permissions, so they are private from their first byte too.
pub(crate) fn create_private(path: &Path) {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        // Opening the database reports the problem, with SQLite's words.
        Err(err) => tracing::debug!(path = %path.display(), error = %err, "cannot create the database file"),
    }
}

/// Makes an existing database file, and its WAL and shared-memory files, private.
pub(crate) fn restrict_to_owner(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for suffix in WITH_COMPANIONS {
            let file = companion(path, suffix);
            if suffix.is_empty() || file.exists() {
                if let Err(err) = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                    tracing::warn!(path = %file.display(), error = %err, "cannot make the database file private");
                }
            }
        }
    }
}
