//! Test harness: a private moto server per test, the empi-infra binary run as a
//! user runs it, and AWS SDK clients that check results through the AWS API.

#![allow(dead_code)]

pub mod cluster;
pub mod postgres;
pub mod proxy;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for a run it started to reach the point the test acts on (a lock held, a
/// database being created, a call hung): a guard against a hang, not a speed check. An idle machine
/// needs under 10 s; two copies of the suite side by side beside a release build once needed over
/// 60 s.
pub const PROGRESS_GUARD: Duration = Duration::from_secs(300);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A moto server on a free loopback port, stopped on drop.
pub struct Moto {
    process: MotoProcess,
    pub url: String,
    pub log: PathBuf,
    /// Where moto's recorder writes each request once [`Moto::record`] started it.
    pub recording: PathBuf,
}

impl Moto {
    pub fn start() -> Moto {
        let python = repo().join(".local-cloud/venv/bin/python");
        assert!(
            python.exists(),
            "moto is not installed: run `scripts/local-cloud setup` (scripts/test does it for you)"
        );
        // a free port can be taken by a parallel test before moto binds it: then this moto exits,
        // and another port is tried (answering on the port is not enough: it may be the other moto)
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let log_path = std::env::temp_dir()
                .join(format!("empi-moto-{}-{n}-{port}.log", std::process::id()));
            let log = std::fs::File::create(&log_path).unwrap();
            let recording = log_path.with_extension("recording");
            let mut process = match MotoProcess::fork(port, &log_path, &recording) {
                Some(forked) => forked,
                None => MotoProcess::Child(
                    Command::new(&python)
                        .arg(repo().join("scripts/local_cloud/moto_server.py"))
                        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
                        .env("MOTO_RECORDER_FILEPATH", &recording)
                        .stdout(log.try_clone().unwrap())
                        .stderr(log)
                        .spawn()
                        .expect("start moto"),
                ),
            };
            let url = format!("http://127.0.0.1:{port}");
            let bound = format!("Running on {url}");
            let t0 = Instant::now();
            loop {
                if process.exited() {
                    break; // the port was taken: try another
                }
                if std::fs::read_to_string(&log_path).unwrap_or_default().contains(&bound)
                    && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                {
                    return Moto { process, url, log: log_path, recording };
                }
                if t0.elapsed() > Duration::from_secs(60) {
                    // not left running behind the failed test
                    process.stop();
                    panic!(
                        "moto did not start on {url} within 60 s; its log: {}",
                        log_path.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("moto could not bind a free port five times");
    }

    /// How many API requests moto has answered so far (its request log).
    /// moto's process id (to pause it with SIGSTOP, as a hung endpoint).
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.contains("\" ")
                    && (l.contains("\"GET ")
                        || l.contains("\"POST ")
                        || l.contains("\"PUT ")
                        || l.contains("\"HEAD ")
                        || l.contains("\"DELETE "))
                    && !l.contains("/moto-api/")
            })
            .count()
    }

    /// Starts moto's request recorder afresh: from now on [`Moto::operations`] names every AWS
    /// operation moto receives.
    pub fn record(&self) {
        for path in ["/moto-api/recorder/reset-recording", "/moto-api/recorder/start-recording"] {
            let answer = self.post(path, "");
            assert!(
                answer.starts_with("HTTP/1.1 2") || answer.starts_with("HTTP/1.0 2"),
                "{answer}"
            );
        }
    }

    /// The AWS operations moto received since [`Moto::record`], in order, from its recorder: the
    /// `X-Amz-Target` of JSON protocols (`CreateUserPool`), the `Action` of query protocols
    /// (`CreateVpc`), else the method and path of REST protocols (`POST /clusters`).
    pub fn operations(&self) -> Vec<String> {
        use base64::Engine;
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let r: serde_json::Value = serde_json::from_str(l).unwrap();
                let header = |name: &str| {
                    r["headers"]
                        .as_object()
                        .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                        .and_then(|(_, v)| v.as_str())
                };
                if let Some(target) = header("X-Amz-Target") {
                    return target.rsplit('.').next().unwrap().to_string();
                }
                let body = r["body"].as_str().unwrap_or_default();
                let body = if r["body_encoded"].as_bool() == Some(true) {
                    String::from_utf8_lossy(
                        &base64::engine::general_purpose::STANDARD.decode(body).unwrap(),
                    )
                    .into_owned()
                } else {
                    body.to_string()
                };
                if let Some(action) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
                    return action.to_string();
                }
                let url = r["url"].as_str().unwrap_or_default();
                let path = url
                    .split("://")
                    .nth(1)
                    .and_then(|u| u.find('/').map(|i| &u[i..]))
                    .unwrap_or(url);
                format!(
                    "{} {}",
                    r["method"].as_str().unwrap_or_default(),
                    path.split('?').next().unwrap()
                )
            })
            .collect()
    }

    /// Makes `model` (eks::cluster, eks::nodegroup, rds::dbinstance) stay pending for `secs`.
    pub fn slow(&self, model: &str, secs: f64) {
        let body = format!(
            r#"{{"model_name":"{model}","transition":{{"progression":"time","seconds":{secs}}}}}"#
        );
        let answer = self.post("/moto-api/state-manager/set-transition", &body);
        assert!(answer.starts_with("HTTP/1.1 2") || answer.starts_with("HTTP/1.0 2"), "{answer}");
    }

    /// Tunes the local cloud's realistic mode (scripts/local_cloud/aws/, its knobs in aws/realism.py), e.g.
    /// `{"nodegroup_delete_fails": true}`.
    pub fn realism(&self, settings: &str) {
        let answer = self.post("/moto-api/empi/realism", settings);
        assert!(answer.starts_with("HTTP/1.1 2") || answer.starts_with("HTTP/1.0 2"), "{answer}");
    }

    /// A plain HTTP POST to moto's own API; returns the whole response.
    pub fn post(&self, path: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.process.stop();
    }
}

/// A test's moto process: forked by the suite's moto zygote (`scripts/local_cloud/moto_zygote.py`,
/// which `scripts/test` starts and names in `EMPI_TEST_MOTO_ZYGOTE`), or started here. Either way
/// a fresh server of the test's own; forked ones skip Python's start-up and botocore's model
/// loading, about four CPU-seconds each (docs/TESTING.md).
enum MotoProcess {
    Child(Child),
    Forked(u32),
}

impl MotoProcess {
    /// Asks the zygote for a server on `port`; `None` when there is no zygote (a plain
    /// `cargo test`) or it does not answer, so the test starts its own.
    fn fork(port: u16, log: &Path, recording: &Path) -> Option<MotoProcess> {
        use std::io::{BufRead, Write};
        let socket = std::env::var_os("EMPI_TEST_MOTO_ZYGOTE")?;
        let ask = || -> std::io::Result<u32> {
            let mut s = std::os::unix::net::UnixStream::connect(&socket)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            let request = serde_json::json!({"port": port, "log": log, "owner": std::process::id(),
                "env": {"MOTO_RECORDER_FILEPATH": recording, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}});
            writeln!(s, "{request}")?;
            let mut line = String::new();
            std::io::BufReader::new(s).read_line(&mut line)?;
            let answer: serde_json::Value =
                serde_json::from_str(&line).map_err(std::io::Error::other)?;
            answer["pid"]
                .as_u64()
                .map(|p| p as u32)
                .ok_or_else(|| std::io::Error::other(line.clone()))
        };
        match ask() {
            Ok(pid) => Some(MotoProcess::Forked(pid)),
            Err(e) => {
                eprintln!(
                    "the moto zygote at {socket:?} did not fork a server ({e}); starting one here"
                );
                None
            }
        }
    }

    fn pid(&self) -> u32 {
        match self {
            MotoProcess::Child(c) => c.id(),
            MotoProcess::Forked(pid) => *pid,
        }
    }

    fn exited(&mut self) -> bool {
        match self {
            MotoProcess::Child(c) => c.try_wait().unwrap().is_some(),
            // the zygote reaps its children as they exit: a pid that is gone has exited
            MotoProcess::Forked(pid) => unsafe { libc::kill(*pid as i32, 0) != 0 },
        }
    }

    fn stop(&mut self) {
        match self {
            MotoProcess::Child(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            MotoProcess::Forked(pid) => {
                // a paused server (a test's SIGSTOP) dies of SIGKILL too
                unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
                let t0 = Instant::now();
                while !self.exited() && t0.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

/// One user's working directory: a stack file and its state, next to a moto and the test
/// binary's Kubernetes cluster (in a namespace of its own, with a node that runs every pod).
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub moto: Moto,
    pub cluster: cluster::Cluster,
    node: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(n) = self.node.take() {
            n.abort();
        }
    }
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// What a finished run said, and its exit code (-1 when a signal ended it).
    pub fn of(out: std::process::Output) -> Output {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

impl Workspace {
    /// A workspace with `stacks/local.toml` as `stack.toml`, each `(from, to)` replaced in it.
    pub fn new(edits: &[(&str, &str)]) -> Workspace {
        Self::with_node(edits, cluster::Node::default())
    }

    /// A workspace whose node behaves as `node` says (a failing job, slow pods…).
    pub fn with_node(edits: &[(&str, &str)], node: cluster::Node) -> Workspace {
        let cluster = cluster::Cluster::start();
        let kubeconfig = cluster.kubeconfig.clone();
        let handle = tokio::spawn(async move {
            let kc = ::kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
            let conf =
                ::kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
            node.run(::kube::Client::try_from(conf).unwrap(), "tuva-empi").await;
        });
        let w = Workspace {
            dir: tempfile::tempdir().unwrap(),
            moto: Moto::start(),
            cluster,
            node: Some(handle),
        };
        w.write_stack(edits);
        w
    }

    pub fn write_stack(&self, edits: &[(&str, &str)]) {
        let mut src = std::fs::read_to_string(repo().join("stacks/local.toml")).unwrap();
        for (from, to) in edits {
            assert!(src.contains(from), "stacks/local.toml has no {from:?}");
            src = src.replace(from, to);
        }
        std::fs::write(self.stack(), src).unwrap();
    }

    /// How many resources the blueprint makes of this workspace's stack.
    #[allow(dead_code)]
    pub fn resource_count(&self) -> usize {
        let src = std::fs::read_to_string(self.stack()).unwrap();
        empi_engine::blueprint::expand(
            &empi_engine::stack::Stack::parse("stack.toml", &src).unwrap(),
            "ACCOUNT",
        )
        .len()
    }

    pub fn stack(&self) -> PathBuf {
        self.dir.path().join("stack.toml")
    }

    /// The stack file as empi-infra reads it.
    pub fn parsed_stack(&self) -> empi_engine::stack::Stack {
        empi_engine::stack::Stack::load(&self.stack()).expect("the test's stack is valid")
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.path().join("state/empi-local.json")
    }

    /// `empi-infra ARGS --stack …` as a user in this workspace runs it, not yet started (for runs
    /// a test interrupts or lets run in the background).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .arg("--stack")
            .arg(self.stack())
            .current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.moto.url)
            .env("EMPI_INFRA_KUBECONFIG", &self.cluster.kubeconfig)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run_in(self.dir.path(), &self.moto.url, &self.cluster.kubeconfig, &self.stack(), args)
    }

    /// `empi-infra ARGS --stack …` run with the access key `(id, secret)` of an IAM user, not the
    /// account's root: the local cloud's realistic mode then checks that user's own policies
    /// where AWS checks permissions beside a call.
    #[allow(dead_code)]
    pub fn run_as(&self, key: (&str, &str), args: &[&str]) -> Output {
        Output::of(
            self.command(args)
                .env_remove("AWS_PROFILE")
                .env_remove("EMPI_INFRA_STATE_DIR")
                .env("AWS_ACCESS_KEY_ID", key.0)
                .env("AWS_SECRET_ACCESS_KEY", key.1)
                .output()
                .unwrap(),
        )
    }

    pub fn ok(&self, args: &[&str]) -> Output {
        let o = self.run(args);
        assert_eq!(o.code, 0, "empi-infra {args:?} failed: {o:?}");
        o
    }

    /// The state as empi-infra reads it (the document and its journal).
    pub fn state(&self) -> serde_json::Value {
        let st =
            empi_engine::state::LocalBackend::new(&self.dir.path().join("state"), "empi-local")
                .load()
                .unwrap();
        serde_json::to_value(st).unwrap()
    }

    pub async fn aws(&self) -> Aws {
        aws(&self.moto.url).await
    }
}

/// The empi-infra binary under test (integration tests get it from cargo; benchmarks use the
/// debug build).
pub fn bin() -> PathBuf {
    option_env!("CARGO_BIN_EXE_empi-infra")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/debug/empi-infra"))
}

pub fn run_in(
    dir: &Path,
    endpoint: &str,
    kubeconfig: &Path,
    stack: &Path,
    args: &[&str],
) -> Output {
    let out = Command::new(bin())
        .env("EMPI_INFRA_KUBECONFIG", kubeconfig)
        .args(args)
        .arg("--stack")
        .arg(stack)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("AWS_PROFILE")
        .env_remove("EMPI_INFRA_STATE_DIR")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Output::of(out)
}

/// AWS clients against the test's moto, to check results through the API: the product's own
/// (`empi_infra::aws::Clients`), configured as a user's run against a loopback endpoint is.
pub type Aws = empi_infra::aws::Clients;

/// [`Aws`] for the moto at `url`, in us-east-1.
pub async fn aws(url: &str) -> Aws {
    aws_in(url, "us-east-1").await
}

/// [`Aws`] for the moto at `url`, in `region`.
pub async fn aws_in(url: &str, region: &str) -> Aws {
    empi_infra::aws::Clients::new(&empi_infra::aws::Target {
        region: region.into(),
        endpoint_url: Some(url.into()),
    })
    .await
}

/// The config document as Tuva EMPI will read it.
pub async fn config(aws: &Aws, name: &str) -> serde_json::Value {
    let r = aws.secrets.get_secret_value().secret_id(name).send().await.unwrap();
    serde_json::from_str(r.secret_string().unwrap()).unwrap()
}

/// EC2 filter helper.
pub fn filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder().name(name).values(value).build()
}

/// How many VPCs the local stack `empi-local` has (0: a refused plan or apply made nothing).
#[allow(dead_code)]
pub async fn stack_vpcs(aws: &Aws) -> usize {
    aws.ec2
        .describe_vpcs()
        .filters(filter("tag:empi-infra:stack", "empi-local"))
        .send()
        .await
        .unwrap()
        .vpcs()
        .len()
}

/// A policy document as IAM returns it (URL-encoded JSON).
pub fn policy(doc: &str) -> serde_json::Value {
    serde_json::from_str(&urlencoding::decode(doc).unwrap()).unwrap()
}

/// A webhook receiver for one POST: its URL, and the body it received.
pub fn webhook() -> (String, std::thread::JoinHandle<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
        let mut len = 0;
        loop {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
            if line.to_ascii_lowercase().starts_with("content-length:") {
                len = line[15..].trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        std::io::Read::read_exact(&mut reader, &mut body).unwrap();
        std::io::Write::write_all(&mut s, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .unwrap();
        String::from_utf8(body).unwrap()
    });
    (url, server)
}
