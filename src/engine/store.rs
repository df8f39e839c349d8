//! The response store: every answer from every model, judge and classifier, keyed by the
//! fingerprint of the request that produced it.
//!
//! SQLite in WAL mode. One writer thread owns the writing connection and commits answers within
//! [`COMMIT_WINDOW`] of their arrival (answers that arrive within the window share a
//! transaction, which keeps the cost per answer low under load), so a killed run loses at most
//! the requests in flight and the last few milliseconds of answers. Errors are stored as errors
//! and do not count as answers: the next run sends those requests again. A success is never
//! overwritten.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params_from_iter};

/// A store problem, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("response store {path}: {message}")]
pub struct StoreError {
    path: String,
    message: String,
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

const UPSERT: &str = "
INSERT INTO calls (fingerprint, service, request, reply, error, attempts, latency_ms, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT(fingerprint) DO UPDATE SET
    reply = excluded.reply, error = excluded.error, attempts = excluded.attempts,
    latency_ms = excluded.latency_ms, created_at = excluded.created_at
WHERE calls.reply IS NULL";

impl Store {
    /// Opens (or creates) a store file and starts its writer.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| error(path, e))?;
        }
        let conn = connect(path)?;
        conn.execute_batch(SCHEMA).map_err(|e| error(path, e))?;
        let (sender, receiver) = mpsc::channel();
        let failure = Arc::new(Mutex::new(None));
        let pending = Arc::new(Mutex::new(HashMap::new()));
        let (writer_failure, writer_pending) = (failure.clone(), pending.clone());
        let shown = path.display().to_string();
        let writer = std::thread::Builder::new()
            .name("multitrust-store".into())
            .spawn(move || write_loop(conn, receiver, writer_failure, writer_pending, shown))
            .map_err(|e| error(path, e))?;
        Ok(Store {
            path: path.to_path_buf(),
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            failure,
            pending,
        })
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
    let conn = Connection::open(path).map_err(|e| error(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| error(path, e))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 4000;",
    )
    .map_err(|e| error(path, e))?;
    Ok(conn)
}

fn error(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError {
        path: path.display().to_string(),
        message: format!("{e} (is the folder writable, and the file a multitrust store?)"),
    }
}

fn write_loop(
    mut conn: Connection,
    receiver: mpsc::Receiver<Message>,
    failure: Arc<Mutex<Option<String>>>,
    pending: Arc<Mutex<HashMap<String, String>>>,
    shown: String,
) {
    while let Ok(first) = receiver.recv() {
        if matches!(first, Message::Put(_)) {
            // Sleeping (rather than waiting on the channel) lets senders queue answers without
            // waking this thread for each one.
            std::thread::sleep(COMMIT_WINDOW);
        }
        let mut batch = vec![first];
        while batch.len() < 4096 {
            match receiver.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(UPSERT)?;
                for message in &batch {
                    if let Message::Put(r) = message {
                        stmt.execute(rusqlite::params![
                            r.fingerprint,
                            r.service,
                            r.request,
                            r.reply,
                            r.error,
                            r.attempts,
                            r.latency_ms as i64,
                            now as i64
                        ])?;
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
            }
            Err(e) => {
                tracing::error!("response store {shown}: cannot write: {e}");
                if let Ok(mut f) = failure.lock() {
                    *f = Some(format!("cannot write: {e}"));
                }
            }
        }
        for message in batch {
            if let Message::Flush(ack) = message {
                let _ = ack.send(());
            }
        }
    }
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
}
