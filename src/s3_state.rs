//! The S3 state backend: the state document as an encrypted object, the previous
//! version kept beside it, and the lock as a separate object created with a conditional write
//! (`If-None-Match: *`) holding owner, host, pid, operation, time and a lease the holder renews.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;
use empi_engine::state::{now_rfc3339, HeldLock, LockInfo, State, StateError, StateStore};

/// How long a lock stays valid without renewal; the holder renews it every third of that.
pub const LEASE: Duration = Duration::from_secs(60);

pub struct S3Store {
    s3: Client,
    bucket: String,
    key: String,
    kms_key_id: Option<String>,
    stack: String,
}

fn backend_err(what: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Backend(format!("{what}: {e}"))
}

fn sdk_err<E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    let p = crate::aws::aws_err(e);
    p.to_string()
}

fn status<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn expired(lock: &LockInfo) -> bool {
    lock.lease_expires.as_deref().and_then(|t| humantime::parse_rfc3339(t).ok()).is_some_and(|t| t < SystemTime::now())
}

impl S3Store {
    pub fn new(s3: Client, bucket: String, key: String, kms_key_id: Option<String>, stack: &str) -> Self {
        S3Store { s3, bucket, key, kms_key_id, stack: stack.to_string() }
    }

    fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        match self.s3.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(o) => Ok(Some(o.body.collect().await.map_err(|e| backend_err("cannot read the state from S3", e))?.into_bytes().to_vec())),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(backend_err(&format!("cannot read s3://{}/{key}", self.bucket), sdk_err(e))),
        }
    }

    fn lock_body(info: &LockInfo) -> Vec<u8> {
        serde_json::to_vec_pretty(info).expect("lock serialises")
    }
}

/// The held S3 lock: renewed in the background, deleted when dropped.
struct S3Lock {
    id: String,
    renewal: tokio::task::JoinHandle<()>,
    store: Arc<S3Store>,
}

impl HeldLock for S3Lock {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        self.renewal.abort();
        let (store, id) = (self.store.clone(), self.id.clone());
        let release = async move {
            if let Ok(Some(b)) = store.get(&store.lock_key()).await {
                if serde_json::from_slice::<LockInfo>(&b).map(|l| l.id == id).unwrap_or(false) {
                    let _ = store.s3.delete_object().bucket(&store.bucket).key(store.lock_key()).send().await;
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => tokio::task::block_in_place(|| h.block_on(release)),
            Err(_) => {}
        }
    }
}

/// The S3 store as a `StateStore`.
pub struct S3Backend(pub Arc<S3Store>);

impl S3Store {
    async fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(self.get(&self.lock_key()).await?.map(|b| LockInfo::parse(&b)))
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

#[async_trait]
impl StateStore for S3Backend {
    fn location(&self) -> String {
        self.0.location()
    }

    async fn load(&self) -> Result<State, StateError> {
        let this = &self.0;
        let Some(bytes) = this.get(&this.key).await? else { return Ok(State::new(&this.stack)) };
        let path = std::path::PathBuf::from(self.location());
        State::from_bytes(&bytes, &path, &std::path::PathBuf::from(format!("{}.backup", self.location())), &this.stack)
    }

    async fn save(&self, state: &State) -> Result<(), StateError> {
        let this = &self.0;
        // the previous version stays beside it (bucket versioning keeps them all: recommended)
        let source = format!("{}/{}", this.bucket, urlencoding::encode(&this.key));
        match this.s3.copy_object().bucket(&this.bucket).key(format!("{}.backup", this.key)).copy_source(source).send().await {
            Ok(_) => {}
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(backend_err("cannot keep a backup of the state in S3", sdk_err(e))),
        }
        let body = state.to_bytes();
        let mut put =
            this.s3.put_object().bucket(&this.bucket).key(&this.key).body(ByteStream::from(body)).content_type("application/json");
        put = match &this.kms_key_id {
            Some(k) => put.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(k),
            None => put.server_side_encryption(ServerSideEncryption::Aes256),
        };
        put.send().await.map_err(|e| backend_err(&format!("cannot write the state to {}", this.location()), sdk_err(e)))?;
        Ok(())
    }

    async fn lock(&self, operation: &str) -> Result<Box<dyn HeldLock>, StateError> {
        let this = &self.0;
        let lease_end = || humantime::format_rfc3339_seconds(SystemTime::now() + LEASE).to_string();
        let mut info = LockInfo {
            id: uuid_like(),
            owner: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            host: hostname(),
            pid: std::process::id(),
            operation: operation.into(),
            created: now_rfc3339(),
            lease_expires: Some(lease_end()),
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
                    Some(h) if expired(&h) => return Err(StateError::LeaseExpired { holder: h.describe(), id: h.id }),
                    Some(h) => return Err(StateError::Locked { holder: h.describe(), id: h.id }),
                    None => {
                        return Err(StateError::Locked {
                            holder: "another run (the lock changed while it was read)".into(),
                            id: "?".into(),
                        })
                    }
                }
            }
            Err(e) => return Err(backend_err(&format!("cannot take the state lock in {}", this.location()), sdk_err(e))),
        }
        // belt and braces: the lock object must now be ours (a store whose conditional writes are
        // not atomic would let a second writer replace it)
        match this.holder().await? {
            Some(h) if h.id == info.id => {}
            Some(h) => return Err(StateError::Locked { holder: h.describe(), id: h.id }),
            None => {
                return Err(StateError::Locked {
                    holder: "another run (the lock vanished right after it was taken)".into(),
                    id: "?".into(),
                })
            }
        }
        let store = this.clone();
        let id = info.id.clone();
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 3).await;
                match store.holder().await {
                    Ok(Some(h)) if h.id == info.id => {
                        info.lease_expires = Some(lease_end());
                        if let Err(e) = store
                            .s3
                            .put_object()
                            .bucket(&store.bucket)
                            .key(store.lock_key())
                            .body(ByteStream::from(S3Store::lock_body(&info)))
                            .send()
                            .await
                        {
                            tracing::warn!("could not renew the state lock: {}", sdk_err(e));
                        }
                    }
                    _ => {
                        eprintln!("warning: the state lock {} was broken by someone else; this run no longer holds it", info.id);
                        return;
                    }
                }
            }
        });
        Ok(Box::new(S3Lock { id, renewal, store: this.clone() }))
    }

    async fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        self.0.holder().await
    }

    async fn unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let this = &self.0;
        match this.holder().await? {
            Some(h) if h.id == id => {
                this.s3
                    .delete_object()
                    .bucket(&this.bucket)
                    .key(this.lock_key())
                    .send()
                    .await
                    .map_err(|e| backend_err("cannot delete the lock", sdk_err(e)))?;
                Ok(h)
            }
            _ => Err(StateError::NoSuchLock(id.into())),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "unknown".into())
}

fn uuid_like() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::rng().random();
    b.iter().map(|x| format!("{x:02x}")).collect::<String>()
}
