//! The write worker: one connection on a thread of its own; calls queue for it and the
//! calls found waiting together commit in one transaction (group commit).

use super::*;

/// A call waiting for the connection: it runs, then says how to answer its caller once
/// the transaction it ran in is over.
pub(super) type Job = Box<dyn FnOnce(&mut Connection) -> Answer + Send>;
/// Answers a caller: with its result once its writes are committed, or with the error that
/// undid them.
pub(super) type Answer = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;

/// Calls run together in one transaction at most.
pub(super) const GROUP_LIMIT: usize = 128;

/// A call in the queue; one `alone` runs outside any transaction, after the group before
/// it has committed (a WAL checkpoint cannot run inside one).
pub(super) struct Queued {
    job: Job,
    alone: bool,
}

/// The connection's thread and the queue to it; dropping the last handle closes the
/// connection (checkpointing the WAL) before it returns.
pub(super) struct Worker {
    jobs: Option<mpsc::Sender<Queued>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            // The thread only ends once the queue is closed; a panic there was already
            // answered to its callers.
            let _ = thread.join();
        }
    }
}

impl SqliteStore {
    /// Open (creating if needed) the database file and bring its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Overwrite what a change removes, so an erased contact's data does not linger in
        // free pages of the file.
        conn.pragma_update(None, "secure_delete", "ON")?;
        // Room for the busy pages of a large audience (negative: KiB), and a WAL that is
        // copied back less often: each copy writes a hot page once, however often it changed.
        conn.pragma_update(None, "cache_size", -32 * 1024)?;
        conn.pragma_update(None, "wal_autocheckpoint", 8000)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        migrations::migrate(&mut conn)?;
        let (jobs, queue) = mpsc::channel::<Queued>();
        let thread = std::thread::Builder::new()
            .name("outreach-sqlite".into())
            .spawn(move || serve(conn, queue))
            .map_err(|e| {
                failure(
                    rusqlite::ffi::SQLITE_CANTOPEN,
                    format!("cannot start the store's thread: {e}"),
                )
            })?;
        Ok(Self {
            worker: Arc::new(Worker {
                jobs: Some(jobs),
                thread: Some(thread),
            }),
            subtrees: Arc::default(),
            year_tallies: Arc::default(),
        })
    }

    /// The schema version this build migrates to.
    pub fn latest_schema_version() -> usize {
        migrations::latest_version()
    }

    /// The journal mode of the open database (`wal` once opened by this store).
    pub async fn journal_mode(&self) -> CoreResult<String> {
        self.call(|c| Ok(c.pragma_query_value(None, "journal_mode", |r| r.get::<_, String>(0))?))
            .await
    }

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> CoreResult<usize> {
        self.call(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize))
            .await
    }

    /// Run blocking SQLite work on the connection's thread, off the async runtime.
    pub(super) async fn call<T, F>(&self, f: F) -> CoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.queue(f, false).await
    }

    /// Like `call`, outside any transaction: after the calls queued before it have
    /// committed, and before any queued after it.
    pub(super) async fn call_alone<T, F>(&self, f: F) -> CoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.queue(f, true).await
    }

    /// Copy the WAL back into the database file and truncate it to nothing, so that what a
    /// change overwrote (an erased contact's data) is left in no file: `secure_delete`
    /// has zeroed it in the database's pages, and the WAL's older frames are gone.
    pub(super) async fn checkpoint_truncate(&self) -> CoreResult<()> {
        let (busy, _, _) = self
            .call_alone(|c| {
                Ok(c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                })?)
            })
            .await?;
        if busy != 0 {
            // Another process reads the database: the WAL is truncated by a later erasure's
            // checkpoint, or when the last connection closes.
            tracing::warn!("the WAL could not be truncated after an erasure: another connection is reading");
        }
        Ok(())
    }

    async fn queue<T, F>(&self, f: F, alone: bool) -> CoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            Box::new(move |undone: Option<&rusqlite::Error>| {
                let result = match (result, undone) {
                    (Ok(_), Some(e)) => Err(StoreError::Sqlite(copy_error(e))),
                    (result, _) => result,
                };
                // A caller that went away no longer wants the answer.
                let _ = reply.send(result);
            })
        });
        let queued = self.worker.jobs.as_ref().map(|jobs| jobs.send(Queued { job, alone }));
        if !matches!(queued, Some(Ok(()))) {
            return Err(stopped().into());
        }
        answer.await.map_err(|_| stopped())?.map_err(CoreError::from)
    }
}

/// The connection's thread: take the calls waiting, run them, answer them.
pub(super) fn serve(mut conn: Connection, queue: mpsc::Receiver<Queued>) {
    let mut next: Option<Queued> = None;
    loop {
        let first = match next.take().map_or_else(|| queue.recv().ok(), Some) {
            Some(first) => first,
            None => return,
        };
        if first.alone {
            if let Some(answer) = run_one(&mut conn, first.job) {
                answer(None);
            }
            continue;
        }
        let mut group = vec![first.job];
        while group.len() < GROUP_LIMIT {
            match queue.try_recv() {
                Ok(queued) if queued.alone => {
                    next = Some(queued);
                    break;
                }
                Ok(queued) => group.push(queued.job),
                Err(_) => break,
            }
        }
        run_group(&mut conn, group);
    }
}

/// Run a group of calls in one transaction and answer each once it is committed. A call
/// alone runs by itself, exactly as it would without the group; so do the calls of a group
/// when the write lock cannot be had (another process holds it past the busy timeout).
pub(super) fn run_group(conn: &mut Connection, group: Vec<Job>) {
    if group.len() == 1 || conn.execute_batch("BEGIN IMMEDIATE").is_err() {
        for job in group {
            if let Some(answer) = run_one(conn, job) {
                answer(None);
            }
        }
        return;
    }
    let mut answers = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    while let Some(job) = jobs.next() {
        answers.push(run_one(conn, job));
        if conn.is_autocommit() {
            // SQLite rolled the transaction back (disk full, I/O error): what the group
            // wrote so far is undone, so are those calls; the rest run in a group of their own.
            let undone = failure(rusqlite::ffi::SQLITE_ABORT, "the transaction was rolled back".into());
            answers.into_iter().flatten().for_each(|answer| answer(Some(&undone)));
            let rest: Vec<Job> = jobs.collect();
            if !rest.is_empty() {
                run_group(conn, rest);
            }
            return;
        }
    }
    let committed = conn.execute_batch("COMMIT");
    if committed.is_err() && !conn.is_autocommit() {
        // Leave the connection usable for the next group; nothing of this one was kept.
        let _ = conn.execute_batch("ROLLBACK");
    }
    let undone = committed.err();
    answers.into_iter().flatten().for_each(|answer| answer(undone.as_ref()));
}

/// Run one call; a panic is caught here (it rolled back any savepoint it held) so the
/// connection's thread keeps serving, and its caller hears the store failed.
pub(super) fn run_one(conn: &mut Connection, job: Job) -> Option<Answer> {
    catch_unwind(AssertUnwindSafe(|| job(conn))).ok()
}

pub(super) fn failure(code: std::os::raw::c_int, message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some(message))
}

/// The store's thread did not answer a call: the call panicked there, or the thread is gone.
pub(super) fn stopped() -> StoreError {
    StoreError::Sqlite(failure(
        rusqlite::ffi::SQLITE_ABORT,
        "the store's connection thread stopped serving this call".into(),
    ))
}

/// The same error again, for each caller of a group that one error undid.
pub(super) fn copy_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => rusqlite::Error::SqliteFailure(*code, message.clone()),
        other => failure(rusqlite::ffi::SQLITE_ERROR, other.to_string()),
    }
}
