//! The store: one directory that several processes use at once, with no server.
//!
//! ```text
//! <dir>/index.sqlite      key -> (digest, size, last use, small value inline), WAL mode
//! <dir>/objects/ab/<hex>  large values, named by their blake3 digest (so shared by keys)
//! <dir>/tmp/              values being written: written, synced, then renamed into objects/
//! ```
//!
//! Crash safety: an object is complete before it is renamed into place, and a row is
//! committed only after its object is in place, so a run killed at any point leaves either
//! no entry or a whole one (and at worst a stray temporary file or an unreferenced object,
//! which [`Store::gc`] removes). Every read is checked against the digest in its row: bytes
//! that do not match (a flipped bit, a truncated file, a missing object) are a miss, and the
//! row is deleted so the next result replaces it; a wrong value is never returned.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::cache::error::CacheError;
use crate::cache::key::Key;
use crate::cache::DEFAULT_LIMIT;

/// Values up to this size live in their index row: one SQLite read instead of a file open,
/// and no file per small value (MerkL draws the line at 100 kB; CACHING.md measured 64 KiB).
const INLINE_MAX: usize = 64 * 1024;

/// How long a writer may wait for another process's transaction. Writes are short (one
/// row), so this is only reached when a process is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Eviction is checked after this many writes, not after every one: summing the sizes
/// reads the whole index.
const EVICT_CHECK_EVERY: u64 = 64;

/// Temporary files older than this are left over by a killed writer; younger ones may
/// belong to a run in progress.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// An object no entry refers to is removed by `gc` only past this age: a writer renames
/// its object in before it commits the row that refers to it.
const ORPHAN_AGE: Duration = Duration::from_secs(60);

/// One connection to a store directory.
///
/// Cheap to open; each thread that reads or writes opens its own (a connection is `Send`
/// but not `Sync`). Any number of connections, in any number of processes, may use one
/// directory at once.
///
/// ```
/// use skorche_core::cache::Store;
///
/// let dir = std::env::temp_dir().join(format!("skorche-store-doc-{}", std::process::id()));
/// let mut store = Store::open(&dir)?;
/// let key = store.key_of(b"some input");
/// assert_eq!(store.get(&key)?, None);
/// store.put(&key, b"its result")?;
/// assert_eq!(store.get(&key)?.as_deref(), Some(&b"its result"[..]));
/// assert_eq!(store.stats()?.entries, 1);
/// store.clear()?;
/// assert_eq!(store.stats()?.entries, 0);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), skorche_core::cache::CacheError>(())
/// ```
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    db: Connection,
    limit: u64,
    writes: u64,
}

/// What a store holds, from [`Store::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StoreStats {
    /// Entries in the index.
    pub entries: u64,
    /// Bytes of values, summed over entries (a value shared by two keys counts twice).
    pub bytes: u64,
    /// Object files (values too large to sit in the index).
    pub objects: u64,
    /// The size limit.
    pub limit: u64,
}

/// What [`Store::gc`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct GcStats {
    /// Entries evicted (least recently used first) to get under the limit.
    pub evicted: u64,
    /// Entries whose object file was missing or damaged.
    pub damaged: u64,
    /// Object and temporary files no entry referred to.
    pub files: u64,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, with the default size limit.
    ///
    /// # Errors
    /// If the directory cannot be created or the index cannot be opened.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, CacheError> {
        Store::open_with_limit(dir, DEFAULT_LIMIT)
    }

    /// Opens the store in `dir`, evicting least recently used entries past `limit` bytes.
    ///
    /// # Errors
    /// If the directory cannot be created or the index cannot be opened.
    pub fn open_with_limit(dir: impl AsRef<Path>, limit: u64) -> Result<Store, CacheError> {
        let dir = dir.as_ref().to_path_buf();
        for sub in ["objects", "tmp"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).map_err(|source| CacheError::Io { path, source })?;
        }
        let path = dir.join("index.sqlite");
        let index = |source| CacheError::Index {
            path: path.clone(),
            source,
        };
        let db = Connection::open(&path).map_err(index)?;
        db.busy_timeout(BUSY_TIMEOUT).map_err(index)?;
        // Two processes opening a new store at once can meet a lock SQLite does not wait
        // for (switching the journal mode, upgrading a read to a write): that attempt fails
        // at once with "database is locked", so the setup is tried again for a while.
        let deadline = Instant::now() + BUSY_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            match set_up(&db) {
                Ok(()) => break,
                Err(e) if is_busy(&e) && Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(index(e)),
            }
        }
        Ok(Store {
            dir,
            db,
            limit,
            writes: 0,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The blake3 digest of `bytes`: the key a value would be stored under by content.
    pub fn key_of(&self, bytes: &[u8]) -> Key {
        Key::digest(bytes)
    }

    fn index_err(&self) -> impl Fn(rusqlite::Error) -> CacheError + '_ {
        move |source| CacheError::Index {
            path: self.dir.join("index.sqlite"),
            source,
        }
    }

    fn object_path(&self, digest: &Key) -> PathBuf {
        let hex = digest.to_hex();
        self.dir.join("objects").join(&hex[..2]).join(hex)
    }

    /// The value stored under `key`, checked against its digest; `None` if there is none or
    /// its bytes are damaged (then the entry is removed, to be replaced).
    ///
    /// # Errors
    /// If the index cannot be read.
    pub fn get(&mut self, key: &Key) -> Result<Option<Vec<u8>>, CacheError> {
        let row: Option<(Vec<u8>, Option<Vec<u8>>)> = self
            .db
            .query_row(
                "SELECT digest, inline FROM entries WHERE key = ?1",
                params![&key.0[..]],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.index_err())?;
        let Some((digest, inline)) = row else {
            return Ok(None);
        };
        let bytes = match inline {
            Some(bytes) => Some(bytes),
            None => {
                let digest = Key(digest.as_slice().try_into().unwrap_or([0; 32]));
                fs::read(self.object_path(&digest)).ok()
            }
        };
        match bytes {
            Some(bytes) if Key::digest(&bytes).0[..] == digest[..] => {
                self.db
                    .execute(
                        "UPDATE entries SET last_used = ?2 WHERE key = ?1",
                        params![&key.0[..], now_ns()],
                    )
                    .map_err(self.index_err())?;
                Ok(Some(bytes))
            }
            _ => {
                tracing::warn!(key = ?key, dir = %self.dir.display(), "damaged cache entry: treated as a miss");
                self.db
                    .execute("DELETE FROM entries WHERE key = ?1", params![&key.0[..]])
                    .map_err(self.index_err())?;
                Ok(None)
            }
        }
    }

    /// Stores `value` under `key`, replacing what was there.
    ///
    /// # Errors
    /// If the value's file or the index cannot be written.
    pub fn put(&mut self, key: &Key, value: &[u8]) -> Result<(), CacheError> {
        let digest = Key::digest(value);
        let inline = if value.len() <= INLINE_MAX {
            Some(value)
        } else {
            self.write_object(&digest, value)?;
            None
        };
        self.db
            .execute(
                "INSERT OR REPLACE INTO entries (key, digest, size, inline, last_used)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    &key.0[..],
                    &digest.0[..],
                    value.len() as i64,
                    inline,
                    now_ns()
                ],
            )
            .map_err(self.index_err())?;
        self.writes += 1;
        if self.writes % EVICT_CHECK_EVERY == 0 {
            self.evict()?;
        }
        Ok(())
    }

    /// Writes an object under a unique temporary name, syncs it and renames it into place:
    /// readers see the whole file or none. Written even if it exists, so that a concurrent
    /// `gc` that removed it between our check and our commit cannot leave a dangling row.
    fn write_object(&self, digest: &Key, value: &[u8]) -> Result<(), CacheError> {
        let target = self.object_path(digest);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CacheError::Io { path, source }
        };
        let parent = target.parent().expect("objects have a parent directory");
        fs::create_dir_all(parent).map_err(io(parent))?;
        let tmp = self.dir.join("tmp").join(format!(
            "{}.{}.{:?}",
            digest.to_hex(),
            std::process::id(),
            std::thread::current().id()
        ));
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(value).map_err(io(&tmp))?;
        f.sync_data().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, &target).map_err(io(&target))
    }

    /// Removes least recently used entries until the values fit the limit, and the objects
    /// they alone referred to. Returns how many entries went.
    fn evict(&mut self) -> Result<u64, CacheError> {
        let index = self.dir.join("index.sqlite");
        let err = |source| CacheError::Index {
            path: index.clone(),
            source,
        };
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let total: i64 = tx
            .query_row("SELECT COALESCE(SUM(size), 0) FROM entries", [], |r| {
                r.get(0)
            })
            .map_err(err)?;
        let mut excess = total - self.limit as i64;
        let mut victims: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::new();
        if excess > 0 {
            let mut q = tx
                .prepare("SELECT key, digest, size, inline IS NULL FROM entries ORDER BY last_used")
                .map_err(err)?;
            let mut rows = q.query([]).map_err(err)?;
            while excess > 0 {
                let Some(r) = rows.next().map_err(err)? else {
                    break;
                };
                let size: i64 = r.get(2).map_err(err)?;
                excess -= size;
                victims.push((
                    r.get(0).map_err(err)?,
                    r.get(1).map_err(err)?,
                    r.get(3).map_err(err)?,
                ));
            }
        }
        let mut orphans = Vec::new();
        for (key, digest, is_object) in &victims {
            tx.execute("DELETE FROM entries WHERE key = ?1", params![key])
                .map_err(err)?;
            if *is_object {
                let still: bool = tx
                    .query_row(
                        "SELECT EXISTS(SELECT 1 FROM entries WHERE digest = ?1)",
                        params![digest],
                        |r| r.get(0),
                    )
                    .map_err(err)?;
                if !still {
                    orphans.push(Key(digest.as_slice().try_into().unwrap_or([0; 32])));
                }
            }
        }
        // Removed under the write lock, so no writer commits a row for them meanwhile; a
        // writer that renamed one in just before still commits and finds it gone on its
        // next read: a miss, never a wrong value.
        for digest in &orphans {
            let hex = digest.to_hex();
            let _ = fs::remove_file(self.dir.join("objects").join(&hex[..2]).join(hex));
        }
        tx.commit().map_err(err)?;
        if !victims.is_empty() {
            tracing::debug!(evicted = victims.len(), "cache eviction");
        }
        Ok(victims.len() as u64)
    }

    /// Evicts down to the limit, drops entries whose object is missing or damaged, and
    /// removes files no entry refers to (objects, and temporary files a killed writer left).
    ///
    /// # Errors
    /// If the index or the directory cannot be read or written.
    pub fn gc(&mut self) -> Result<GcStats, CacheError> {
        let mut stats = GcStats {
            evicted: self.evict()?,
            ..GcStats::default()
        };
        let objects: Vec<(Vec<u8>, Vec<u8>)> = {
            let mut q = self
                .db
                .prepare("SELECT key, digest FROM entries WHERE inline IS NULL")
                .map_err(self.index_err())?;
            let rows = q
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(self.index_err())?;
            rows.collect::<Result<_, _>>().map_err(self.index_err())?
        };
        let mut live = std::collections::HashSet::new();
        for (key, digest) in objects {
            let digest = Key(digest.as_slice().try_into().unwrap_or([0; 32]));
            let ok = fs::read(self.object_path(&digest))
                .map(|b| Key::digest(&b) == digest)
                .unwrap_or(false);
            if ok {
                live.insert(digest.to_hex());
            } else {
                stats.damaged += 1;
                self.db
                    .execute("DELETE FROM entries WHERE key = ?1", params![key])
                    .map_err(self.index_err())?;
            }
        }
        for shard in read_dir(&self.dir.join("objects"))? {
            for file in read_dir(&shard)? {
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if !live.contains(name) && is_stale(&file, ORPHAN_AGE) {
                    stats.files += u64::from(fs::remove_file(&file).is_ok());
                }
            }
        }
        for file in read_dir(&self.dir.join("tmp"))? {
            if is_stale(&file, STALE_TMP) {
                stats.files += u64::from(fs::remove_file(&file).is_ok());
            }
        }
        Ok(stats)
    }

    /// Removes every entry and every file of the store (the directory stays).
    ///
    /// # Errors
    /// If the index or the directory cannot be written.
    pub fn clear(&mut self) -> Result<(), CacheError> {
        self.db
            .execute_batch("DELETE FROM entries; DELETE FROM files;")
            .map_err(self.index_err())?;
        for sub in ["objects", "tmp"] {
            let path = self.dir.join(sub);
            fs::remove_dir_all(&path)
                .and_then(|()| fs::create_dir_all(&path))
                .map_err(|source| CacheError::Io { path, source })?;
        }
        Ok(())
    }

    /// What the store holds.
    ///
    /// # Errors
    /// If the index cannot be read.
    pub fn stats(&self) -> Result<StoreStats, CacheError> {
        let (entries, bytes, objects): (i64, i64, i64) = self
            .db
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), COUNT(DISTINCT CASE WHEN inline IS NULL THEN digest END) FROM entries",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.index_err())?;
        Ok(StoreStats {
            entries: entries as u64,
            bytes: bytes as u64,
            objects: objects as u64,
            limit: self.limit,
        })
    }

    /// The blake3 digest of the file at `path`'s content, read again only when its size or
    /// modification time changed since the store last hashed it.
    ///
    /// # Errors
    /// If the file cannot be read, or the index cannot be read or written.
    pub fn file_digest(&mut self, path: &Path) -> Result<Key, CacheError> {
        let io = |source| CacheError::Io {
            path: path.to_path_buf(),
            source,
        };
        let path = fs::canonicalize(path).map_err(io)?;
        let meta = fs::metadata(&path).map_err(io)?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64);
        let name = path.to_string_lossy().into_owned();
        let known: Option<Vec<u8>> = self
            .db
            .query_row(
                "SELECT digest FROM files WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3",
                params![name, meta.len() as i64, mtime],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.index_err())?;
        if let Some(d) = known.and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok()) {
            return Ok(Key(d));
        }
        let digest = Key::digest(&fs::read(&path).map_err(io)?);
        self.db
            .execute(
                "INSERT OR REPLACE INTO files (path, size, mtime_ns, digest) VALUES (?1, ?2, ?3, ?4)",
                params![name, meta.len() as i64, mtime, &digest.0[..]],
            )
            .map_err(self.index_err())?;
        Ok(digest)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, CacheError> {
    let entries = fs::read_dir(dir).map_err(|source| CacheError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
}

/// Whether `file` was last modified more than `age` ago.
fn is_stale(file: &Path, age: Duration) -> bool {
    fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|e| e >= age)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Puts a newly opened index in WAL mode and creates its tables if they do not exist.
fn set_up(db: &Connection) -> rusqlite::Result<()> {
    // WAL: readers never block the writer nor each other, across processes. The mode is
    // kept in the file: only the store's first opening switches it.
    let mode: String = db.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        db.pragma_update(None, "journal_mode", "WAL")?;
    }
    // synchronous=NORMAL: a commit survives a killed process (not a power loss, after which
    // the index may lose its last commits, never its consistency).
    db.pragma_update(None, "synchronous", "NORMAL")?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS entries (
             key BLOB PRIMARY KEY,
             digest BLOB NOT NULL,
             size INTEGER NOT NULL,
             inline BLOB,
             last_used INTEGER NOT NULL
         );
         CREATE INDEX IF NOT EXISTS entries_last_used ON entries(last_used);
         CREATE INDEX IF NOT EXISTS entries_digest ON entries(digest);
         CREATE TABLE IF NOT EXISTS files (
             path TEXT PRIMARY KEY,
             size INTEGER NOT NULL,
             mtime_ns INTEGER NOT NULL,
             digest BLOB NOT NULL
         );",
    )
}

/// Whether SQLite gave up on a lock held by another connection.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
