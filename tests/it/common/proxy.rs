//! The fault-injecting proxy (`scripts/local_cloud/fault_proxy.py`) between empi-infra and a moto,
//! for the tests that need an endpoint that echoes, hangs or fails one action, or fails a share of
//! all requests (`--rate 0.1`: given later, it wins over the `--rate 0` set here).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::repo;

pub struct Proxy {
    child: Child,
    pub url: String,
    stats: std::path::PathBuf,
}

impl Proxy {
    /// A proxy to `target` with no random faults and `extra` arguments (`--echo GetSecretValue`,
    /// `--hang DescribeVpcs`…); its counts go to a file in `dir`.
    pub fn start(target: &str, extra: &[&str], dir: &std::path::Path) -> Proxy {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let stats = dir.join(format!("proxy-{port}.json"));
        let child = Command::new(repo().join(".local-cloud/venv/bin/python"))
            .arg(repo().join("scripts/local_cloud/fault_proxy.py"))
            .arg(port.to_string())
            .arg(target)
            .args(["--rate", "0", "--stats"])
            .arg(&stats)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(20), "the fault proxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Proxy { child, url: format!("http://127.0.0.1:{port}"), stats }
    }

    /// The proxy's counts: requests, and each fault it injected.
    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&self.stats).unwrap_or_else(|_| b"{}".to_vec()))
            .unwrap_or_default()
    }

    /// How many requests got the fault `k` (`echoed`, `hung`, `failed`…).
    pub fn count(&self, k: &str) -> u64 {
        self.stats()[k].as_u64().unwrap_or(0)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
