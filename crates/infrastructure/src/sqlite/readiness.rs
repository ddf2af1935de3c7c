//! Whether the SQLite store can really serve: its file is still the one it opened, and a
//! write commits. A probe that only reads stays green while every write fails (a full
//! disk, an immutable write-ahead log) or while the server writes into a file that was
//! deleted under it (every write "succeeds" and is gone at the next start).

use std::path::{Path, PathBuf};

use domain::ports::AdapterError;

// Shared with the PostgreSQL backend; re-exported so the door keeps its import.
pub(crate) use crate::readiness::ReadinessLog;

/// What names a file whatever its path: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    device: u64,
    inode: u64,
}

/// The database file is not the one that was opened.
#[derive(Debug, thiserror::Error)]
#[error("the database file at {path} was replaced after it was opened")]
struct FileReplaced {
    path: PathBuf,
}

impl FileIdentity {
    /// The identity of the file at `path` now.
    pub(crate) fn of(path: &Path) -> std::io::Result<Self> {
        let metadata = std::fs::metadata(path)?;
        Ok(Self::from_metadata(&metadata))
    }

    #[cfg(unix)]
    fn from_metadata(metadata: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }

    #[cfg(not(unix))]
    fn from_metadata(_: &std::fs::Metadata) -> Self {
        // No inode to compare: only a missing file is noticed.
        Self {
            device: 0,
            inode: 0,
        }
    }
}

/// The file at `path` is still `opened`.
pub(crate) fn still_the_opened_file(path: &Path, opened: FileIdentity) -> Result<(), AdapterError> {
    let now = FileIdentity::of(path)
        .map_err(|error| AdapterError::new("the database file is gone", error))?;
    if now == opened {
        Ok(())
    } else {
        Err(AdapterError::new(
            "the database file was replaced",
            FileReplaced {
                path: path.to_owned(),
            },
        ))
    }
}
