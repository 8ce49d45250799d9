//! The write connection's VFS: a commit reaches the WAL in one write, before readers can see
//! it; what a crash leaves is whole; a transaction bigger than the page cache (which rewrites
//! frames in place) is stored whole too.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::wal_vfs;

/// Bytes of each row's body: a few rows fill a page.
const BODY: usize = 1000;

/// A write connection as the store opens one: this VFS, WAL, no automatic checkpoint.
fn gathered(path: &Path) -> Connection {
    let conn = Connection::open_with_flags_and_vfs(
        path,
        rusqlite::OpenFlags::default(),
        wal_vfs::register().unwrap(),
    )
    .unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS t_by_tail ON t (substr(body, -16));",
    )
    .unwrap();
    conn
}

/// What the WAL file handed to the default VFS so far, and whether it writes at once.
fn wal_state(conn: &Connection) -> (u64, bool) {
    wal_vfs::wal_state(conn).expect("the WAL is this VFS's")
}

/// Inserts `rows` rows, numbered from `first`, in one transaction.
fn insert(conn: &Connection, first: i64, rows: i64) {
    let tx = conn.unchecked_transaction().unwrap();
    for id in first..first + rows {
        tx.execute(
            "INSERT INTO t (id, body) VALUES (?, ?)",
            rusqlite::params![id, body(id)],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn body(id: i64) -> String {
    format!("{id:>BODY$}")
}

/// The rows' count, and whether every body is the one its id makes.
fn rows(conn: &Connection) -> (i64, bool) {
    let count = conn
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .unwrap();
    let mut statement = conn.prepare("SELECT id, body FROM t").unwrap();
    let whole = statement
        .query_map([], |row| Ok(row.get::<_, String>(1)? == body(row.get(0)?)))
        .unwrap()
        .all(|same| same.unwrap());
    (count, whole)
}

/// The database and WAL files as a crash of the process leaves them (the operating system
/// has every write made), copied to `to`; SQLite recovers the WAL when the copy is opened.
fn crashed_copy(from: &Path, to: &Path) -> PathBuf {
    let copy = to.join("copy.db");
    std::fs::copy(from, &copy).unwrap();
    std::fs::copy(from.with_extension("db-wal"), to.join("copy.db-wal")).unwrap();
    copy
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// What a crash of the process would leave: `rows` rows, every body whole, a sound database.
fn assert_a_crash_keeps(path: &Path, rows_expected: i64) {
    let copied = tempfile::tempdir().unwrap();
    let copy = Connection::open(crashed_copy(path, copied.path())).unwrap();
    assert_eq!(rows(&copy), (rows_expected, true));
    assert_eq!(integrity(&copy), "ok");
}

/// A transaction whose pages spill to the WAL before it ends (the connection's page cache is
/// cut to 8 pages; the caller puts it back), with placeholder rows `ids` inserted.
fn spilling(conn: &Connection, ids: std::ops::Range<i64>) -> rusqlite::Transaction<'_> {
    conn.execute_batch("PRAGMA cache_size = 8").unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for id in ids {
        tx.execute(
            "INSERT INTO t (id, body) VALUES (?, ?)",
            rusqlite::params![id, "x".repeat(BODY)],
        )
        .unwrap();
    }
    tx
}

/// Copies the whole WAL back into the database from `reader`, so that the next commit starts
/// the WAL over.
fn restart_wal(reader: &Connection) {
    let busy: i64 = reader
        .query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| row.get(0))
        .unwrap();
    assert_eq!(busy, 0, "the checkpoint was blocked");
}

#[test]
fn each_commit_reaches_the_wal_in_one_write_that_readers_and_a_crash_see() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = gathered(&path);
    let reader = Connection::open(&path).unwrap();
    let wal = path.with_extension("db-wal");
    for commit in 0..20 {
        let (writes, _) = wal_state(&conn);
        let size = std::fs::metadata(&wal).unwrap().len();
        insert(&conn, commit * 8, 8);
        let frames = (std::fs::metadata(&wal).unwrap().len() - size) / (4096 + 24);
        assert!(frames >= 3, "a commit of {frames} frames proves nothing");
        assert_eq!(wal_state(&conn), (writes + 1, false), "commit {commit}");
        assert_eq!(rows(&reader), ((commit + 1) * 8, true));
    }
    assert_a_crash_keeps(&path, 160);
}

#[test]
fn a_transaction_bigger_than_the_page_cache_is_stored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = gathered(&path);
    insert(&conn, 0, 10);
    // Updating spilled rows rewrites their frames in place, then SQLite rewrites the
    // checksums of the frames after them.
    let tx = spilling(&conn, 10..400);
    for id in 10..400 {
        tx.execute(
            "UPDATE t SET body = ? WHERE id = ?",
            rusqlite::params![body(id), id],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    assert!(wal_state(&conn).1, "no frame was rewritten in place");
    conn.execute_batch("PRAGMA cache_size = -2000").unwrap();
    insert(&conn, 400, 5);
    let reader = Connection::open(&path).unwrap();
    assert_eq!(rows(&reader), (405, true));
    assert_a_crash_keeps(&path, 405);

    // Once the WAL starts over, commits are gathered again. The commit that starts it over
    // syncs its new header before any frame (SQLite's rule), so that header is a write of
    // its own; the frames then come in one.
    restart_wal(&reader);
    let (writes, _) = wal_state(&conn);
    insert(&conn, 405, 8);
    assert_eq!(wal_state(&conn), (writes + 2, false));
    insert(&conn, 413, 8);
    assert_eq!(wal_state(&conn), (writes + 3, false));
    assert_eq!(rows(&reader), (421, true));
}

#[test]
fn readers_never_see_part_of_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = gathered(&path);
    let reading = {
        let path = path.clone();
        std::thread::spawn(move || {
            let reader = Connection::open(&path).unwrap();
            let mut last = 0;
            while last < 800 {
                let (count, whole) = rows(&reader);
                assert!(whole, "a reader saw a body its id does not make");
                assert_eq!(count % 8, 0, "a reader saw part of a commit");
                assert!(count >= last, "a reader went back in time");
                last = count;
            }
        })
    };
    for commit in 0..100 {
        insert(&conn, commit * 8, 8);
    }
    reading.join().unwrap();
}

#[test]
fn a_commit_larger_than_one_write_is_written_in_parts_and_stored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = gathered(&path);
    let (writes, _) = wal_state(&conn);
    insert(&conn, 0, 200);
    let (after, through) = wal_state(&conn);
    assert!(!through);
    assert!(after - writes >= 3, "200 KB in {} writes", after - writes);
    assert_a_crash_keeps(&path, 200);
}

#[test]
fn a_rolled_back_transaction_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = gathered(&path);
    insert(&conn, 0, 10);
    // Spilled frames of a transaction that is then rolled back stay beyond the last commit.
    spilling(&conn, 10..300).rollback().unwrap();
    conn.execute_batch("PRAGMA cache_size = -2000").unwrap();
    let reader = Connection::open(&path).unwrap();
    assert_eq!(rows(&reader), (10, true));
    insert(&conn, 10, 8);
    assert!(
        wal_state(&conn).1,
        "the next commit overwrote the gathered frames"
    );
    assert_eq!(rows(&reader), (18, true));
    assert_a_crash_keeps(&path, 18);

    // The WAL starts over with no commit gathered: the next commits are gathered again.
    restart_wal(&reader);
    insert(&conn, 18, 8);
    let (writes, through) = wal_state(&conn);
    assert!(!through);
    insert(&conn, 26, 8);
    assert_eq!(wal_state(&conn), (writes + 1, false));
    assert_eq!(rows(&reader), (34, true));
}
