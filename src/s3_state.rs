//! The S3 state backend: the state document as an encrypted object, the previous
//! version kept beside it, and the lock as a separate object created with a conditional write
//! (`If-None-Match: *`) holding owner, host, pid, operation, time and a lease the holder renews.
//!
//! Every write is fenced: the state is written with `If-Match` on the ETag this run last read or
//! wrote (`If-None-Match: *` when there was none), its backup copied only while that version is
//! still the current one (`x-amz-copy-source-if-match`), and the lock renewed with `If-Match` on
//! the lock object's own ETag. A run whose lock was broken, whose lease passed before it could
//! renew it (a paused process), or whose conditional write failed has lost the lock: the engine
//! asks [`StateStore::fence`] before every cloud call and stops.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;
use empi_engine::env::EnvError;
use empi_engine::state::{now_rfc3339, HeldLock, LockInfo, State, StateError, StateStore};

/// How long a lock stays valid without renewal unless `EMPI_INFRA_LOCK_LEASE` says otherwise;
/// the holder renews it every third of that.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The lease of a lock (`EMPI_INFRA_LOCK_LEASE`, from 2 s to 1 h; default 60 s).
pub fn lease() -> Result<Duration, EnvError> {
    empi_engine::env::duration(
        "EMPI_INFRA_LOCK_LEASE",
        DEFAULT_LEASE,
        Duration::from_secs(2),
        Duration::from_secs(3600),
    )
}

pub struct S3Store {
    s3: Client,
    bucket: String,
    key: String,
    kms_key_id: Option<String>,
    stack: String,
    /// The state object as this run last read or wrote it: the condition of the next write.
    seen: Mutex<Seen>,
    /// The lock this run holds on the state, if any.
    held: Mutex<Option<Arc<Lease>>>,
}

/// What this run last saw at the state's key.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    /// Neither read nor written yet.
    Unknown,
    /// There was no object.
    Absent,
    /// This version (its lineage and serial when it was a readable state).
    Object { etag: String, version: Option<(String, u64)> },
}

fn backend_err(what: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Backend(format!("{what}: {e}"))
}

fn sdk_err<
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
>(
    e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    let p = crate::aws::aws_err(e);
    p.to_string()
}

fn status<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// A conditional write that did not hold: 412 (the ETag differs, or the object exists), 404 (an
/// `If-Match` on an object that is gone), 409 (a concurrent conditional write won).
fn condition_failed<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    matches!(status(e), Some(412) | Some(404) | Some(409))
}

fn expired(lock: &LockInfo) -> bool {
    lock.lease_expires
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339(t).ok())
        .is_some_and(|t| t < SystemTime::now())
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl S3Store {
    pub fn new(
        s3: Client,
        bucket: String,
        key: String,
        kms_key_id: Option<String>,
        stack: &str,
    ) -> Self {
        S3Store {
            s3,
            bucket,
            key,
            kms_key_id,
            stack: stack.to_string(),
            seen: Mutex::new(Seen::Unknown),
            held: Mutex::new(None),
        }
    }

    fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    fn backup_key(&self) -> String {
        format!("{}.backup", self.key)
    }

    /// The object at `key` and its ETag, if there is one.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>, StateError> {
        match self.s3.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(o) => {
                let etag = o.e_tag().map(String::from);
                let body = o
                    .body
                    .collect()
                    .await
                    .map_err(|e| backend_err("cannot read the state from S3", e))?
                    .into_bytes()
                    .to_vec();
                Ok(Some((body, etag)))
            }
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => {
                Err(backend_err(&format!("cannot read s3://{}/{key}", self.bucket), sdk_err(e)))
            }
        }
    }

    fn lock_body(info: &LockInfo) -> Vec<u8> {
        serde_json::to_vec_pretty(info).expect("lock serialises")
    }

    async fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(self.get(&self.lock_key()).await?.map(|(b, _)| LockInfo::parse(&b)))
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// What the state object is now, as [`Seen`].
    fn seen_of(&self, bytes: &[u8], etag: Option<String>) -> Seen {
        let version = State::from_bytes(
            bytes,
            std::path::Path::new("state"),
            std::path::Path::new("backup"),
            &self.stack,
        )
        .ok()
        .map(|s| (s.lineage, s.serial));
        match etag {
            Some(etag) => Seen::Object { etag, version },
            None => Seen::Unknown,
        }
    }

    /// The refusal of a write whose condition did not hold: what the state object holds now,
    /// against what this run last saw. The lock counts as lost from now on.
    async fn moved(&self, seen: &Seen) -> StateError {
        let had = match seen {
            Seen::Object { version: Some((lineage, serial)), .. } => {
                format!("serial {serial} of lineage {lineage}")
            }
            Seen::Object { .. } => "a version it could not read".into(),
            _ => "no state".into(),
        };
        let now = match self.get(&self.key).await {
            Ok(Some((bytes, etag))) => match self.seen_of(&bytes, etag) {
                Seen::Object { version: Some((lineage, serial)), .. } => {
                    format!("it now holds serial {serial} of lineage {lineage}")
                }
                _ => "it now holds a version this run cannot read".into(),
            },
            Ok(None) => "it was deleted".into(),
            Err(e) => format!("what it holds now could not be read: {e}"),
        };
        let e = StateError::Moved {
            location: self.location(),
            detail: format!("this run last read or wrote {had}, and {now}"),
        };
        if let Some(lease) = self.held.lock().unwrap().as_ref() {
            lease.lose("the state was written by another run".into());
        }
        e
    }

    fn encrypted<T>(&self, kms: impl FnOnce(T, &str) -> T, aes: impl FnOnce(T) -> T, req: T) -> T {
        match &self.kms_key_id {
            Some(k) => kms(req, k),
            None => aes(req),
        }
    }
}

/// The lease this process holds, for the last check before a cloud request goes out
/// ([`lease_lost`], called by the AWS clients' interceptor).
static HELD: Mutex<Option<Arc<Lease>>> = Mutex::new(None);

/// Why this process may no longer change the cloud: the S3 state lock it took was lost (broken,
/// or its lease passed). Checked again right before each AWS request is sent, so that a run
/// paused between the executor's check and the request does not send it after it resumes.
pub fn lease_lost() -> Option<String> {
    let held = HELD.lock().unwrap().clone()?;
    held.check().err().map(|e| e.to_string())
}

/// What this run knows of the lock it holds (the store asks it in [`StateStore::fence`]).
struct Lease {
    id: String,
    length: Duration,
    inner: Mutex<LeaseState>,
}

struct LeaseState {
    /// The lock object's ETag as this run last wrote it: the condition of the next renewal.
    etag: String,
    /// Until when the lock object says the lease holds.
    until: SystemTime,
    /// Why this run no longer holds the lock, once it does not.
    lost: Option<String>,
}

impl Lease {
    /// An error once the lock is lost; a lease that passed (or is about to) without renewal is
    /// lost for good: another run may already have broken it.
    fn check(&self) -> Result<(), StateError> {
        let mut s = self.inner.lock().unwrap();
        if s.lost.is_none() && SystemTime::now() + self.length / 10 >= s.until {
            s.lost = Some(format!(
                "its lease ran out at {} before this run could renew it: the process was paused or could not reach S3",
                humantime::format_rfc3339_seconds(s.until)
            ));
        }
        match &s.lost {
            Some(why) => Err(StateError::LockLost { id: self.id.clone(), why: why.clone() }),
            None => Ok(()),
        }
    }

    fn lose(&self, why: String) {
        let mut s = self.inner.lock().unwrap();
        if s.lost.is_none() {
            s.lost = Some(why);
        }
    }

    fn etag(&self) -> String {
        self.inner.lock().unwrap().etag.clone()
    }
}

/// The held S3 lock: renewed in the background, deleted when dropped (only while it is ours).
struct S3Lock {
    lease: Arc<Lease>,
    renewal: tokio::task::JoinHandle<()>,
    store: Arc<S3Store>,
}

impl HeldLock for S3Lock {
    fn id(&self) -> &str {
        &self.lease.id
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        self.renewal.abort();
        {
            let mut held = self.store.held.lock().unwrap();
            if held.as_ref().is_some_and(|l| Arc::ptr_eq(l, &self.lease)) {
                *held = None;
            }
            let mut global = HELD.lock().unwrap();
            if global.as_ref().is_some_and(|l| Arc::ptr_eq(l, &self.lease)) {
                *global = None;
            }
        }
        let (store, lease) = (self.store.clone(), self.lease.clone());
        let release = async move {
            // deleted only while it is the version this run wrote; a renewal cut short may have
            // landed after all: then it is deleted if it still carries this run's id
            let delete = |etag: String| {
                store
                    .s3
                    .delete_object()
                    .bucket(&store.bucket)
                    .key(store.lock_key())
                    .if_match(etag)
                    .send()
            };
            if delete(lease.etag()).await.is_err() {
                if let Ok(Some((b, Some(etag)))) = store.get(&store.lock_key()).await {
                    if serde_json::from_slice::<LockInfo>(&b).is_ok_and(|l| l.id == lease.id) {
                        let _ = delete(etag).await;
                    }
                }
            }
        };
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            tokio::task::block_in_place(|| h.block_on(release))
        }
    }
}

/// The S3 store as a `StateStore`.
pub struct S3Backend(pub Arc<S3Store>);

#[async_trait]
impl StateStore for S3Backend {
    fn location(&self) -> String {
        self.0.location()
    }

    async fn load(&self) -> Result<State, StateError> {
        let this = &self.0;
        let Some((bytes, etag)) = this.get(&this.key).await? else {
            *this.seen.lock().unwrap() = Seen::Absent;
            return Ok(State::new(&this.stack));
        };
        *this.seen.lock().unwrap() = this.seen_of(&bytes, etag);
        let path = std::path::PathBuf::from(self.location());
        State::from_bytes(
            &bytes,
            &path,
            &std::path::PathBuf::from(format!("{}.backup", self.location())),
            &this.stack,
        )
    }

    /// Records go under the state's key (`<key>.drills/<name>`), so that the bucket's versioning
    /// and Object Lock keep them as they keep the state, encrypted as it is.
    async fn put_record(&self, kind: &str, name: &str, body: &[u8]) -> Result<String, StateError> {
        let this = &self.0;
        let key = format!("{}.{kind}/{name}", this.key);
        let put = this
            .s3
            .put_object()
            .bucket(&this.bucket)
            .key(&key)
            .body(ByteStream::from(body.to_vec()))
            .content_type("application/json");
        let put = this.encrypted(
            |p, k| p.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(k),
            |p| p.server_side_encryption(ServerSideEncryption::Aes256),
            put,
        );
        put.send().await.map_err(|e| {
            StateError::Backend(format!(
                "cannot write s3://{}/{key}: {}",
                this.bucket,
                crate::aws::aws_err(e)
            ))
        })?;
        Ok(format!("s3://{}/{key}", this.bucket))
    }

    async fn records(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        let this = &self.0;
        let prefix = format!("{}.{kind}/", this.key);
        let err = |what: String| StateError::Backend(what);
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let r = this
                .s3
                .list_objects_v2()
                .bucket(&this.bucket)
                .prefix(&prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| {
                    err(format!(
                        "cannot list s3://{}/{prefix}: {}",
                        this.bucket,
                        crate::aws::aws_err(e)
                    ))
                })?;
            for o in r.contents() {
                let Some(key) = o.key() else { continue };
                let got = this.s3.get_object().bucket(&this.bucket).key(key).send().await.map_err(
                    |e| {
                        err(format!(
                            "cannot read s3://{}/{key}: {}",
                            this.bucket,
                            crate::aws::aws_err(e)
                        ))
                    },
                )?;
                let body = got
                    .body
                    .collect()
                    .await
                    .map_err(|e| err(format!("cannot read s3://{}/{key}: {e}", this.bucket)))?;
                out.push((key[prefix.len()..].to_string(), body.into_bytes().to_vec()));
            }
            token = r.next_continuation_token().map(String::from);
            if token.is_none() {
                break;
            }
        }
        out.sort();
        Ok(out)
    }

    async fn save(&self, state: &State) -> Result<(), StateError> {
        let this = &self.0;
        self.fence()?;
        let mut seen = this.seen.lock().unwrap().clone();
        if seen == Seen::Unknown {
            // written without being read first: what is there now is the condition, and a state
            // of another lineage or a later serial is not written over
            seen = match this.get(&this.key).await? {
                Some((bytes, etag)) => this.seen_of(&bytes, etag),
                None => Seen::Absent,
            };
            if let Seen::Object { version: Some((lineage, _)), .. } = &seen {
                if *lineage != state.lineage {
                    return Err(this.moved(&seen).await);
                }
            }
        }
        // serial never goes back (the ETag condition below already holds this; a bug would not)
        if let Seen::Object { version: Some((lineage, serial)), .. } = &seen {
            if *lineage == state.lineage && *serial > state.serial {
                return Err(this.moved(&seen).await);
            }
        }
        let mut put = this
            .s3
            .put_object()
            .bucket(&this.bucket)
            .key(&this.key)
            .body(ByteStream::from(state.to_bytes()))
            .content_type("application/json");
        put = this.encrypted(
            |p, k| p.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(k),
            |p| p.server_side_encryption(ServerSideEncryption::Aes256),
            put,
        );
        match &seen {
            Seen::Object { etag, .. } => {
                // the previous version stays beside it (bucket versioning keeps them all:
                // recommended), copied only while it is still the version this run last saw, so
                // that a run fenced off writes no object at all
                let source = format!("{}/{}", this.bucket, urlencoding::encode(&this.key));
                let copy = this
                    .s3
                    .copy_object()
                    .bucket(&this.bucket)
                    .key(this.backup_key())
                    .copy_source(source)
                    .copy_source_if_match(etag);
                let copy = this.encrypted(
                    |c, k| c.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(k),
                    |c| c.server_side_encryption(ServerSideEncryption::Aes256),
                    copy,
                );
                match copy.send().await {
                    Ok(_) => {}
                    Err(e) if condition_failed(&e) => return Err(this.moved(&seen).await),
                    Err(e) => {
                        return Err(backend_err(
                            "cannot keep a backup of the state in S3",
                            sdk_err(e),
                        ))
                    }
                }
                put = put.if_match(etag);
            }
            _ => put = put.if_none_match("*"),
        }
        // the lease may have passed during the copy (a pause): the condition would hold the write
        // off anyway, but a run that lost its lock sends nothing it can avoid
        self.fence()?;
        match put.send().await {
            Ok(out) => {
                *this.seen.lock().unwrap() = match out.e_tag() {
                    Some(etag) => Seen::Object {
                        etag: etag.to_string(),
                        version: Some((state.lineage.clone(), state.serial)),
                    },
                    None => Seen::Unknown,
                };
                Ok(())
            }
            Err(e) if condition_failed(&e) => Err(this.moved(&seen).await),
            Err(e) => Err(backend_err(
                &format!("cannot write the state to {}", this.location()),
                sdk_err(e),
            )),
        }
    }

    fn fence(&self) -> Result<(), StateError> {
        match self.0.held.lock().unwrap().as_ref() {
            Some(lease) => lease.check(),
            None => Ok(()),
        }
    }

    async fn lock(&self, operation: &str) -> Result<Box<dyn HeldLock>, StateError> {
        let this = &self.0;
        let length = lease().map_err(|e| StateError::Backend(e.to_string()))?;
        let taken = SystemTime::now();
        let mut info = LockInfo {
            id: uuid_like(),
            owner: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            host: hostname(),
            pid: std::process::id(),
            operation: operation.into(),
            created: now_rfc3339(),
            lease_expires: Some(rfc3339(taken + length)),
        };
        let put = this
            .s3
            .put_object()
            .bucket(&this.bucket)
            .key(this.lock_key())
            .if_none_match("*")
            .body(ByteStream::from(S3Store::lock_body(&info)))
            .send()
            .await;
        match put {
            Ok(_) => {}
            Err(e) if matches!(status(&e), Some(412) | Some(409)) => {
                let held = this.holder().await?;
                match held {
                    // a retried request whose first attempt took the lock: it is ours
                    Some(h) if h.id == info.id => {}
                    Some(h) if expired(&h) => {
                        return Err(StateError::LeaseExpired { holder: h.describe(), id: h.id })
                    }
                    Some(h) => return Err(StateError::Locked { holder: h.describe(), id: h.id }),
                    None => {
                        return Err(StateError::Locked {
                            holder: "another run (the lock changed while it was read)".into(),
                            id: "?".into(),
                        })
                    }
                }
            }
            Err(e) => {
                return Err(backend_err(
                    &format!("cannot take the state lock in {}", this.location()),
                    sdk_err(e),
                ))
            }
        }
        // belt and braces: the lock object must now be ours (a store whose conditional writes are
        // not atomic would let a second writer replace it); its ETag fences every renewal
        let etag = match this.get(&this.lock_key()).await? {
            Some((b, Some(etag))) if LockInfo::parse(&b).id == info.id => etag,
            Some((b, _)) => {
                let h = LockInfo::parse(&b);
                return Err(StateError::Locked { holder: h.describe(), id: h.id });
            }
            None => {
                return Err(StateError::Locked {
                    holder: "another run (the lock vanished right after it was taken)".into(),
                    id: "?".into(),
                })
            }
        };
        let lease = Arc::new(Lease {
            id: info.id.clone(),
            length,
            inner: Mutex::new(LeaseState { etag, until: taken + length, lost: None }),
        });
        *this.held.lock().unwrap() = Some(lease.clone());
        *HELD.lock().unwrap() = Some(lease.clone());
        let (store, renewed) = (this.clone(), lease.clone());
        let renewal = tokio::spawn(async move {
            let mut pause = length / 3;
            loop {
                tokio::time::sleep(pause).await;
                // a lease that passed is not renewed: another run may hold the state by now
                if let Err(e) = renewed.check() {
                    eprintln!("warning: {e}");
                    return;
                }
                let sent = SystemTime::now();
                info.lease_expires = Some(rfc3339(sent + length));
                let put = store
                    .s3
                    .put_object()
                    .bucket(&store.bucket)
                    .key(store.lock_key())
                    .if_match(renewed.etag())
                    .body(ByteStream::from(S3Store::lock_body(&info)))
                    .send()
                    .await;
                match put {
                    Ok(out) => {
                        let mut s = renewed.inner.lock().unwrap();
                        match out.e_tag() {
                            Some(etag) if s.lost.is_none() => {
                                s.etag = etag.to_string();
                                s.until = sent + length;
                            }
                            Some(_) => {}
                            None => {
                                s.lost = Some("S3 did not return the renewed lock's ETag".into())
                            }
                        }
                        pause = length / 3;
                    }
                    Err(e) if matches!(status(&e), Some(412) | Some(404)) => {
                        let why = match store.holder().await {
                            Ok(Some(h)) => {
                                format!("it was broken, and {} holds the state now", h.describe())
                            }
                            _ => "it was broken (deleted, e.g. with `empi-infra state unlock`)"
                                .to_string(),
                        };
                        renewed.lose(why);
                        if let Err(e) = renewed.check() {
                            eprintln!("warning: {e}");
                        }
                        return;
                    }
                    Err(e) => {
                        // a 409 (a concurrent write to the lock) or a passing fault: soon again;
                        // the lease runs out on its own if this keeps failing
                        tracing::warn!("could not renew the state lock: {}", sdk_err(e));
                        pause = length / 10;
                    }
                }
            }
        });
        Ok(Box::new(S3Lock { lease, renewal, store: this.clone() }))
    }

    async fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        self.0.holder().await
    }

    async fn unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let this = &self.0;
        match this.get(&this.lock_key()).await? {
            Some((b, etag)) if LockInfo::parse(&b).id == id => {
                // deleted only as it was read: a lock another run took meanwhile stays
                let mut delete = this.s3.delete_object().bucket(&this.bucket).key(this.lock_key());
                if let Some(etag) = etag {
                    delete = delete.if_match(etag);
                }
                match delete.send().await {
                    Ok(_) => Ok(LockInfo::parse(&b)),
                    Err(e) if condition_failed(&e) => Err(StateError::NoSuchLock(id.into())),
                    Err(e) => Err(backend_err("cannot delete the lock", sdk_err(e))),
                }
            }
            _ => Err(StateError::NoSuchLock(id.into())),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn uuid_like() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::rng().random();
    b.iter().map(|x| format!("{x:02x}")).collect::<String>()
}
