//! Directories and files only the current user controls. The compiled-module cache holds native
//! code Wicket loads and `wicket dev`'s data directory holds the key its tokens are signed with,
//! so another local user must be able neither to plant nor to replace anything in them, and a
//! symbolic link planted at a file's path is never followed:
//!
//! - [`ensure_dir`]: the directory (created at mode 0700 if missing) is owned by the current
//!   user and neither its group nor others may write it;
//! - [`write_new`]: a new file, created at mode 0600 with `O_CREAT | O_EXCL | O_NOFOLLOW`;
//! - [`replace`]: new content written to a fresh file with an unpredictable name, then renamed
//!   over the path (a rename replaces a symbolic link, it never writes through one);
//! - [`read_owned`]: a file opened with `O_NOFOLLOW` whose owner and mode are checked on the
//!   open file; [`read_secret`] also refuses one that other users may read.
//!
//! Only Unix is supported; elsewhere every check refuses (fail closed).

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

/// Why a directory or file is not used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Someone else owns it.
    #[error("`{path}` is owned by uid {owner}, not by the current user (uid {user})")]
    NotOwned {
        /// The directory or file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The current (effective) user.
        user: u32,
    },
    /// Its group or other users may write it.
    #[error("`{path}` can be written by other users (mode {mode:o}); `chmod go-w` it")]
    Writable {
        /// The directory or file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Its group or other users may read it (a secret).
    #[error("`{path}` can be read by other users (mode {mode:o}); `chmod go-rwx` it")]
    Readable {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// It is not what it should be (a directory, a regular file).
    #[error("`{path}` is not a {expected}")]
    Kind {
        /// The path.
        path: PathBuf,
        /// What it should be.
        expected: &'static str,
    },
    /// A symbolic link is where a file should be.
    #[error("`{0}` is a symbolic link; remove it")]
    Symlink(PathBuf),
    /// The file system refused.
    #[error("cannot use `{path}`: {source}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| {
        if is_symlink_refusal(&source) {
            Error::Symlink(path.to_owned())
        } else {
            Error::Io {
                path: path.to_owned(),
                source,
            }
        }
    }
}

#[cfg(unix)]
mod unix {
    use std::fs::{File, Metadata, OpenOptions};
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
    use std::path::Path;

    use super::{Error, Result, io};

    /// `O_NOFOLLOW`: opening a symbolic link fails (`ELOOP`) instead of opening its target.
    const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;

    pub(super) fn is_symlink_refusal(error: &std::io::Error) -> bool {
        error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
    }

    /// `metadata` belongs to the current user and only they may write it.
    pub(super) fn check_owner_and_mode(path: &Path, metadata: &Metadata) -> Result<()> {
        let user = rustix::process::geteuid().as_raw();
        if metadata.uid() != user {
            return Err(Error::NotOwned {
                path: path.to_owned(),
                owner: metadata.uid(),
                user,
            });
        }
        let mode = metadata.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(Error::Writable {
                path: path.to_owned(),
                mode,
            });
        }
        Ok(())
    }

    /// Neither the group nor other users may read `metadata`'s file.
    pub(super) fn check_unreadable_by_others(path: &Path, metadata: &Metadata) -> Result<()> {
        let mode = metadata.mode() & 0o7777;
        if mode & 0o044 != 0 {
            return Err(Error::Readable {
                path: path.to_owned(),
                mode,
            });
        }
        Ok(())
    }

    pub(super) fn create_dir(path: &Path) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
    }

    pub(super) fn create_new(path: &Path) -> Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(NOFOLLOW)
            .open(path)
            .map_err(io(path))
    }

    pub(super) fn open_no_follow(path: &Path) -> Result<File> {
        OpenOptions::new()
            .read(true)
            .custom_flags(NOFOLLOW)
            .open(path)
            .map_err(io(path))
    }
}

#[cfg(not(unix))]
mod unix {
    use std::fs::{File, Metadata};
    use std::path::Path;

    use super::{Error, Result};

    fn unsupported(path: &Path) -> Error {
        Error::Io {
            path: path.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "ownership cannot be checked on this platform",
            ),
        }
    }

    pub(super) fn is_symlink_refusal(_: &std::io::Error) -> bool {
        false
    }

    pub(super) fn check_owner_and_mode(path: &Path, _: &Metadata) -> Result<()> {
        Err(unsupported(path))
    }

    pub(super) fn check_unreadable_by_others(path: &Path, _: &Metadata) -> Result<()> {
        Err(unsupported(path))
    }

    pub(super) fn create_dir(path: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(path)
    }

    pub(super) fn create_new(path: &Path) -> Result<File> {
        Err(unsupported(path))
    }

    pub(super) fn open_no_follow(path: &Path) -> Result<File> {
        Err(unsupported(path))
    }
}

use unix::{
    check_owner_and_mode, check_unreadable_by_others, create_dir, create_new, is_symlink_refusal,
    open_no_follow,
};

/// Creates `dir` (and missing parents, at mode 0700) if it does not exist, then checks that it
/// is a directory owned by the current user that neither its group nor others may write.
/// A symbolic link to such a directory is accepted: what counts is who controls the target.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    create_dir(dir).map_err(io(dir))?;
    let metadata = std::fs::metadata(dir).map_err(io(dir))?;
    if !metadata.is_dir() {
        return Err(Error::Kind {
            path: dir.to_owned(),
            expected: "directory",
        });
    }
    check_owner_and_mode(dir, &metadata)
}

/// Creates the file `path` with `bytes`, at mode 0600; fails if anything (a file, a symbolic
/// link) is already there.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = create_new(path)?;
    file.write_all(bytes).map_err(io(path))
}

/// Replaces the file `path` with `bytes` (mode 0600): written to a new file with an
/// unpredictable name beside it, then renamed over `path`, so readers never see half a file
/// and a symbolic link at `path` is replaced, never written through.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temp_beside(path);
    let written =
        write_new(&temp, bytes).and_then(|()| std::fs::rename(&temp, path).map_err(io(path)));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// `.<name>.<12 random hex digits>.tmp` in `path`'s directory.
fn temp_beside(path: &Path) -> PathBuf {
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).expect("the operating system provides random bytes");
    let name = path
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.tmp", hex::encode(random)))
}

/// Reads the file `path`, refusing a symbolic link, anything but a regular file, and a file
/// that another user owns or may write.
pub fn read_owned(path: &Path) -> Result<Vec<u8>> {
    let mut file: File = open_no_follow(path)?;
    let metadata = file.metadata().map_err(io(path))?;
    if !metadata.is_file() {
        return Err(Error::Kind {
            path: path.to_owned(),
            expected: "regular file",
        });
    }
    check_owner_and_mode(path, &metadata)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io(path))?;
    Ok(bytes)
}

/// Reads the secret in `path` as [`read_owned`] does, also refusing a file that another user
/// may read.
pub fn read_secret(path: &Path) -> Result<Vec<u8>> {
    let mut file: File = open_no_follow(path)?;
    let metadata = file.metadata().map_err(io(path))?;
    if !metadata.is_file() {
        return Err(Error::Kind {
            path: path.to_owned(),
            expected: "regular file",
        });
    }
    check_owner_and_mode(path, &metadata)?;
    check_unreadable_by_others(path, &metadata)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io(path))?;
    Ok(bytes)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::{PermissionsExt as _, symlink};

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn a_new_directory_and_files_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        ensure_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("key");
        write_new(&file, b"one").unwrap();
        assert_eq!(mode(&file), 0o600);
        replace(&file, b"two").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(read_owned(&file).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }

    #[test]
    fn a_directory_others_may_write_or_another_user_owns_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            ensure_dir(&open),
            Err(Error::Writable { mode: 0o777, .. })
        ));
        let group = root.path().join("group");
        std::fs::create_dir(&group).unwrap();
        std::fs::set_permissions(&group, std::fs::Permissions::from_mode(0o770)).unwrap();
        assert!(matches!(ensure_dir(&group), Err(Error::Writable { .. })));
        let foreign = root.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        if std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).is_ok() {
            let refused = ensure_dir(&foreign).unwrap_err();
            assert!(matches!(refused, Error::NotOwned { owner: 65534, .. }));
            assert!(
                refused.to_string().contains("is owned by uid 65534"),
                "{refused}"
            );
        }
        // A link to a directory someone else controls is judged by its target.
        let link = root.path().join("link");
        symlink(&open, &link).unwrap();
        assert!(matches!(ensure_dir(&link), Err(Error::Writable { .. })));
    }

    #[test]
    fn a_planted_symbolic_link_is_never_followed() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("target");
        std::fs::write(&target, b"the attacker's").unwrap();
        let planted = root.path().join("planted");
        symlink(&target, &planted).unwrap();

        let refused = write_new(&planted, b"secret").unwrap_err();
        assert!(
            matches!(refused, Error::Io { .. } | Error::Symlink(_)),
            "{refused}"
        );
        assert!(matches!(read_owned(&planted), Err(Error::Symlink(_))));
        replace(&planted, b"secret").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"the attacker's");
        assert!(std::fs::symlink_metadata(&planted).unwrap().is_file());
        assert_eq!(read_owned(&planted).unwrap(), b"secret");
    }

    #[test]
    fn a_file_another_user_owns_or_may_write_is_not_read() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(read_owned(&file), Err(Error::Writable { .. })));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_owned(&file).unwrap(), b"x");
        if std::os::unix::fs::chown(&file, Some(65534), None).is_ok() {
            assert!(matches!(read_owned(&file), Err(Error::NotOwned { .. })));
        }
        assert!(
            read_owned(&root.path().join("missing"))
                .unwrap_err()
                .is_not_found()
        );
    }
}
