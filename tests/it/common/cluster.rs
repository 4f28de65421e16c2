//! A real Kubernetes control plane for tests (kube-apiserver 1.20.2 + controller-manager + etcd,
//! built by scripts/local_cloud/build-kube.sh), one test at a time, from the suite's pool or
//! started for the test; and a node that tests play themselves: it marks pods Ready and job pods Succeeded, or Failed where a test wants it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};

use super::repo;

/// A control plane for one test at a time (NodePorts are cluster-wide, so tests never share one at
/// once): taken from the suite's pool when `scripts/test` made one (`EMPI_TEST_KUBE_POOL`,
/// `scripts/local_cloud/kube-pool.sh`) and emptied first, else started for the test and stopped
/// when dropped.
pub struct Cluster {
    /// kube-up.sh's directory: `kubeconfig`, `pids` (etcd, then the API server, then the
    /// controller manager), the CA and the token.
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    own: Option<tempfile::TempDir>,
    /// The pool's lease (an exclusive flock on `DIR/lease`), held while the test runs.
    lease: Option<std::fs::File>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    pub fn start() -> Cluster {
        if let Some(c) = Cluster::from_pool() {
            return c;
        }
        let bin = repo().join(".local-cloud/kube/bin/kube-apiserver");
        assert!(bin.exists(), "kube-apiserver is not built: run `scripts/local-cloud setup` (scripts/test does it for you)");
        // a port picked here can be taken by another test before the server binds it: try again
        // on other ports
        let mut why = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            // etcd needs two ports in a row
            let (etcd, api) = loop {
                let p = free_port();
                if p < 65000 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
                    break (p, free_port());
                }
            };
            let out = Command::new(repo().join("scripts/local_cloud/kube-up.sh"))
                .arg(dir.path())
                .arg(etcd.to_string())
                .arg(api.to_string())
                .output()
                .unwrap();
            if out.status.success() {
                return Cluster {
                    kubeconfig: dir.path().join("kubeconfig"),
                    dir: dir.path().to_path_buf(),
                    own: Some(dir),
                    lease: None,
                };
            }
            why = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        panic!("the test cluster did not start, three times; the last time: {why}");
    }

    /// A cluster of the suite's pool, empty of what earlier tests made; `None` when there is no
    /// pool, or none of its clusters comes free and empty within three minutes (a test holds one,
    /// or `kube_reset.py` is emptying it after its test).
    fn from_pool() -> Option<Cluster> {
        use std::os::fd::AsRawFd;
        let pool = PathBuf::from(std::env::var_os("EMPI_TEST_KUBE_POOL")?);
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&pool)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("kubeconfig").exists())
            .collect();
        dirs.sort();
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(180) {
            for dir in &dirs {
                let Ok(lease) = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(dir.join("lease"))
                else {
                    continue;
                };
                if unsafe { libc::flock(lease.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                    continue; // a test's, or being emptied after one
                }
                // emptied after its last test already; this makes sure (one list when it is)
                let reset = Command::new(repo().join(".local-cloud/venv/bin/python"))
                    .arg(repo().join("scripts/local_cloud/kube_reset.py"))
                    .arg(dir)
                    .output()
                    .unwrap();
                if !reset.status.success() {
                    eprintln!("{}; trying another", String::from_utf8_lossy(&reset.stderr).trim());
                    continue;
                }
                return Some(Cluster {
                    kubeconfig: dir.join("kubeconfig"),
                    dir: dir.clone(),
                    own: None,
                    lease: Some(lease),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "no cluster of the pool in {} came free in 180 s; starting one for this test",
            pool.display()
        );
        None
    }

    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let conf = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
        kube::Client::try_from(conf).unwrap()
    }
}

impl Drop for Cluster {
    /// Hands a pooled cluster back, to be emptied for the next test. Kills a test's own control
    /// plane at once: its etcd lives in the test's temporary directory, so there is nothing to stop
    /// cleanly for (`kube-up.sh --down` waits 2–20 s for a clean stop, which held each test's slot
    /// that long).
    fn drop(&mut self) {
        let pids: Vec<i32> = std::fs::read_to_string(self.dir.join("pids"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if let Some(lease) = self.lease.take() {
            // the pool's: resumed (a test may have paused its API server) and emptied at once, in
            // the background, by kube_reset.py holding the lease (its stdin is the lease's file, so
            // the lock is its own until it exits, whenever this test's process ends)
            for &pid in &pids {
                unsafe { libc::kill(pid, libc::SIGCONT) };
            }
            let _ = Command::new(repo().join(".local-cloud/venv/bin/python"))
                .arg(repo().join("scripts/local_cloud/kube_reset.py"))
                .arg(&self.dir)
                .stdin(lease)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            return;
        }
        for &pid in &pids {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let gone = |pid: i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
        };
        let t0 = std::time::Instant::now();
        while !pids.iter().all(|&p| gone(p)) && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// What the test node does with a job's pod.
#[derive(Clone, Default)]
pub struct Node {
    /// Jobs (by name) whose pods fail, with this termination message.
    pub fail_jobs: Vec<(String, String)>,
    /// Jobs (by a prefix of their name) whose first pod fails with this message, and whose next
    /// pods run: a Job whose IRSA role is still propagating when its first pod starts.
    pub fail_first_pod: Vec<(String, String)>,
    /// Jobs (by a prefix of their name) whose pods succeed with this termination message: what
    /// their script would write (a restore drill's report).
    pub job_messages: Vec<(String, String)>,
    /// How long a pod takes to become ready or to finish.
    pub delay: Duration,
    /// Images (a part of their name) this node cannot pull: pods of Deployments running them wait
    /// in `ImagePullBackOff` and never become ready.
    pub unpullable: Vec<String>,
    /// Once set, the pods of database-admin Jobs (`python -c SCRIPT` with the master secret in
    /// their environment) really run their script (see [`ScriptRunner`]); before, they succeed
    /// as every job pod does.
    pub runs_scripts: Option<std::sync::Arc<std::sync::Mutex<Option<ScriptRunner>>>>,
}

/// Runs a Job's Python script here, as its pod would: the pod's environment, Secrets Manager at
/// moto, and every PostgreSQL connection sent to this local server in place of the RDS address
/// the config names (the local cloud has no DNS for it).
#[derive(Clone, Debug)]
pub struct ScriptRunner {
    pub moto_url: String,
    pub postgres_port: u16,
}

/// What [`ScriptRunner`] runs before the script: psycopg's connect aimed at the local server.
const AIM_AT_LOCAL_POSTGRES: &str = r#"
import os, psycopg
_connect = psycopg.connect
def _local(*a, **k):
    k["host"], k["port"] = "127.0.0.1", int(os.environ["LOCAL_POSTGRES_PORT"])
    return _connect(*a, **k)
psycopg.connect = _local
exec(compile(os.environ["JOB_SCRIPT"], "job", "exec"), {"__name__": "__main__"})
"#;

impl ScriptRunner {
    /// Runs the script of `pod` if it is a database-admin Job's: whether it succeeded, and what it
    /// printed (the pod's termination message). `None`: not such a pod.
    pub fn run(&self, pod: &Pod) -> Option<(bool, String)> {
        let c = pod.spec.as_ref()?.containers.first()?;
        let command = c.command.clone()?;
        let env: Vec<(String, String)> = c
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect();
        if command.len() != 3
            || command[..2] != ["python".to_string(), "-c".to_string()]
            || !env.iter().any(|(k, _)| k == "DATABASE_MASTER_SECRET_ARN")
        {
            return None;
        }
        let o = Command::new(super::postgres::python())
            .args(["-c", AIM_AT_LOCAL_POSTGRES])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .env("JOB_SCRIPT", &command[2])
            .env("LOCAL_POSTGRES_PORT", self.postgres_port.to_string())
            .env("AWS_ENDPOINT_URL", &self.moto_url)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .ok()?;
        Some((
            o.status.success(),
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
        ))
    }
}

impl Node {
    /// Plays the node for `namespace` until the task running it is aborted.
    pub async fn run(self, client: kube::Client, namespace: &str) {
        let pods: Api<Pod> = Api::namespaced(client, namespace);
        {
            let mut seen: std::collections::HashMap<String, std::time::Instant> =
                Default::default();
            // the jobs whose one failing pod has failed
            let mut failed_once: std::collections::HashSet<String> = Default::default();
            loop {
                if let Ok(list) = pods.list(&ListParams::default()).await {
                    for p in list.items {
                        let name = p.metadata.name.clone().unwrap_or_default();
                        let first =
                            *seen.entry(name.clone()).or_insert_with(std::time::Instant::now);
                        if first.elapsed() < self.delay || p.metadata.deletion_timestamp.is_some() {
                            continue;
                        }
                        let status = p.status.clone().unwrap_or_default();
                        if matches!(status.phase.as_deref(), Some("Succeeded") | Some("Failed")) {
                            continue;
                        }
                        let ready = status
                            .conditions
                            .unwrap_or_default()
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True");
                        let job =
                            p.metadata.labels.as_ref().and_then(|l| l.get("job-name")).cloned();
                        let containers: Vec<String> = p
                            .spec
                            .as_ref()
                            .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
                            .unwrap_or_default();
                        let images: Vec<String> = p
                            .spec
                            .as_ref()
                            .map(|s| {
                                s.containers
                                    .iter()
                                    .map(|c| c.image.clone().unwrap_or_default())
                                    .collect()
                            })
                            .unwrap_or_default();
                        let unpullable = job.is_none()
                            && images
                                .iter()
                                .any(|i| self.unpullable.iter().any(|u| i.contains(u.as_str())));
                        let now = chrono_now();
                        let patch = match &job {
                            Some(j) => {
                                let fail =
                                    self.fail_jobs.iter().find(|(n, _)| n == j).or_else(|| {
                                        self.fail_first_pod
                                            .iter()
                                            .find(|(prefix, _)| j.starts_with(prefix.as_str()))
                                            .filter(|_| failed_once.insert(j.clone()))
                                    });
                                let said = self
                                    .job_messages
                                    .iter()
                                    .find(|(prefix, _)| j.starts_with(prefix.as_str()))
                                    .map(|(_, m)| m.clone())
                                    .unwrap_or_default();
                                let runner = self
                                    .runs_scripts
                                    .as_ref()
                                    .and_then(|r| r.lock().unwrap().clone());
                                let ran =
                                    runner.and_then(|r| tokio::task::block_in_place(|| r.run(&p)));
                                let (phase, code, reason, msg) = match (fail, ran) {
                                    (Some((_, m)), _) => ("Failed", 1, "Error", m.clone()),
                                    (None, Some((false, out))) => ("Failed", 1, "Error", out),
                                    (None, Some((true, out))) => ("Succeeded", 0, "Completed", out),
                                    (None, None) => ("Succeeded", 0, "Completed", said),
                                };
                                serde_json::json!({"status": {"phase": phase, "containerStatuses": containers.iter().map(|c| serde_json::json!({
                                    "name": c, "ready": false, "restartCount": 0, "image": "", "imageID": "",
                                    "state": {"terminated": {"exitCode": code, "reason": reason, "message": msg, "startedAt": now, "finishedAt": now}}
                                })).collect::<Vec<_>>()}})
                            }
                            None if unpullable => serde_json::json!({"status": {"phase": "Pending",
                                "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now}, {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": now}],
                                "containerStatuses": containers.iter().zip(&images).map(|(c, i)| serde_json::json!({"name": c, "ready": false, "restartCount": 0, "image": i, "imageID": "",
                                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{i}\"")}}})).collect::<Vec<_>>()}}),
                            None if !ready => serde_json::json!({"status": {"phase": "Running",
                                "conditions": READY_CONDITIONS.iter().map(|t| serde_json::json!({"type": t, "status": "True", "lastTransitionTime": now})).collect::<Vec<_>>(),
                                "containerStatuses": containers.iter().map(|c| serde_json::json!({"name": c, "ready": true, "started": true, "restartCount": 0, "image": "", "imageID": "", "state": {"running": {"startedAt": now}}})).collect::<Vec<_>>()}}),
                            None => continue,
                        };
                        let _ = pods
                            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

const READY_CONDITIONS: [&str; 4] = ["PodScheduled", "Initialized", "ContainersReady", "Ready"];

fn chrono_now() -> String {
    k8s_openapi::jiff::Timestamp::now().round(k8s_openapi::jiff::Unit::Second).unwrap().to_string()
}
