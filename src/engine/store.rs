//! The response store: every answer from every model, judge and classifier, keyed by the
//! fingerprint of the request that produced it.
//!
//! SQLite in WAL mode. One writer thread owns the writing connection and commits answers within
//! [`COMMIT_WINDOW`] of their arrival (answers that arrive within the window share a
//! transaction, which keeps the cost per answer low under load), so a killed run loses at most
//! the requests in flight and the last few milliseconds of answers. Errors are stored as errors
//! and do not count as answers: the next run sends those requests again. A success is never
//! overwritten.
//!
//! The file is checked when it is opened: a damaged or foreign file stops the run before
//! anything is sent. Several processes may share one store (on one machine, or on a file
//! system with working SQLite locking): before sending a request, a process *claims* its
//! fingerprint with a lease that it renews while it works and that expires if it dies; a
//! process that finds a fingerprint claimed waits for the answer instead of sending it too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params_from_iter};

/// A store problem, naming the file and what to do.
#[derive(Debug, thiserror::Error)]
#[error("response store {path}: {message}")]
pub struct StoreError {
    path: String,
    message: String,
}

/// How long a claim on a fingerprint holds without renewal: a process that dies releases its
/// claims after at most this long.
pub const LEASE: Duration = Duration::from_secs(30);

/// How often a process renews the claims it holds.
pub const RENEW: Duration = Duration::from_secs(10);

/// What claiming a fingerprint found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This process may send the request; others will wait for its answer.
    Claimed,
    /// The answer is already stored (as JSON).
    Answered(String),
    /// Another process is sending it; wait for its answer.
    Held,
}

/// One call to record.
#[derive(Debug, Clone)]
pub struct Record {
    /// The request fingerprint (the key).
    pub fingerprint: String,
    /// `provider:model` of the service called.
    pub service: String,
    /// The canonical request JSON (images as hashes, never keys).
    pub request: String,
    /// The answer as JSON, for a success.
    pub reply: Option<String>,
    /// The error, for a failure.
    pub error: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Time from the first attempt to the answer.
    pub latency_ms: u64,
}

/// How long the writer gathers answers before committing them together.
pub const COMMIT_WINDOW: std::time::Duration = std::time::Duration::from_millis(10);

enum Message {
    Put(Box<Record>),
    Flush(mpsc::Sender<()>),
    Claim(String, tokio::sync::oneshot::Sender<Claim>),
}

/// Counts of what a store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Stored answers.
    pub answers: u64,
    /// Stored errors (to be retried).
    pub errors: u64,
}

/// The response store.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    failure: Arc<Mutex<Option<String>>>,
    /// Answers queued but not yet committed, so that lookups see them at once.
    pending: Arc<Mutex<HashMap<String, String>>>,
    /// This process's name in the claims table.
    holder: String,
}

/// Rows are kept in arrival order (the rowid), with the fingerprints in a separate index: an
/// answer then appends to the table's last page, and only the small index entry lands at a
/// random place. Keying the rows themselves by fingerprint (`WITHOUT ROWID`) scatters every
/// answer onto a page of its own, which costs about twice the CPU per answer under load.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    id          INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    service     TEXT NOT NULL,
    request     TEXT NOT NULL,
    reply       TEXT,
    error       TEXT,
    attempts    INTEGER NOT NULL,
    latency_ms  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);";

/// The store's identity: a foreign SQLite file is refused rather than written into.
const META: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('format', 'multitrust-store'), ('version', '1');
CREATE TABLE IF NOT EXISTS claims (
    fingerprint TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id           TEXT PRIMARY KEY,
    service      TEXT NOT NULL,
    submitted_at INTEGER NOT NULL,
    ended_at     INTEGER,
    state        TEXT
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch       TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    request     TEXT NOT NULL,
    PRIMARY KEY (batch, fingerprint)
);";

/// The columns of `calls`, to tell a store from another program's table of that name.
const CALLS_COLUMNS: [&str; 9] =
    ["id", "fingerprint", "service", "request", "reply", "error", "attempts", "latency_ms", "created_at"];

/// Takes a claim unless another holder's claim is still valid.
const CLAIM: &str = "
INSERT INTO claims (fingerprint, holder, expires_at) VALUES (?1, ?2, ?3)
ON CONFLICT(fingerprint) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE claims.expires_at < ?4 OR claims.holder = excluded.holder";

const UPSERT: &str = "
INSERT INTO calls (fingerprint, service, request, reply, error, attempts, latency_ms, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT(fingerprint) DO UPDATE SET
    reply = excluded.reply, error = excluded.error, attempts = excluded.attempts,
    latency_ms = excluded.latency_ms, created_at = excluded.created_at
WHERE calls.reply IS NULL";

impl Store {
    /// Opens (or creates) a store file, checks it, and starts its writer. A damaged file, or
    /// one that is not a multitrust store, is an error that says what to do.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| error(path, e))?;
        }
        let conn = connect(path)?;
        check(&conn, path)?;
        conn.execute_batch(SCHEMA).map_err(|e| error(path, e))?;
        conn.execute_batch(META).map_err(|e| error(path, e))?;
        let (sender, receiver) = mpsc::channel();
        let failure = Arc::new(Mutex::new(None));
        let pending = Arc::new(Mutex::new(HashMap::new()));
        let holder = holder_name();
        let (writer_failure, writer_pending, writer_holder) =
            (failure.clone(), pending.clone(), holder.clone());
        let shown = path.display().to_string();
        let writer = std::thread::Builder::new()
            .name("multitrust-store".into())
            .spawn(move || write_loop(conn, receiver, writer_failure, writer_pending, writer_holder, shown))
            .map_err(|e| error(path, e))?;
        Ok(Store {
            path: path.to_path_buf(),
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            failure,
            pending,
            holder,
        })
    }

    /// Claims a fingerprint before sending its request (see [`Claim`]). Claims are taken in
    /// the writer's next group commit, a few milliseconds away.
    pub async fn claim(&self, fingerprint: &str) -> Claim {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent =
            self.sender.lock().ok().and_then(|g| {
                g.as_ref().map(|s| s.send(Message::Claim(fingerprint.to_string(), tx)).is_ok())
            });
        if sent != Some(true) {
            return Claim::Claimed;
        }
        rx.await.unwrap_or(Claim::Claimed)
    }

    /// This process's name in the claims table.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored answers for these fingerprints (errors are not answers), including answers
    /// queued but not yet committed.
    pub fn lookup(&self, fingerprints: &[String]) -> Result<HashMap<String, String>, StoreError> {
        let mut found = HashMap::new();
        let mut rest = Vec::with_capacity(fingerprints.len());
        if let Ok(pending) = self.pending.lock() {
            for fp in fingerprints {
                match pending.get(fp) {
                    Some(reply) => {
                        found.insert(fp.clone(), reply.clone());
                    }
                    None => rest.push(fp.clone()),
                }
            }
        }
        if rest.is_empty() {
            return Ok(found);
        }
        let conn = connect(&self.path)?;
        for chunk in rest.chunks(400) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT fingerprint, reply FROM calls WHERE reply IS NOT NULL AND fingerprint IN ({marks})"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(|e| error(&self.path, e))?;
            let rows = stmt
                .query_map(params_from_iter(chunk.iter()), |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(|e| error(&self.path, e))?;
            for row in rows {
                let (fp, reply) = row.map_err(|e| error(&self.path, e))?;
                found.insert(fp, reply);
            }
        }
        Ok(found)
    }

    /// Queues one call for writing; it is committed within [`COMMIT_WINDOW`], and visible to
    /// lookups at once.
    pub fn put(&self, record: Record) {
        if let Some(reply) = &record.reply
            && let Ok(mut pending) = self.pending.lock()
        {
            pending.insert(record.fingerprint.clone(), reply.clone());
        }
        if let Ok(guard) = self.sender.lock()
            && let Some(sender) = guard.as_ref()
        {
            let _ = sender.send(Message::Put(Box::new(record)));
        }
    }

    /// Waits until everything queued so far is committed; reports a write failure.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (ack, done) = mpsc::channel();
        if let Ok(guard) = self.sender.lock()
            && let Some(sender) = guard.as_ref()
            && sender.send(Message::Flush(ack)).is_ok()
        {
            let _ = done.recv();
        }
        match self.failure.lock().ok().and_then(|f| f.clone()) {
            Some(message) => Err(StoreError { path: self.path.display().to_string(), message }),
            None => Ok(()),
        }
    }

    /// Copies another store's answers into this one (a shard's, when shards are merged):
    /// what this store lacks, or holds only as an error, is taken; answers it has stay. Gives
    /// how many answers were copied. The other file is checked as [`Store::open`] checks and
    /// is only read.
    pub fn import(&self, other: &Path) -> Result<u64, StoreError> {
        self.flush()?;
        let theirs = Connection::open_with_flags(other, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| damaged(other, e))?;
        check(&theirs, other)?;
        drop(theirs);
        let conn = connect(&self.path)?;
        conn.execute("ATTACH DATABASE ?1 AS other", [other.display().to_string()])
            .map_err(|e| error(other, e))?;
        let copied = conn
            .execute(
                "INSERT INTO calls (fingerprint, service, request, reply, error, attempts, latency_ms, created_at)
                 SELECT fingerprint, service, request, reply, error, attempts, latency_ms, created_at
                 FROM other.calls WHERE reply IS NOT NULL ORDER BY id
                 ON CONFLICT(fingerprint) DO UPDATE SET
                     reply = excluded.reply, error = NULL, attempts = excluded.attempts,
                     latency_ms = excluded.latency_ms, created_at = excluded.created_at
                 WHERE calls.reply IS NULL",
                [],
            )
            .map_err(|e| error(other, e))?;
        conn.execute("DETACH DATABASE other", []).map_err(|e| error(other, e))?;
        Ok(copied as u64)
    }

    /// Records a batch the provider accepted: its id, the service (`label@endpoint`) and each
    /// request's fingerprint with its canonical JSON. Committed before this returns, so a run
    /// stopped from now on resumes the batch instead of submitting it again.
    pub fn add_batch(&self, id: &str, service: &str, items: &[(String, String)]) -> Result<(), StoreError> {
        let mut conn = connect(&self.path)?;
        let tx = conn.transaction().map_err(|e| error(&self.path, e))?;
        tx.execute(
            "INSERT OR IGNORE INTO batches (id, service, submitted_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![id, service, unix_secs()],
        )
        .map_err(|e| error(&self.path, e))?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR IGNORE INTO batch_items (batch, fingerprint, request) VALUES (?1, ?2, ?3)",
                )
                .map_err(|e| error(&self.path, e))?;
            for (fp, request) in items {
                insert.execute(rusqlite::params![id, fp, request]).map_err(|e| error(&self.path, e))?;
            }
        }
        tx.commit().map_err(|e| error(&self.path, e))
    }

    /// The batches of a service that have not ended, oldest first, each with its fingerprints.
    pub fn open_batches(&self, service: &str) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let conn = connect(&self.path)?;
        let mut stmt = conn
            .prepare(
                "SELECT b.id, i.fingerprint FROM batches b JOIN batch_items i ON i.batch = b.id
                 WHERE b.service = ?1 AND b.ended_at IS NULL ORDER BY b.submitted_at, b.id",
            )
            .map_err(|e| error(&self.path, e))?;
        let rows = stmt
            .query_map([service], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| error(&self.path, e))?;
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for row in rows {
            let (id, fp) = row.map_err(|e| error(&self.path, e))?;
            match out.last_mut() {
                Some((last, fps)) if *last == id => fps.push(fp),
                _ => out.push((id, vec![fp])),
            }
        }
        Ok(out)
    }

    /// The requests of a recorded batch, by fingerprint (their canonical JSON).
    pub fn batch_requests(&self, id: &str) -> Result<HashMap<String, String>, StoreError> {
        let conn = connect(&self.path)?;
        let mut stmt = conn
            .prepare("SELECT fingerprint, request FROM batch_items WHERE batch = ?1")
            .map_err(|e| error(&self.path, e))?;
        let rows = stmt
            .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| error(&self.path, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| error(&self.path, e))
    }

    /// Marks a batch ended (its answers are stored): later runs no longer poll it.
    pub fn close_batch(&self, id: &str, state: &str) -> Result<(), StoreError> {
        let conn = connect(&self.path)?;
        conn.execute(
            "UPDATE batches SET ended_at = ?2, state = ?3 WHERE id = ?1",
            rusqlite::params![id, unix_secs(), state],
        )
        .map_err(|e| error(&self.path, e))?;
        Ok(())
    }

    /// How many answers and errors the store holds.
    pub fn counts(&self) -> Result<StoreCounts, StoreError> {
        let conn = connect(&self.path)?;
        let count = |sql: &str| -> Result<u64, StoreError> {
            conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(|e| error(&self.path, e))
        };
        Ok(StoreCounts {
            answers: count("SELECT COUNT(*) FROM calls WHERE reply IS NOT NULL")?,
            errors: count("SELECT COUNT(*) FROM calls WHERE reply IS NULL")?,
        })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Ok(mut guard) = self.sender.lock() {
            guard.take();
        }
        if let Ok(mut guard) = self.writer.lock()
            && let Some(handle) = guard.take()
        {
            let _ = handle.join();
        }
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|e| damaged(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| error(path, e))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 1000;",
    )
    .map_err(|e| damaged(path, e))?;
    Ok(conn)
}

/// Checks that a file is a sound multitrust store (or a new, empty file).
fn check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let verdict: String =
        conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(|e| damaged(path, e))?;
    if verdict != "ok" {
        return Err(damaged(path, format!("the integrity check found: {verdict}")));
    }
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .map_err(|e| damaged(path, e))?;
    let tables: Vec<String> =
        stmt.query_map([], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(|e| damaged(path, e))?;
    if tables.is_empty() {
        return Ok(());
    }
    let foreign = |why: String| StoreError {
        path: path.display().to_string(),
        message: format!(
            "{why}: this file is not a multitrust response store. Point --store at another file (or \
             leave it out to use <run directory>/store.sqlite)"
        ),
    };
    if tables.iter().any(|t| t == "meta") {
        let format: Option<String> =
            conn.query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| r.get(0)).ok();
        if format.as_deref() != Some("multitrust-store") {
            return Err(foreign(format!("its meta table says format {format:?}")));
        }
    }
    if !tables.iter().any(|t| t == "calls") {
        return Err(foreign(format!("it holds the tables {}", tables.join(", "))));
    }
    let mut stmt = conn.prepare("PRAGMA table_info(calls)").map_err(|e| damaged(path, e))?;
    let columns: Vec<String> =
        stmt.query_map([], |r| r.get(1)).and_then(|rows| rows.collect()).map_err(|e| damaged(path, e))?;
    if columns != CALLS_COLUMNS {
        return Err(foreign(format!("its calls table has the columns {}", columns.join(", "))));
    }
    Ok(())
}

fn error(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError {
        path: path.display().to_string(),
        message: format!("{e} (is the folder writable, and the file a multitrust store?)"),
    }
}

/// A store that cannot be read as a sound SQLite file.
fn damaged(path: &Path, e: impl std::fmt::Display) -> StoreError {
    let shown = path.display();
    StoreError {
        path: shown.to_string(),
        message: format!(
            "the file is damaged or not a SQLite database ({e}). Nothing was sent. Use another \
             --store, or recover what it holds with `sqlite3 {shown} .recover | sqlite3 recovered.sqlite` \
             and pass --store recovered.sqlite"
        ),
    }
}

/// A name for this process in the claims table: host, process id and start time.
fn holder_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{host}:{}:{nanos}", std::process::id())
}

/// Whether a holder ran on this machine (the same host as `me`) in a process that no longer
/// exists. Where processes cannot be looked up (no `/proc`), nobody is taken for dead: the
/// lease decides.
fn dead_here(other: &str, me: &str) -> bool {
    let host = |h: &str| h.rsplitn(3, ':').nth(2).map(str::to_string);
    let pid = other.rsplit(':').nth(1).and_then(|p| p.parse::<u32>().ok());
    match (host(other), host(me), pid) {
        (Some(a), Some(b), Some(pid)) if a == b && pid != std::process::id() => {
            Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

fn unix_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn write_loop(
    mut conn: Connection,
    receiver: mpsc::Receiver<Message>,
    failure: Arc<Mutex<Option<String>>>,
    pending: Arc<Mutex<HashMap<String, String>>>,
    holder: String,
    shown: String,
) {
    let mut renewed = Instant::now();
    let mut holding = false;
    loop {
        let first = match receiver.recv_timeout(RENEW) {
            Ok(message) => Some(message),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if holding && renewed.elapsed() >= RENEW {
            let until = unix_secs() + LEASE.as_secs() as i64;
            let _ = conn.execute(
                "UPDATE claims SET expires_at = ?1 WHERE holder = ?2",
                rusqlite::params![until, holder],
            );
            renewed = Instant::now();
        }
        let Some(first) = first else { continue };
        if matches!(first, Message::Put(_) | Message::Claim(..)) {
            // Sleeping (rather than waiting on the channel) lets senders queue answers and
            // claims without waking this thread for each one.
            std::thread::sleep(COMMIT_WINDOW);
        }
        let mut batch = vec![first];
        while batch.len() < 4096 {
            match receiver.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let now = unix_secs();
        let mut claims: Vec<(tokio::sync::oneshot::Sender<Claim>, Claim)> = Vec::new();
        let result = (|| -> rusqlite::Result<()> {
            // Immediate: the write lock is taken (waiting up to the busy timeout) before the
            // first read. A deferred transaction that reads and then writes fails at once
            // ("database is locked") when another process wrote in between, with no wait.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut upsert = tx.prepare_cached(UPSERT)?;
                let mut release =
                    tx.prepare_cached("DELETE FROM claims WHERE fingerprint = ?1 AND holder = ?2")?;
                for message in &batch {
                    if let Message::Put(r) = message {
                        upsert.execute(rusqlite::params![
                            r.fingerprint,
                            r.service,
                            r.request,
                            r.reply,
                            r.error,
                            r.attempts,
                            r.latency_ms as i64,
                            now
                        ])?;
                        release.execute(rusqlite::params![r.fingerprint, holder])?;
                    }
                }
                let mut answered = tx
                    .prepare_cached("SELECT reply FROM calls WHERE fingerprint = ?1 AND reply IS NOT NULL")?;
                let mut claim = tx.prepare_cached(CLAIM)?;
                let until = now + LEASE.as_secs() as i64;
                for message in std::mem::take(&mut batch) {
                    match message {
                        Message::Claim(fp, reply) => {
                            let stored: Option<String> =
                                answered.query_row([&fp], |r| r.get(0)).map(Some).or_else(|e| match e {
                                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                                    e => Err(e),
                                })?;
                            let outcome = match stored {
                                Some(json) => Claim::Answered(json),
                                None if claim.execute(rusqlite::params![fp, holder, until, now])? == 1 => {
                                    holding = true;
                                    Claim::Claimed
                                }
                                None => {
                                    // A holder on this machine whose process is gone (killed)
                                    // releases its claims at once rather than when they lapse.
                                    let other: String = tx
                                        .query_row(
                                            "SELECT holder FROM claims WHERE fingerprint = ?1",
                                            [&fp],
                                            |r| r.get(0),
                                        )
                                        .unwrap_or_default();
                                    if dead_here(&other, &holder)
                                        && tx.execute(
                                            "UPDATE claims SET holder = ?1, expires_at = ?2 WHERE fingerprint = ?3 AND holder = ?4",
                                            rusqlite::params![holder, until, fp, other],
                                        )? == 1
                                    {
                                        holding = true;
                                        Claim::Claimed
                                    } else {
                                        Claim::Held
                                    }
                                }
                            };
                            claims.push((reply, outcome));
                        }
                        other => batch.push(other),
                    }
                }
            }
            tx.commit()
        })();
        match result {
            Ok(()) => {
                if let Ok(mut pending) = pending.lock() {
                    for message in &batch {
                        if let Message::Put(r) = message {
                            pending.remove(&r.fingerprint);
                        }
                    }
                }
                for (reply, outcome) in claims {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!("response store {shown}: cannot write: {e}");
                if let Ok(mut f) = failure.lock() {
                    *f = Some(format!("cannot write: {e}"));
                }
                // Without a claim table that works, send rather than wait for nobody.
                for (reply, _) in claims {
                    let _ = reply.send(Claim::Claimed);
                }
            }
        }
        for message in batch {
            if let Message::Flush(ack) = message {
                let _ = ack.send(());
            }
        }
    }
    let _ = conn.execute("DELETE FROM claims WHERE holder = ?1", [&holder]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fp: &str, reply: Option<&str>, error: Option<&str>) -> Record {
        Record {
            fingerprint: fp.into(),
            service: "openai:m".into(),
            request: "{}".into(),
            reply: reply.map(str::to_string),
            error: error.map(str::to_string),
            attempts: 1,
            latency_ms: 3,
        }
    }

    #[test]
    fn answers_persist_errors_do_not_count_and_successes_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s/store.sqlite");
        {
            let store = Store::open(&path).unwrap();
            store.put(record("a", Some("\"A\""), None));
            store.put(record("b", None, Some("HTTP 500")));
            store.flush().unwrap();
            assert_eq!(store.counts().unwrap(), StoreCounts { answers: 1, errors: 1 });
        }
        let store = Store::open(&path).unwrap();
        let hits = store.lookup(&["a".into(), "b".into(), "c".into()]).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits["a"], "\"A\"");
        store.put(record("b", Some("\"B\""), None));
        store.put(record("a", None, Some("later failure")));
        store.flush().unwrap();
        let hits = store.lookup(&["a".into(), "b".into()]).unwrap();
        assert_eq!((hits["a"].as_str(), hits["b"].as_str()), ("\"A\"", "\"B\""));
    }

    #[test]
    fn answers_are_visible_before_they_are_committed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("x.sqlite")).unwrap();
        store.put(record("fresh", Some("\"F\""), None));
        let hits = store.lookup(&["fresh".into()]).unwrap();
        assert_eq!(hits["fresh"], "\"F\"", "seen at once, committed or not");
        store.flush().unwrap();
        assert_eq!(store.lookup(&["fresh".into()]).unwrap()["fresh"], "\"F\"");
        assert!(store.pending.lock().unwrap().is_empty(), "committed answers leave the queue");
    }

    #[test]
    fn many_lookups_span_chunks() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("x.sqlite")).unwrap();
        let fps: Vec<String> = (0..1000).map(|i| format!("fp{i}")).collect();
        for fp in &fps {
            store.put(record(fp, Some("1"), None));
        }
        store.flush().unwrap();
        assert_eq!(store.lookup(&fps).unwrap().len(), 1000);
    }

    #[test]
    fn a_damaged_or_foreign_file_is_refused_with_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let garbage = tmp.path().join("garbage.sqlite");
        std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
        let err = Store::open(&garbage).unwrap_err().to_string();
        assert!(
            err.contains("garbage.sqlite") && err.contains("damaged") && err.contains(".recover"),
            "{err}"
        );

        let foreign = tmp.path().join("foreign.sqlite");
        Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE users (name TEXT);").unwrap();
        let err = Store::open(&foreign).unwrap_err().to_string();
        assert!(err.contains("not a multitrust response store") && err.contains("users"), "{err}");

        // A store cut short: the integrity check sees it.
        let good = tmp.path().join("good.sqlite");
        {
            let store = Store::open(&good).unwrap();
            for i in 0..2000 {
                store.put(record(&format!("fp{i}"), Some(&format!("\"{}\"", "x".repeat(200))), None));
            }
            store.flush().unwrap();
        }
        let conn = Connection::open(&good).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        drop(conn);
        let bytes = std::fs::read(&good).unwrap();
        std::fs::write(&good, &bytes[..bytes.len() / 2]).unwrap();
        let _ = std::fs::remove_file(good.with_extension("sqlite-wal"));
        let err = Store::open(&good).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
    }

    #[tokio::test]
    async fn claims_keep_two_stores_from_sending_the_same_request() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("shared.sqlite");
        let a = Store::open(&path).unwrap();
        let b = Store::open(&path).unwrap();
        assert_ne!(a.holder(), b.holder());
        assert_eq!(a.claim("fp").await, Claim::Claimed);
        assert_eq!(a.claim("fp").await, Claim::Claimed, "a holder may claim again");
        assert_eq!(b.claim("fp").await, Claim::Held);
        a.put(record("fp", Some("\"A\""), None));
        a.flush().unwrap();
        assert_eq!(b.claim("fp").await, Claim::Answered("\"A\"".into()));
        // A failed request releases its claim: the other may try.
        assert_eq!(a.claim("bad").await, Claim::Claimed);
        a.put(record("bad", None, Some("HTTP 500")));
        a.flush().unwrap();
        assert_eq!(b.claim("bad").await, Claim::Claimed);
        // A claim whose lease ran out (its holder died) can be taken.
        assert_eq!(a.claim("lapsed").await, Claim::Claimed);
        Connection::open(&path)
            .unwrap()
            .execute("UPDATE claims SET expires_at = 0 WHERE fingerprint = 'lapsed'", [])
            .unwrap();
        assert_eq!(b.claim("lapsed").await, Claim::Claimed);
        // A holder on this machine whose process is gone gives its claims up at once.
        let host = a.holder().rsplitn(3, ':').nth(2).unwrap().to_string();
        Connection::open(&path)
            .unwrap()
            .execute(
                "INSERT INTO claims VALUES ('orphan', ?1, ?2)",
                rusqlite::params![format!("{host}:4000000000:1"), unix_secs() + 3600],
            )
            .unwrap();
        assert_eq!(a.claim("orphan").await, Claim::Claimed);
        // Dropping a store releases what it holds.
        drop(b);
        assert_eq!(a.claim("bad").await, Claim::Claimed);
    }
}
