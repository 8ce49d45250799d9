//! The write connection's VFS: SQLite's default one, except that each commit's WAL frames
//! reach the file in one write instead of two per frame.
//!
//! SQLite writes every WAL frame as two `pwrite`s, its 24-byte header and then its page, so
//! the commit of a denied request (~9 pages) made ~18 system calls, a third of the time the
//! whole write took (measured with `perf`; `BENCHMARKS.md`, session 10). This VFS wraps the
//! default one and, for WAL files only, gathers writes that follow one another in the file and
//! hands them to the default VFS as one write as soon as the page of a *commit* frame (a frame
//! whose header holds the database size) is gathered. That is the moment SQLite's own last
//! write of the commit would have returned, and it comes before SQLite publishes the commit in
//! the WAL index, so no reader ever looks for a frame that is not in the file yet, a crash of
//! the process after a commit returned loses nothing, and a failing write fails the commit
//! exactly as SQLite's own would.
//!
//! Everything else is the default VFS's. What is gathered is written first whenever SQLite
//! reads, syncs, truncates, sizes, controls or closes the WAL, and whenever more than
//! [`MAX_GATHERED`] bytes wait (a transaction bigger than the page cache spills frames before
//! its commit). A write that does not extend the gathered run — SQLite rewriting a frame of
//! such a big transaction in place, then the checksums of the frames after it — is written at
//! once, and so is every write after it until the WAL starts over: the run of a commit is then
//! no longer known to end with its commit frame.
//!
//! The VFS is a copy of the default one (`unix` on Linux and macOS) with its own `xOpen`; the
//! default VFS's other functions only read fields the copy keeps (`pAppData`, `mxPathname`).

#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

use rusqlite::ffi;

/// The name the write connection opens its database with.
pub(super) const NAME: &CStr = c"wicket-gathered-wal";

/// A WAL frame's header; the bytes 4..8 hold the database size in a commit frame, 0 otherwise.
const FRAME_HEADER: usize = 24;

/// The WAL file's own header, written at offset 0 when the WAL starts (over).
const WAL_HEADER: usize = 32;

/// The most bytes gathered before they are written anyway.
const MAX_GATHERED: usize = 1 << 20;

/// The most bytes handed to the default VFS in one write: the `unix` VFS writes at most
/// 128 KiB - 1 bytes per system call (it masks larger amounts), which SQLite's own writes,
/// one page at most, never reach.
const MAX_WRITE: usize = 64 << 10;

/// The default VFS, which this one wraps.
static BASE: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(ptr::null_mut());

/// A WAL file as SQLite sees it: the default VFS's file lives after it, in the same
/// allocation ([`REAL_OFFSET`]).
#[repr(C)]
struct WalFile {
    /// What SQLite reads: must come first.
    file: ffi::sqlite3_file,
    /// The default VFS's file.
    real: *mut ffi::sqlite3_file,
    /// The writes gathered so far (owned; freed on close).
    gathered: *mut Gathered,
}

/// Where the default VFS's file starts in a [`WalFile`]'s allocation.
const REAL_OFFSET: usize = size_of::<WalFile>().next_multiple_of(8);

/// Writes that follow one another in the WAL, not made yet.
#[derive(Default)]
struct Gathered {
    /// Where `bytes` go in the file.
    offset: i64,
    bytes: Vec<u8>,
    /// The last write gathered was a commit frame's header: its page ends the commit.
    commit_next: bool,
    /// Write at once until the WAL starts over (see the module's documentation).
    through: bool,
    /// Writes handed to the default VFS.
    #[cfg(test)]
    writes: u64,
}

/// Registers the VFS (once per process) and returns its name.
pub(super) fn register() -> rusqlite::Result<&'static CStr> {
    static REGISTERED: OnceLock<c_int> = OnceLock::new();
    // SAFETY: runs once; `register_once` only calls SQLite's documented registration API.
    let rc = *REGISTERED.get_or_init(|| unsafe { register_once() });
    if rc == ffi::SQLITE_OK {
        Ok(NAME)
    } else {
        Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(rc),
            Some("cannot register the write connection's SQLite VFS".to_owned()),
        ))
    }
}

/// # Safety
/// Must run at most once per process.
unsafe fn register_once() -> c_int {
    // SAFETY: SQLite's initialisation and VFS lookup take no arguments that could be invalid;
    // the copied VFS is leaked, so it outlives every connection, as SQLite requires.
    unsafe {
        let rc = ffi::sqlite3_initialize();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let base = ffi::sqlite3_vfs_find(ptr::null());
        if base.is_null() {
            return ffi::SQLITE_ERROR;
        }
        let Ok(size) = c_int::try_from(REAL_OFFSET + (*base).szOsFile as usize) else {
            return ffi::SQLITE_ERROR;
        };
        BASE.store(base, Ordering::Release);
        let mut vfs = *base;
        vfs.szOsFile = size;
        vfs.pNext = ptr::null_mut();
        vfs.zName = NAME.as_ptr();
        vfs.xOpen = Some(open);
        ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 0)
    }
}

/// Opens a file with the default VFS; a WAL file is wrapped in a [`WalFile`].
unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let base = BASE.load(Ordering::Acquire);
    // SAFETY: `base` was set before this VFS was registered and is never freed; `file` points
    // to `szOsFile` bytes, room for a `WalFile` followed by the default VFS's file.
    unsafe {
        let Some(base_open) = (*base).xOpen else {
            return ffi::SQLITE_INTERNAL;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            return base_open(base, name, file, flags, out_flags);
        }
        let real = file
            .cast::<u8>()
            .add(REAL_OFFSET)
            .cast::<ffi::sqlite3_file>();
        let rc = base_open(base, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            (*file).pMethods = ptr::null();
            return rc;
        }
        file.cast::<WalFile>().write(WalFile {
            file: ffi::sqlite3_file {
                pMethods: &WAL_METHODS,
            },
            real,
            gathered: Box::into_raw(Box::default()),
        });
        ffi::SQLITE_OK
    }
}

/// A WAL file's methods. Version 1: SQLite maps shared memory and pages only through the
/// database file, never through its WAL.
static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// The gathered writes and the default VFS's file of a WAL file `open` wrapped.
///
/// # Safety
/// `file` must be a [`WalFile`] made by [`open`] and not closed; SQLite calls a file's methods
/// from one thread at a time.
unsafe fn parts<'a>(file: *mut ffi::sqlite3_file) -> (&'a mut Gathered, *mut ffi::sqlite3_file) {
    // SAFETY: as the caller promised.
    unsafe {
        let wal = file.cast::<WalFile>();
        (&mut *(*wal).gathered, (*wal).real)
    }
}

/// The default VFS's methods for `real`.
///
/// # Safety
/// `real` must be an open file of the default VFS.
unsafe fn methods<'a>(real: *mut ffi::sqlite3_file) -> &'a ffi::sqlite3_io_methods {
    // SAFETY: an open file always has its methods.
    unsafe { &*(*real).pMethods }
}

/// Writes what is gathered, if anything.
///
/// # Safety
/// `real` must be the open file `gathered` belongs to.
unsafe fn flush(gathered: &mut Gathered, real: *mut ffi::sqlite3_file) -> c_int {
    gathered.commit_next = false;
    if gathered.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let mut rc = ffi::SQLITE_OK;
    let mut offset = gathered.offset;
    let bytes = std::mem::take(&mut gathered.bytes);
    for chunk in bytes.chunks(MAX_WRITE) {
        // SAFETY: `chunk` holds `chunk.len()` bytes, at most `MAX_WRITE`.
        rc = unsafe {
            write_real(
                gathered,
                real,
                chunk.as_ptr().cast(),
                chunk.len() as c_int,
                offset,
            )
        };
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset += chunk.len() as i64;
    }
    gathered.bytes = bytes;
    gathered.bytes.clear();
    rc
}

/// Hands one write to the default VFS.
///
/// # Safety
/// `real` must be the open file `gathered` belongs to; `data` must hold `amount` bytes.
unsafe fn write_real(
    gathered: &mut Gathered,
    real: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    #[cfg(test)]
    {
        gathered.writes += 1;
    }
    #[cfg(not(test))]
    let _ = gathered;
    // SAFETY: as the caller promised.
    unsafe {
        match methods(real).xWrite {
            Some(write) => write(real, data, amount, offset),
            None => ffi::SQLITE_IOERR_WRITE,
        }
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite calls this with the `WalFile` it opened and `amount` bytes at `data`.
    unsafe {
        let (gathered, real) = parts(file);
        let Ok(len) = usize::try_from(amount) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
        let starts_wal = offset == 0 && len == WAL_HEADER;
        if starts_wal {
            // The WAL starts over. Anything gathered is frames of a transaction that never
            // committed: written first, as SQLite would have, before the WAL is overwritten.
            let rc = flush(gathered, real);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            gathered.through = false;
        }
        let extends = !gathered.bytes.is_empty()
            && i64::try_from(gathered.bytes.len()).is_ok_and(|n| offset == gathered.offset + n);
        let starts_run = gathered.bytes.is_empty() && (len == FRAME_HEADER || starts_wal);
        if gathered.through || !(extends || starts_run) {
            let rc = flush(gathered, real);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            // Only a frame rewritten in place breaks a run; its transaction's writes, and the
            // checksums SQLite then rewrites, are made as they come.
            gathered.through = true;
            return write_real(gathered, real, data, amount, offset);
        }
        if starts_run {
            gathered.offset = offset;
        }
        gathered.bytes.extend_from_slice(bytes);
        if len == FRAME_HEADER {
            gathered.commit_next = bytes[4..8] != [0; 4];
            return ffi::SQLITE_OK;
        }
        if gathered.commit_next || gathered.bytes.len() >= MAX_GATHERED {
            return flush(gathered, real);
        }
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes a file once, after its last other call; the `Gathered` is ours.
    unsafe {
        let (gathered, real) = parts(file);
        let flushed = flush(gathered, real);
        let closed = match methods(real).xClose {
            Some(close) => close(real),
            None => ffi::SQLITE_OK,
        };
        drop(Box::from_raw((*file.cast::<WalFile>()).gathered));
        (*file).pMethods = ptr::null();
        if flushed == ffi::SQLITE_OK {
            closed
        } else {
            flushed
        }
    }
}

/// Defines a method that writes what is gathered, then calls the default VFS's method.
macro_rules! flush_then {
    ($name:ident, $method:ident, $error:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            // SAFETY: SQLite calls this with the `WalFile` it opened and valid arguments for
            // the default VFS's method.
            unsafe {
                let (gathered, real) = parts(file);
                let rc = flush(gathered, real);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                match methods(real).$method {
                    Some(method) => method(real, $($arg),*),
                    None => $error,
                }
            }
        }
    };
}

/// Defines a method that calls the default VFS's method.
macro_rules! forward {
    ($name:ident, $method:ident, $default:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            // SAFETY: SQLite calls this with the `WalFile` it opened and valid arguments for
            // the default VFS's method.
            unsafe {
                let (_, real) = parts(file);
                match methods(real).$method {
                    Some(method) => method(real, $($arg),*),
                    None => $default,
                }
            }
        }
    };
}

flush_then!(read, xRead, ffi::SQLITE_IOERR_READ, (data: *mut c_void, amount: c_int, offset: i64));
flush_then!(truncate, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, (size: i64));
flush_then!(sync, xSync, ffi::SQLITE_IOERR_FSYNC, (flags: c_int));
flush_then!(file_size, xFileSize, ffi::SQLITE_IOERR_FSTAT, (size: *mut i64));
flush_then!(file_control, xFileControl, ffi::SQLITE_NOTFOUND, (op: c_int, arg: *mut c_void));
forward!(lock, xLock, ffi::SQLITE_OK, (level: c_int));
forward!(unlock, xUnlock, ffi::SQLITE_OK, (level: c_int));
forward!(check_reserved_lock, xCheckReservedLock, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK, (out: *mut c_int));
forward!(sector_size, xSectorSize, 512, ());
forward!(device_characteristics, xDeviceCharacteristics, 0, ());

/// How many writes the WAL of `conn` (opened with this VFS) handed to the default VFS, and
/// whether it now writes at once; `None` when the WAL is not this VFS's.
#[cfg(test)]
pub(super) fn wal_state(conn: &rusqlite::Connection) -> Option<(u64, bool)> {
    let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
    // SAFETY: the journal pointer file control stores the connection's WAL (or journal) file
    // in `file`; it is ours when its methods are.
    unsafe {
        let rc = ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_JOURNAL_POINTER,
            (&raw mut file).cast(),
        );
        if rc != ffi::SQLITE_OK || file.is_null() || !ptr::eq((*file).pMethods, &WAL_METHODS) {
            return None;
        }
        let gathered = parts(file).0;
        Some((gathered.writes, gathered.through))
    }
}
