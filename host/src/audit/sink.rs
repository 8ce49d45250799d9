//! Sink files: opened for appending only (`O_APPEND`), never through a symbolic link, created
//! at mode 0600; and the last complete line of one, read back at start.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

use super::{Error, Result};

/// How much of a sink's end is read to find its last complete line.
const TAIL_BYTES: u64 = 1 << 20;

fn sink_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Sink {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Opens `path` for appending (creating it at mode 0600): a regular file, not a symbolic
/// link. Every write lands at the end, whatever else writes the file.
pub(super) fn open_append(path: &Path) -> Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;

        let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .read(true)
            .create(true)
            .mode(0o600)
            .custom_flags(nofollow)
            .open(path)
            .map_err(|error| {
                if error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                    sink_error(path, "it is a symbolic link; name the file itself")
                } else {
                    sink_error(path, error)
                }
            })?;
        let metadata = file.metadata().map_err(|e| sink_error(path, e))?;
        if !metadata.is_file() {
            return Err(sink_error(path, "it is not a regular file"));
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        Err(sink_error(
            path,
            "append-only sinks are supported on Unix only",
        ))
    }
}

/// The end of `file`: its last complete lines (up to [`TAIL_BYTES`]), and whether it ends
/// without a newline (a write a crash cut short).
pub(super) fn tail(file: &mut File, path: &Path) -> Result<(String, bool)> {
    let length = file.metadata().map_err(|e| sink_error(path, e))?.len();
    let start = length.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| sink_error(path, e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| sink_error(path, e))?;
    let torn = bytes.last().is_some_and(|last| *last != b'\n');
    // From the middle of the file, the first line may be partial.
    let from = if start > 0 {
        bytes
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |i| i + 1)
    } else {
        0
    };
    let to = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let text = String::from_utf8_lossy(&bytes[from.min(to)..to]).into_owned();
    Ok((text, torn))
}
