//! A real Kubernetes control plane for tests (kube-apiserver 1.20.2 + controller-manager + etcd,
//! built by scripts/local_cloud/build-kube.sh), started once per test binary and stopped when it exits; and a node that tests
//! play themselves: it marks pods Ready and job pods Succeeded, or Failed where a test wants it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};

use super::repo;

/// A control plane of its own (NodePorts are cluster-wide, so tests do not share one); stopped
/// when dropped.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    pub fn start() -> Cluster {
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
                return Cluster { kubeconfig: dir.path().join("kubeconfig"), dir };
            }
            why = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        panic!("the test cluster did not start, three times; the last time: {why}");
    }

    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let conf = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
        kube::Client::try_from(conf).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/local_cloud/kube-up.sh")).arg("--down").arg(self.dir.path()).status();
    }
}

/// What the test node does with a job's pod.
#[derive(Clone, Default)]
pub struct Node {
    /// Jobs (by name) whose pods fail, with this termination message.
    pub fail_jobs: Vec<(String, String)>,
    /// How long a pod takes to become ready or to finish.
    pub delay: Duration,
    /// Images (a part of their name) this node cannot pull: pods of Deployments running them wait
    /// in `ImagePullBackOff` and never become ready.
    pub unpullable: Vec<String>,
}

impl Node {
    /// Plays the node for `namespace` until the task running it is aborted.
    pub async fn run(self, client: kube::Client, namespace: &str) {
        let pods: Api<Pod> = Api::namespaced(client, namespace);
        {
            let mut seen: std::collections::HashMap<String, std::time::Instant> = Default::default();
            loop {
                if let Ok(list) = pods.list(&ListParams::default()).await {
                    for p in list.items {
                        let name = p.metadata.name.clone().unwrap_or_default();
                        let first = *seen.entry(name.clone()).or_insert_with(std::time::Instant::now);
                        if first.elapsed() < self.delay || p.metadata.deletion_timestamp.is_some() {
                            continue;
                        }
                        let status = p.status.clone().unwrap_or_default();
                        if matches!(status.phase.as_deref(), Some("Succeeded") | Some("Failed")) {
                            continue;
                        }
                        let ready = status.conditions.unwrap_or_default().iter().any(|c| c.type_ == "Ready" && c.status == "True");
                        let job = p.metadata.labels.as_ref().and_then(|l| l.get("job-name")).cloned();
                        let containers: Vec<String> =
                            p.spec.as_ref().map(|s| s.containers.iter().map(|c| c.name.clone()).collect()).unwrap_or_default();
                        let images: Vec<String> = p
                            .spec
                            .as_ref()
                            .map(|s| s.containers.iter().map(|c| c.image.clone().unwrap_or_default()).collect())
                            .unwrap_or_default();
                        let unpullable = job.is_none() && images.iter().any(|i| self.unpullable.iter().any(|u| i.contains(u.as_str())));
                        let now = chrono_now();
                        let patch = match &job {
                            Some(j) => {
                                let fail = self.fail_jobs.iter().find(|(n, _)| n == j);
                                let (phase, code, reason, msg) = match fail {
                                    Some((_, m)) => ("Failed", 1, "Error", m.clone()),
                                    None => ("Succeeded", 0, "Completed", String::new()),
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
                        let _ = pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await;
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
