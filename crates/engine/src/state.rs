//! State: what empi-infra created, by address, with cloud ids and recorded
//! attributes; the local backend (atomic writes, a backup, a lock file); and the writer the executor
//! uses to record every finished operation at once.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::resource::Attrs;

/// Version of the state document's format.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// The state document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub format_version: u32,
    /// Incremented by every write.
    pub serial: u64,
    /// Fixed when the state is first created; a saved plan must match it.
    pub lineage: String,
    pub stack: String,
    pub resources: BTreeMap<String, ResourceState>,
    /// Facts about the stack that are not resources (e.g. one-time jobs that ran).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, serde_json::Value>,
    /// sha256 of the document without this field: a damaged file is detected, not trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// Where a resource's lifecycle stood when it was last recorded.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Intent recorded before the create call; the id may be unknown if the process died.
    Creating,
    Created,
    /// A delete was started.
    Deleting,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResourceState {
    pub kind: String,
    /// The deterministic cloud name it was created under.
    pub name: String,
    pub id: Option<String>,
    pub status: Status,
    /// Inputs as last applied or read (secrets never: see `resource::SENSITIVE`).
    pub attrs: Attrs,
    pub outputs: Attrs,
    pub depends_on: Vec<String>,
}

impl State {
    pub fn new(stack: &str) -> State {
        State {
            format_version: STATE_FORMAT_VERSION,
            serial: 0,
            lineage: uuid::Uuid::new_v4().to_string(),
            stack: stack.to_string(),
            resources: BTreeMap::new(),
            facts: BTreeMap::new(),
            checksum: None,
        }
    }

    /// The checksum of this document's content.
    pub fn content_checksum(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut copy = self.clone();
        copy.checksum = None;
        hex::encode(Sha256::digest(serde_json::to_vec(&copy).expect("state serialises")))
    }

    /// The document as written: pretty JSON with its checksum.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut sealed = self.clone();
        sealed.checksum = Some(self.content_checksum());
        let mut body = serde_json::to_vec_pretty(&sealed).expect("state serialises");
        body.push(b'\n');
        body
    }

    /// Parses and checks a state document (`location` and `backup` are for messages).
    pub fn from_bytes(
        bytes: &[u8],
        location: &Path,
        backup: &Path,
        stack: &str,
    ) -> Result<State, StateError> {
        let corrupt = |detail: String| StateError::Corrupt {
            path: location.to_path_buf(),
            detail,
            backup: backup.to_path_buf(),
        };
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
        let found = v
            .get("format_version")
            .and_then(|f| f.as_u64())
            .ok_or_else(|| corrupt("no format_version".into()))?;
        if found != STATE_FORMAT_VERSION as u64 {
            return Err(StateError::Version { path: location.to_path_buf(), found: found as u32 });
        }
        let mut state: State = serde_json::from_value(v).map_err(|e| corrupt(e.to_string()))?;
        // every document empi-infra writes carries its checksum: one without it was edited by hand
        // (or written by something else), and is not trusted any more than a wrong one
        let Some(sum) = state.checksum.take() else {
            return Err(corrupt("it has no checksum: it was edited by hand or written by something other than empi-infra".into()));
        };
        if sum != state.content_checksum() {
            return Err(corrupt(
                "its checksum does not match its content (edited by hand or damaged)".into(),
            ));
        }
        if state.stack != stack {
            return Err(StateError::WrongStack {
                path: location.to_path_buf(),
                found: state.stack,
                expected: stack.to_string(),
            });
        }
        Ok(state)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("state file {path} is damaged ({detail}); it was not changed. Rebuild it from the cloud with `empi-infra state rebuild` (it finds every resource by its name and tags, and writes nothing until you confirm); the backup {backup} may be older than the cloud, and apply adopts what it finds either way")]
    Corrupt { path: PathBuf, detail: String, backup: PathBuf },
    #[error("state file {path} has format version {found}, but this empi-infra reads version {STATE_FORMAT_VERSION}; use a matching empi-infra release")]
    Version { path: PathBuf, found: u32 },
    #[error("state file {path} belongs to stack {found:?}, not {expected:?}; check --stack")]
    WrongStack { path: PathBuf, found: String, expected: String },
    #[error("the state is locked by {holder}; wait for that run to finish, or if it is gone run `empi-infra state unlock {id}`")]
    Locked { holder: String, id: String },
    #[error("no lock {0} is held on this state")]
    NoSuchLock(String),
    #[error("the state lock {id} held by {holder} expired: its holder stopped renewing it (killed or disconnected); if that run is really gone, break the lock with `empi-infra state unlock {id}`")]
    LeaseExpired { holder: String, id: String },
    /// The lock this run held was lost: broken by someone else, or its lease passed unrenewed.
    #[error("this run no longer holds the state lock {id} ({why}), so it stopped before its next cloud call and writes no more state; what it finished is found by the next run by its names and tags: run `empi-infra plan` once the run that holds the state now has finished")]
    LockLost { id: String, why: String },
    /// The state was written by someone else since this run read or wrote it.
    #[error("the state at {location} was changed by another run ({detail}); nothing was overwritten and this run stopped before its next cloud call; what it finished is found by the next run by its names and tags: run `empi-infra plan` once the other run has finished")]
    Moved { location: String, detail: String },
    #[error("{0}")]
    Backend(String),
}

impl StateError {
    /// For an error that fences the state (the lock lost, the state moved), a copy of it: every
    /// later write and cloud call of the run is refused with it.
    pub fn fence(&self) -> Option<StateError> {
        match self {
            StateError::LockLost { id, why } => {
                Some(StateError::LockLost { id: id.clone(), why: why.clone() })
            }
            StateError::Moved { location, detail } => {
                Some(StateError::Moved { location: location.clone(), detail: detail.clone() })
            }
            _ => None,
        }
    }
}

/// Who holds a lock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockInfo {
    pub id: String,
    pub owner: String,
    pub host: String,
    pub pid: u32,
    pub operation: String,
    pub created: String,
    /// Until when the holder promises to renew the lock (S3 backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires: Option<String>,
}

impl LockInfo {
    /// Whether the process holding the lock is known to be gone: it ran on this host, and no
    /// process has its pid any more (a lock on another host cannot be judged from here).
    pub fn holder_gone(&self) -> bool {
        self.pid != 0
            && self.host == gethostname::gethostname().to_string_lossy()
            && !pid_alive(self.pid)
    }

    /// A lock document; an unreadable one still counts as held (by an unknown holder).
    pub fn parse(bytes: &[u8]) -> LockInfo {
        serde_json::from_slice(bytes).unwrap_or(LockInfo {
            id: "unreadable".into(),
            owner: "unknown".into(),
            host: "unknown".into(),
            pid: 0,
            operation: "unknown".into(),
            created: "unknown".into(),
            lease_expires: None,
        })
    }

    pub fn describe(&self) -> String {
        format!(
            "{}@{} (pid {}, `{}`, since {})",
            self.owner, self.host, self.pid, self.operation, self.created
        )
    }
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io { action, path: path.to_path_buf(), source }
}

/// The local state backend: `<dir>/<stack>.json`, its `.backup`, and `<stack>.lock`.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    pub path: PathBuf,
    stack: String,
    /// Journal entries since the last full write.
    journaled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The document this backend last read or wrote: a save over another one is refused.
    seen: std::sync::Arc<std::sync::Mutex<Seen>>,
}

/// What a backend last found at its state's place.
#[derive(Debug, Clone, Default, PartialEq)]
enum Seen {
    /// Neither read nor written yet.
    #[default]
    Unknown,
    /// There was no document.
    Absent,
    /// A document of this lineage.
    Lineage(String),
}

/// After this many journal entries (or as many as there are resources) the journal is folded into
/// the document.
pub const COMPACT_EVERY: usize = 512;

/// One line of `<stack>.journal`: the entry of one address after an operation (none: removed).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JournalEntry {
    serial: u64,
    address: String,
    resource: Option<ResourceState>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    facts: BTreeMap<String, serde_json::Value>,
    checksum: String,
}

impl JournalEntry {
    fn sum(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut c = self.clone();
        c.checksum = String::new();
        hex::encode(Sha256::digest(serde_json::to_vec(&c).expect("entry serialises")))
    }
}

impl LocalBackend {
    pub fn new(dir: &Path, stack: &str) -> Self {
        LocalBackend {
            path: dir.join(format!("{stack}.json")),
            stack: stack.into(),
            journaled: Default::default(),
            seen: Default::default(),
        }
    }

    pub fn backup_path(&self) -> PathBuf {
        self.path.with_extension("json.backup")
    }

    fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.path.with_extension("journal")
    }

    /// Appends one change to the journal (one line, fsynced): the cost of recording an operation
    /// does not grow with the size of the state. Folds the journal into the document now and then.
    pub fn record(&self, state: &State, address: &str) -> Result<(), StateError> {
        // folding costs a whole-document write: doing it every max(512, resources) entries keeps
        // the cost per operation constant however large the state grows
        if self.journaled.load(std::sync::atomic::Ordering::SeqCst)
            >= COMPACT_EVERY.max(state.resources.len())
            || !self.path.exists()
        {
            return self.save(state);
        }
        let mut e = JournalEntry {
            serial: state.serial,
            address: address.into(),
            resource: state.resources.get(address).cloned(),
            facts: state.facts.clone(),
            checksum: String::new(),
        };
        e.checksum = e.sum();
        let mut line = serde_json::to_vec(&e).expect("entry serialises");
        line.push(b'\n');
        let path = self.journal_path();
        crate::crashpoint::hit("state-write-start");
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io("write", &path))?;
        let half = line.len() / 2;
        f.write_all(&line[..half]).map_err(io("write", &path))?;
        crate::crashpoint::hit("state-write-before-rename"); // a torn line, as a crash mid-write leaves
        f.write_all(&line[half..]).map_err(io("write", &path))?;
        f.sync_all().map_err(io("sync", &path))?;
        self.journaled.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Replays the journal over the document. A torn last line (a crash mid-append) is ignored;
    /// damage anywhere else, or a gap in the serials (each line carries its serial and checksum),
    /// is refused.
    fn replay(&self, state: &mut State) -> Result<(), StateError> {
        let path = self.journal_path();
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        let complete = text.ends_with(b"\n");
        for (i, line) in lines.iter().enumerate() {
            let last = i + 1 == lines.len();
            let entry =
                serde_json::from_slice::<JournalEntry>(line).ok().filter(|e| e.checksum == e.sum());
            let Some(e) = entry else {
                if last && !complete {
                    break; // torn by a crash: that operation is found again in the cloud
                }
                return Err(StateError::Corrupt {
                    path: path.clone(),
                    detail: format!("journal line {} is damaged", i + 1),
                    backup: self.backup_path(),
                });
            };
            if e.serial <= state.serial {
                continue; // already in the document
            }
            if e.serial != state.serial + 1 {
                // every operation writes serial + 1: a jump means lines in between are gone
                return Err(StateError::Corrupt {
                    path: path.clone(),
                    detail: format!(
                        "journal line {} records serial {}, but serial {} comes first: lines are missing",
                        i + 1,
                        e.serial,
                        state.serial + 1
                    ),
                    backup: self.backup_path(),
                });
            }
            match e.resource {
                Some(r) => state.resources.insert(e.address, r),
                None => state.resources.remove(&e.address),
            };
            state.facts = e.facts;
            state.serial = e.serial;
        }
        self.journaled.store(lines.len(), std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Loads the state; a missing file is an empty state with a new lineage.
    pub fn load(&self) -> Result<State, StateError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                *self.seen.lock().unwrap() = Seen::Absent;
                return Ok(State::new(&self.stack));
            }
            Err(e) => return Err(io("read", &self.path)(e)),
        };
        let mut state = State::from_bytes(&bytes, &self.path, &self.backup_path(), &self.stack)?;
        self.replay(&mut state)?;
        *self.seen.lock().unwrap() = Seen::Lineage(state.lineage.clone());
        Ok(state)
    }

    /// The lineage and serial of the state on disk (the document and its journal), when there is
    /// a readable one.
    fn on_disk(&self) -> Option<(String, u64)> {
        let bytes = fs::read(&self.path).ok()?;
        let doc = State::from_bytes(&bytes, &self.path, &self.backup_path(), &self.stack).ok()?;
        let journal = fs::read(self.journal_path()).unwrap_or_default();
        let journaled = journal
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice::<JournalEntry>(l).ok())
            .filter(|e| e.checksum == e.sum())
            .map(|e| e.serial)
            .max()
            .unwrap_or(0);
        Some((doc.lineage, doc.serial.max(journaled)))
    }

    /// Refuses to write `state` over a document someone else wrote: another state than the one
    /// this backend read or wrote, or the same lineage at a later serial (serial never goes back).
    fn check_not_moved(&self, state: &State) -> Result<(), StateError> {
        let Some((lineage, serial)) = self.on_disk() else { return Ok(()) };
        let moved = |detail: String| {
            Err(StateError::Moved { location: self.path.display().to_string(), detail })
        };
        match &*self.seen.lock().unwrap() {
            Seen::Absent => return moved(format!("this run found no state there, and now it holds lineage {lineage} at serial {serial}")),
            Seen::Lineage(l) if *l != lineage => {
                return moved(format!("this run read lineage {l}, and now it holds lineage {lineage} at serial {serial}"))
            }
            _ => {}
        }
        if lineage == state.lineage && serial > state.serial {
            return moved(format!(
                "it is at serial {serial}, and this run would write serial {} over it",
                state.serial
            ));
        }
        Ok(())
    }

    /// Writes the state atomically: temp file, fsync, keep the previous version as the backup,
    /// rename over, fsync the directory. A crash leaves either the old or the new file.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        self.check_not_moved(state)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let tmp = self.path.with_extension(format!("json.tmp-{}", std::process::id()));
        let _remove_tmp_on_error = crate::temp_path::TempPath::new(tmp.clone());
        let body = state.to_bytes();
        crate::crashpoint::hit("state-write-start");
        {
            let mut f = fs::File::create(&tmp).map_err(io("write", &tmp))?;
            f.write_all(&body).map_err(io("write", &tmp))?;
            f.sync_all().map_err(io("sync", &tmp))?;
        }
        if self.path.exists() {
            let backup = self.backup_path();
            // hard-link the current version as the backup (atomic replace of the old backup)
            let tmp_backup =
                self.path.with_extension(format!("json.backup-tmp-{}", std::process::id()));
            let _ = fs::remove_file(&tmp_backup);
            let _remove_tmp_backup_on_error = crate::temp_path::TempPath::new(tmp_backup.clone());
            fs::hard_link(&self.path, &tmp_backup)
                .or_else(|_| fs::copy(&self.path, &tmp_backup).map(|_| ()))
                .map_err(io("back up", &self.path))?;
            fs::rename(&tmp_backup, &backup).map_err(io("back up", &backup))?;
        }
        crate::crashpoint::hit("state-write-before-rename");
        fs::rename(&tmp, &self.path).map_err(io("replace", &self.path))?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        // the journal is folded into the document now (entries at or below its serial are skipped
        // on replay, so a crash between these two steps is harmless)
        let journal = self.journal_path();
        if journal.exists() {
            fs::remove_file(&journal).map_err(io("remove", &journal))?;
        }
        self.journaled.store(0, std::sync::atomic::Ordering::SeqCst);
        *self.seen.lock().unwrap() = Seen::Lineage(state.lineage.clone());
        Ok(())
    }

    /// Takes the lock for `operation`. A lock left by a process that no longer exists on this host
    /// is taken over with a warning.
    pub fn lock(&self, operation: &str) -> Result<LockGuard, StateError> {
        let path = self.lock_path();
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            owner: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            host: host.clone(),
            pid: std::process::id(),
            operation: operation.into(),
            created: now_rfc3339(),
            lease_expires: None,
        };
        for _ in 0..3 {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    // a lock file that could not be written whole (a full disk) is removed again
                    let written = f
                        .write_all(&serde_json::to_vec_pretty(&info).unwrap())
                        .and_then(|()| f.sync_all());
                    if let Err(e) = written {
                        let _ = fs::remove_file(&path);
                        return Err(io("write", &path)(e));
                    }
                    return Ok(LockGuard { path, id: info.id });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let held = self.lock_holder()?;
                    match held {
                        None => continue, // released meanwhile
                        Some(h) if h.host == host && !pid_alive(h.pid) => {
                            tracing::warn!("taking over the state lock {} left by pid {} on this host, which no longer runs", h.id, h.pid);
                            eprintln!("warning: taking over the state lock left by {}, which no longer runs", h.describe());
                            let _ = fs::remove_file(&path);
                            continue;
                        }
                        Some(h) => {
                            return Err(StateError::Locked { holder: h.describe(), id: h.id })
                        }
                    }
                }
                Err(e) => return Err(io("create", &path)(e)),
            }
        }
        Err(StateError::Locked {
            holder: "another run (the lock keeps changing)".into(),
            id: "?".into(),
        })
    }

    /// Who holds the lock, if anyone.
    pub fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        let path = self.lock_path();
        match fs::read(&path) {
            Ok(b) => Ok(Some(LockInfo::parse(&b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path)(e)),
        }
    }

    /// Breaks the lock with id `id` (`state unlock`).
    pub fn unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        match self.lock_holder()? {
            Some(h) if h.id == id => {
                fs::remove_file(self.lock_path()).map_err(io("remove", &self.lock_path()))?;
                Ok(h)
            }
            _ => Err(StateError::NoSuchLock(id.into())),
        }
    }
}

fn pid_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Releases the lock file when dropped.
#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
    pub id: String,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Ok(b) = fs::read(&self.path) {
            if let Ok(info) = serde_json::from_slice::<LockInfo>(&b) {
                if info.id == self.id {
                    let _ = fs::remove_file(&self.path);
                }
            }
        }
    }
}

/// Where state lives: the local file or an S3 object (the S3 store is in the binary crate, beside
/// the AWS SDK). Every method is safe to call concurrently from one process.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// Where, for messages (`state/x.json`, `s3://bucket/key`).
    fn location(&self) -> String;
    async fn load(&self) -> Result<State, StateError>;
    /// Writes the whole document.
    async fn save(&self, state: &State) -> Result<(), StateError>;
    /// Records that `address` (and the facts) changed in `state`; by default the whole document is
    /// written, a store may journal just the change (its cost must not grow with the state).
    async fn record(&self, state: &State, address: &str) -> Result<(), StateError> {
        let _ = address;
        self.save(state).await
    }
    /// Takes the lock for `operation`; released when the returned guard is dropped.
    async fn lock(&self, operation: &str) -> Result<Box<dyn HeldLock>, StateError>;
    async fn lock_holder(&self) -> Result<Option<LockInfo>, StateError>;
    /// Breaks the lock with this id (`state unlock`).
    async fn unlock(&self, id: &str) -> Result<LockInfo, StateError>;
    /// Whether this run may still write the state and the cloud: an error
    /// ([`StateError::LockLost`]) once the lock this store handed out was lost — broken by
    /// someone else, or its lease passed before it was renewed. Cheap: called before every cloud
    /// call of an apply.
    fn fence(&self) -> Result<(), StateError> {
        Ok(())
    }
    /// Keeps a record beside the state, where an evidence export collects it (a restore drill's
    /// report): `name` under the records of `kind` (`drills`). Plans never read it. Returns where
    /// it went, for messages.
    async fn put_record(&self, kind: &str, name: &str, body: &[u8]) -> Result<String, StateError> {
        let _ = (kind, name, body);
        Err(StateError::Backend(format!("the state backend {} keeps no records", self.location())))
    }
    /// The records of `kind` kept beside the state, `(name, body)` sorted by name.
    async fn records(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        let _ = kind;
        Ok(Vec::new())
    }
}

/// Where a local state's records of `kind` go: `state/<stack>.json` → `state/<stack>.<kind>/`.
pub fn local_records_dir(state: &Path, kind: &str) -> PathBuf {
    let stem = state.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    state.with_file_name(format!("{stem}.{kind}"))
}

/// A held lock; dropping it releases the lock.
pub trait HeldLock: Send + Sync {
    fn id(&self) -> &str;
}

impl HeldLock for LockGuard {
    fn id(&self) -> &str {
        &self.id
    }
}

#[async_trait::async_trait]
impl StateStore for LocalBackend {
    fn location(&self) -> String {
        self.path.display().to_string()
    }
    async fn load(&self) -> Result<State, StateError> {
        LocalBackend::load(self)
    }
    async fn save(&self, state: &State) -> Result<(), StateError> {
        LocalBackend::save(self, state)
    }
    async fn record(&self, state: &State, address: &str) -> Result<(), StateError> {
        LocalBackend::record(self, state, address)
    }
    async fn put_record(&self, kind: &str, name: &str, body: &[u8]) -> Result<String, StateError> {
        let dir = local_records_dir(&self.path, kind);
        let io = |action, path: &Path, source| StateError::Io { action, path: path.into(), source };
        std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
        let path = dir.join(name);
        // whole or not at all: a temp file renamed over the name
        let tmp = crate::temp_path::TempPath::new(
            dir.join(format!(".{name}.tmp-{}", std::process::id())),
        );
        std::fs::write(tmp.path(), body).map_err(|e| io("write", tmp.path(), e))?;
        std::fs::rename(tmp.path(), &path).map_err(|e| io("write", &path, e))?;
        Ok(path.display().to_string())
    }
    async fn records(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        let dir = local_records_dir(&self.path, kind);
        let io = |action, path: &Path, source| StateError::Io { action, path: path.into(), source };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read", &dir, e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(|e| io("read", &dir, e))?;
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue; // a record being written
            }
            let body = std::fs::read(e.path()).map_err(|err| io("read", &e.path(), err))?;
            out.push((name, body));
        }
        out.sort();
        Ok(out)
    }
    async fn lock(&self, operation: &str) -> Result<Box<dyn HeldLock>, StateError> {
        Ok(Box::new(LocalBackend::lock(self, operation)?))
    }
    async fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        LocalBackend::lock_holder(self)
    }
    async fn unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        LocalBackend::unlock(self, id)
    }
}

/// The state during an apply: every change is written through at once, one write at a time.
/// Once the run is fenced off (its lock lost, or the state written by someone else), it writes
/// nothing more and [`StateWriter::fence`] says why.
pub struct StateWriter {
    state: tokio::sync::Mutex<State>,
    store: std::sync::Arc<dyn StateStore>,
    fenced: std::sync::Mutex<Option<StateError>>,
}

impl StateWriter {
    pub fn new(state: State, store: std::sync::Arc<dyn StateStore>) -> Self {
        StateWriter {
            state: tokio::sync::Mutex::new(state),
            store,
            fenced: std::sync::Mutex::new(None),
        }
    }

    /// Whether this run may still write state and call the cloud: an error naming the lost lock
    /// or the moved state once it may not, for good.
    pub fn fence(&self) -> Result<(), StateError> {
        let mut fenced = self.fenced.lock().unwrap();
        if let Some(e) = fenced.as_ref().and_then(StateError::fence) {
            return Err(e);
        }
        self.store.fence().inspect_err(|e| *fenced = e.fence())
    }

    /// Remembers a write refused by the fence: nothing more is written.
    fn written(&self, r: Result<(), StateError>) -> Result<(), StateError> {
        if let Err(e) = &r {
            if let Some(f) = e.fence() {
                *self.fenced.lock().unwrap() = Some(f);
            }
        }
        r
    }

    /// Applies `f`, which changes the entry of `address` (and perhaps facts), and records it
    /// (serial + 1).
    pub async fn update<R>(
        &self,
        address: &str,
        f: impl FnOnce(&mut State) -> R,
    ) -> Result<R, StateError> {
        let mut s = self.state.lock().await;
        self.fence()?;
        let r = f(&mut s);
        s.serial += 1;
        self.written(self.store.record(&s, address).await)?;
        Ok(r)
    }

    /// Writes the whole document (at the end of a run: the journal folds into it).
    pub async fn flush(&self) -> Result<(), StateError> {
        let s = self.state.lock().await;
        self.fence()?;
        self.written(self.store.save(&s).await)
    }

    /// One recorded resource (cheap: the state is not copied).
    pub async fn resource(&self, address: &str) -> Option<ResourceState> {
        self.state.lock().await.resources.get(address).cloned()
    }

    pub async fn snapshot(&self) -> State {
        self.state.lock().await.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_is_atomic_and_keeps_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "s");
        let mut st = b.load().unwrap();
        assert_eq!(st.serial, 0);
        st.serial = 1;
        b.save(&st).unwrap();
        st.serial = 2;
        b.save(&st).unwrap();
        assert_eq!(b.load().unwrap().serial, 2);
        let backup: State = serde_json::from_slice(&fs::read(b.backup_path()).unwrap()).unwrap();
        assert_eq!(backup.serial, 1);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
    }

    #[test]
    fn damaged_state_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "s");
        fs::write(&b.path, b"{\"format_version\": 1, \"serial\": 3, \"lin").unwrap();
        let e = b.load().unwrap_err();
        assert!(e.to_string().contains("damaged") && e.to_string().contains("backup"), "{e}");
        assert_eq!(fs::read(&b.path).unwrap(), b"{\"format_version\": 1, \"serial\": 3, \"lin");
    }

    #[test]
    fn lock_excludes_a_second_holder_and_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "s");
        let g = b.lock("apply").unwrap();
        let e = b.lock("apply").unwrap_err();
        assert!(e.to_string().contains("locked by") && e.to_string().contains(&g.id), "{e}");
        drop(g);
        let _g2 = b.lock("plan").unwrap();
    }

    #[test]
    fn lock_of_a_dead_process_on_this_host_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "s");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let info = LockInfo {
            id: "old".into(),
            owner: "x".into(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: dead,
            operation: "apply".into(),
            created: now_rfc3339(),
            lease_expires: None,
        };
        fs::write(b.lock_path(), serde_json::to_vec(&info).unwrap()).unwrap();
        let g = b.lock("apply").unwrap();
        assert_ne!(g.id, "old");
    }

    #[test]
    fn unlock_breaks_only_the_named_lock() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "s");
        let g = b.lock("apply").unwrap();
        assert!(b.unlock("nope").is_err());
        let held = b.unlock(&g.id).unwrap();
        assert_eq!(held.operation, "apply");
        assert!(b.lock_holder().unwrap().is_none());
    }
}

#[cfg(test)]
mod checksum_tests {
    use super::*;

    #[test]
    fn a_valid_json_state_edited_behind_our_back_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "s");
        let mut st = State::new("s");
        st.serial = 4;
        b.save(&st).unwrap();
        let text = fs::read_to_string(&b.path).unwrap().replace("\"serial\": 4", "\"serial\": 5");
        fs::write(&b.path, &text).unwrap();
        let e = b.load().unwrap_err();
        assert!(
            e.to_string().contains("checksum does not match") && e.to_string().contains("backup"),
            "{e}"
        );
        assert_eq!(fs::read_to_string(&b.path).unwrap(), text, "never overwritten");
        // truncated
        fs::write(&b.path, &text[..text.len() / 2]).unwrap();
        assert!(b.load().unwrap_err().to_string().contains("not valid JSON"));
    }
}

#[cfg(test)]
mod fence_tests {
    use super::*;

    #[test]
    fn a_state_without_its_checksum_is_refused_naming_state_rebuild_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "s");
        let mut st = State::new("s");
        st.serial = 4;
        b.save(&st).unwrap();
        let mut doc: serde_json::Value =
            serde_json::from_slice(&fs::read(&b.path).unwrap()).unwrap();
        doc.as_object_mut().unwrap().remove("checksum");
        let text = serde_json::to_string_pretty(&doc).unwrap();
        fs::write(&b.path, &text).unwrap();
        let e = LocalBackend::new(dir.path(), "s").load().unwrap_err().to_string();
        assert!(e.contains("it has no checksum") && e.contains("empi-infra state rebuild"), "{e}");
        assert_eq!(fs::read_to_string(&b.path).unwrap(), text, "never overwritten");
    }

    #[test]
    fn a_save_whose_serial_would_go_back_is_refused_and_overwrites_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ours = LocalBackend::new(dir.path(), "s");
        let mut st = ours.load().unwrap();
        st.serial = 36;
        ours.save(&st).unwrap();
        // another run (its lock broken for it) reads the same state and writes it further
        let theirs = LocalBackend::new(dir.path(), "s");
        let mut newer = theirs.load().unwrap();
        newer.serial = 41;
        theirs.save(&newer).unwrap();
        let written = fs::read(&ours.path).unwrap();
        st.serial = 37;
        let e = ours.save(&st).unwrap_err().to_string();
        assert!(
            e.contains("it is at serial 41, and this run would write serial 37 over it"),
            "{e}"
        );
        assert!(e.contains("nothing was overwritten"), "{e}");
        assert_eq!(fs::read(&ours.path).unwrap(), written, "the newer state is kept");
        assert_eq!(LocalBackend::new(dir.path(), "s").load().unwrap().serial, 41);
        // the same serial again (the end of a run folds its journal) is not going back
        newer.serial = 41;
        theirs.save(&newer).unwrap();
    }

    #[test]
    fn a_newer_serial_in_the_journal_counts_and_another_lineage_is_not_written_over() {
        let dir = tempfile::tempdir().unwrap();
        let ours = LocalBackend::new(dir.path(), "s");
        let mut st = ours.load().unwrap();
        st.serial = 3;
        ours.save(&st).unwrap();
        let theirs = LocalBackend::new(dir.path(), "s");
        let mut newer = theirs.load().unwrap();
        newer.serial = 4;
        theirs.record(&newer, "x").unwrap();
        let e = ours.save(&st).unwrap_err().to_string();
        assert!(e.contains("it is at serial 4, and this run would write serial 3"), "{e}");

        // a state rebuilt meanwhile with a new lineage is not written over either
        let other = State { lineage: "another".into(), serial: 1, ..State::new("s") };
        LocalBackend::new(dir.path(), "s").save(&other).unwrap();
        st.serial = 9;
        let e = ours.save(&st).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "this run read lineage {}, and now it holds lineage another at serial 1",
                st.lineage
            )),
            "{e}"
        );
        // nor a state that appeared where this run found none
        let fresh_dir = tempfile::tempdir().unwrap();
        let first = LocalBackend::new(fresh_dir.path(), "s");
        let mine = first.load().unwrap();
        LocalBackend::new(fresh_dir.path(), "s").save(&other).unwrap();
        let e = first.save(&mine).unwrap_err().to_string();
        assert!(
            e.contains("this run found no state there, and now it holds lineage another"),
            "{e}"
        );
        // a damaged document is not in the way of `state rebuild`
        fs::write(&first.path, b"{").unwrap();
        first.save(&mine).unwrap();
    }

    /// A store whose lock can be lost, as the S3 backend's.
    struct Losing(LocalBackend, std::sync::atomic::AtomicBool);

    #[async_trait::async_trait]
    impl StateStore for Losing {
        fn location(&self) -> String {
            self.0.location()
        }
        async fn load(&self) -> Result<State, StateError> {
            self.0.load()
        }
        async fn save(&self, state: &State) -> Result<(), StateError> {
            self.0.save(state)
        }
        async fn lock(&self, operation: &str) -> Result<Box<dyn HeldLock>, StateError> {
            Ok(Box::new(self.0.lock(operation)?))
        }
        async fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
            self.0.lock_holder()
        }
        async fn unlock(&self, id: &str) -> Result<LockInfo, StateError> {
            self.0.unlock(id)
        }
        fn fence(&self) -> Result<(), StateError> {
            if self.1.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StateError::LockLost {
                    id: "77aa".into(),
                    why: "its lease ran out".into(),
                });
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_writer_whose_lock_was_lost_writes_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Losing(LocalBackend::new(dir.path(), "s"), false.into()));
        let w = StateWriter::new(store.load().await.unwrap(), store.clone());
        w.update("a", |_| ()).await.unwrap();
        assert!(w.fence().is_ok());
        store.1.store(true, std::sync::atomic::Ordering::SeqCst);
        let e = w.update("b", |_| ()).await.unwrap_err().to_string();
        assert!(
            e.starts_with("this run no longer holds the state lock 77aa (its lease ran out)"),
            "{e}"
        );
        assert!(
            e.contains("stopped before its next cloud call") && e.contains("empi-infra plan"),
            "{e}"
        );
        assert!(w.flush().await.is_err());
        // lost for good, even if the store would answer otherwise now
        store.1.store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(w.fence().is_err() && w.update("c", |_| ()).await.is_err());
        assert_eq!(
            LocalBackend::new(dir.path(), "s").load().unwrap().serial,
            1,
            "only the write before the loss"
        );
    }

    #[tokio::test]
    async fn a_write_refused_as_moved_fences_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(LocalBackend::new(dir.path(), "s"));
        let mut st = store.load().unwrap();
        st.serial = 5;
        store.save(&st).unwrap();
        let w = StateWriter::new(st.clone(), store.clone());
        let other = LocalBackend::new(dir.path(), "s");
        let mut newer = other.load().unwrap();
        newer.serial = 9;
        other.save(&newer).unwrap();
        assert!(w.flush().await.unwrap_err().to_string().contains("it is at serial 9"));
        let e = w.fence().unwrap_err().to_string();
        assert!(e.contains("was changed by another run"), "{e}");
    }
}

#[cfg(test)]
mod journal_tests {
    use super::*;

    fn entry(n: u64) -> ResourceState {
        ResourceState {
            kind: "k".into(),
            name: format!("n{n}"),
            id: Some(format!("i{n}")),
            status: Status::Created,
            attrs: Default::default(),
            outputs: Default::default(),
            depends_on: vec![],
        }
    }

    #[test]
    fn changes_are_journaled_replayed_and_folded() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "s");
        let mut st = State::new("s");
        b.save(&st).unwrap();
        for n in 1..=5 {
            st.resources.insert(format!("r{n}"), entry(n));
            st.serial += 1;
            b.record(&st, &format!("r{n}")).unwrap();
        }
        st.resources.remove("r2");
        st.serial += 1;
        b.record(&st, "r2").unwrap();
        assert!(b.journal_path().exists());
        let loaded = LocalBackend::new(dir.path(), "s").load().unwrap();
        assert_eq!(loaded, st);
        b.save(&st).unwrap();
        assert!(!b.journal_path().exists(), "folded into the document");
        assert_eq!(LocalBackend::new(dir.path(), "s").load().unwrap(), st);
    }

    /// A saved empty state and a journal of `n` recorded resources `r1`…`rn`.
    fn journaled(dir: &Path, n: u64) -> LocalBackend {
        let b = LocalBackend::new(dir, "s");
        let mut st = State::new("s");
        b.save(&st).unwrap();
        for n in 1..=n {
            st.resources.insert(format!("r{n}"), entry(n));
            st.serial += 1;
            b.record(&st, &format!("r{n}")).unwrap();
        }
        b
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_damage_elsewhere_refused() {
        let dir = tempfile::tempdir().unwrap();
        let b = journaled(dir.path(), 3);
        let text = fs::read_to_string(b.journal_path()).unwrap();
        fs::write(b.journal_path(), &text[..text.len() - 20]).unwrap();
        let loaded = LocalBackend::new(dir.path(), "s").load().unwrap();
        assert_eq!(loaded.resources.len(), 2, "the torn third entry is dropped");
        let damaged = text.replacen("\"i1\"", "\"i9\"", 1);
        fs::write(b.journal_path(), damaged).unwrap();
        assert!(LocalBackend::new(dir.path(), "s")
            .load()
            .unwrap_err()
            .to_string()
            .contains("journal line 1 is damaged"));
    }

    #[test]
    fn a_journal_with_a_missing_line_is_refused_naming_state_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let b = journaled(dir.path(), 4);
        let text = fs::read_to_string(b.journal_path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let gap = format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3]);
        fs::write(b.journal_path(), gap).unwrap();
        let e = LocalBackend::new(dir.path(), "s").load().unwrap_err().to_string();
        assert!(e.contains("journal line 2 records serial 3, but serial 2 comes first"), "{e}");
        assert!(e.contains("empi-infra state rebuild"), "{e}");
    }
}
