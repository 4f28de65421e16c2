//! The ALB's health check of the api, sent as the ALB sends it (docs/TUVA.md, known problem 5):
//! `GET /api/v1/health-check` with the target's IP and node port as Host, to the target group's
//! health check port. Against real Django (upstream's pinned version, served by gunicorn:
//! `scripts/local_cloud/django_health.py`) whose ALLOWED_HOSTS is exactly the
//! `django.allowed_hosts` empi-infra writes for `stacks/local.toml`, and real nginx running exactly
//! the health proxy's config and command that empi-infra generates, with only the listen and
//! upstream ports moved to free loopback ports. The node port and the Service's forwarding to the
//! container do not touch the request; the test checks from the specs that they lead to nginx.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::common::repo;
use empi_engine::blueprint::workloads::{HEALTH_PROXY_CONFIG_DIR, HEALTH_PROXY_PREFIX};
use empi_engine::resource::ResourceSpec;
use serde_json::Value;

/// A node's private IP as the ALB writes it in Host; nothing is ever sent to it.
const TARGET_IP: &str = "10.0.1.23";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server, stopped with SIGTERM when dropped (nginx's master then stops its workers).
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Starts `cmd` and waits until it accepts connections on `port`.
fn serve(cmd: &mut Command, port: u16, log: PathBuf) -> Server {
    let f = std::fs::File::create(&log).unwrap();
    let child = cmd
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let mut server = Server { child, log };
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = server.child.try_wait().unwrap();
        if exited.is_some() || t0.elapsed() > Duration::from_secs(20) {
            panic!(
                "{cmd:?} did not listen on {port} ({exited:?}):\n{}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// A request the way the ALB's health checker makes it; gives the status and the body.
fn request(port: u16, method: &str, path: &str, host: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: ELB-HealthChecker/2.0\r\nAccept-Encoding: gzip, compressed\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {out:?}"));
    (status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

fn get(port: u16, path: &str, host: &str) -> (u16, String) {
    request(port, "GET", path, host)
}

/// The specs empi-infra makes for `stacks/local.toml`.
fn specs() -> Vec<ResourceSpec> {
    let src = std::fs::read_to_string(repo().join("stacks/local.toml")).unwrap();
    empi_engine::blueprint::expand(
        &empi_engine::stack::Stack::parse("stacks/local.toml", &src).unwrap(),
        "ACCOUNT",
    )
}

/// An input of a spec as it is applied (references to other resources' outputs left unknown).
fn input(specs: &[ResourceSpec], address: &str, name: &str) -> Value {
    specs.iter().find(|s| s.address == address).unwrap_or_else(|| panic!("no {address}")).inputs
        [name]
        .resolve_partial(&|_, _| None)
        .0
}

fn nginx() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file());
    found.expect(
        "nginx is not installed: run `scripts/local-cloud setup` (scripts/test does it for you)",
    )
}

/// Django with `allowed_hosts`, and the health proxy in front of it; their ports.
struct Pod {
    django: u16,
    proxy: u16,
    _servers: (Server, Server),
}

fn pod(
    dir: &Path,
    name: &str,
    allowed_hosts: &Value,
    conf: &str,
    command: &[String],
    upstream: &str,
    listen: &str,
) -> Pod {
    let venv = repo().join(".local-cloud/health-venv/bin");
    assert!(
        venv.join("gunicorn").exists(),
        "Django is not installed: run `scripts/local-cloud setup` (scripts/test does it for you)"
    );
    let (django, proxy) = (free_port(), free_port());
    let django_server = serve(
        Command::new(venv.join("gunicorn"))
            .args(["--bind", &format!("127.0.0.1:{django}"), "--workers", "1", "--chdir"])
            .arg(repo().join("scripts/local_cloud"))
            .arg("django_health:application")
            .env("EMPI_ALLOWED_HOSTS", allowed_hosts.to_string()),
        django,
        dir.join(format!("{name}-django.log")),
    );

    // exactly the generated config, but for the two ports
    let prefix = dir.join(name);
    std::fs::create_dir(&prefix).unwrap();
    let conf = conf.replacen(listen, &format!("listen 127.0.0.1:{proxy};"), 1).replacen(
        upstream,
        &format!("proxy_pass http://127.0.0.1:{django};"),
        1,
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    // and the generated command, with this machine's nginx, config path and prefix
    let args: Vec<String> = command[1..]
        .iter()
        .map(|a| {
            if *a == format!("{HEALTH_PROXY_CONFIG_DIR}/nginx.conf") {
                conf_path.display().to_string()
            } else if a == HEALTH_PROXY_PREFIX {
                format!("{}/", prefix.display())
            } else {
                a.clone()
            }
        })
        .collect();
    let proxy_server =
        serve(Command::new(nginx()).args(&args), proxy, dir.join(format!("{name}-nginx.log")));
    Pod { django, proxy, _servers: (django_server, proxy_server) }
}

#[test]
fn the_albs_health_check_reaches_django_through_the_health_proxy_and_passes() {
    let t0 = Instant::now();
    let specs = specs();
    let allowed_hosts =
        input(&specs, "config.document", "document")["django"]["allowed_hosts"].clone();
    let hostname = allowed_hosts[0].as_str().unwrap().to_string();
    assert_eq!(hostname, "empi.local.test", "{allowed_hosts}");
    assert!(
        !allowed_hosts
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h.as_str().unwrap().starts_with("10.") || h == "*"),
        "{allowed_hosts}"
    );

    // the way the ALB's health check goes: target group → node port → the api Service → the proxy
    let tg = |k: &str| input(&specs, "edge.api_target_group", k);
    let (traffic_port, health_port, path) =
        (tg("port"), tg("health_check_port"), tg("health_check_path"));
    assert_eq!(
        (&path, &tg("health_check_matcher")),
        (&Value::from("/api/v1/health-check"), &Value::from("200"))
    );
    let service = input(&specs, "workloads.api_service", "manifest");
    let through = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["nodePort"] == health_port)
        .expect("a node port for the health check")
        .clone();
    let pod_spec = input(&specs, "workloads.api", "manifest")["spec"]["template"]["spec"].clone();
    let containers = pod_spec["containers"].as_array().unwrap();
    let proxy_container = containers
        .iter()
        .find(|c| c["ports"][0]["containerPort"] == through["targetPort"])
        .expect("a container on the target port");
    let api_container = containers.iter().find(|c| c["name"] == "api").unwrap();
    assert_eq!(api_container["ports"][0]["containerPort"], 8000);
    let command: Vec<String> = proxy_container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(command[0], "nginx");
    let conf = input(&specs, "workloads.api_health_proxy", "manifest")["data"]["nginx.conf"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(pod_spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["configMap"]["name"] == "api-health-proxy"));
    let listen = format!("listen {};", through["targetPort"]);
    let upstream = "proxy_pass http://127.0.0.1:8000;";
    assert_eq!((conf.matches(&listen).count(), conf.matches(upstream).count()), (1, 1), "{conf}");

    let dir = tempfile::tempdir().unwrap();
    // nginx started as root runs its workers as nobody
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let p = pod(dir.path(), "pod", &allowed_hosts, &conf, &command, upstream, &listen);
    let alb_host = |port: &Value| format!("{TARGET_IP}:{port}");
    let path = path.as_str().unwrap();

    // the problem: the ALB's check on the traffic port goes to Django, which refuses the IP as Host
    assert_eq!(
        get(p.django, path, &alb_host(&traffic_port)).0,
        400,
        "Django must refuse a host it was not given"
    );
    // (the kubelet's probe names the public host and passes)
    assert_eq!(get(p.django, path, &hostname), (200, "{}".to_string()));

    // the fix: the same check on the health check port, through the proxy, asks Django as the public host
    let (status, body) = get(p.proxy, path, &alb_host(&health_port));
    assert_eq!((status, body.as_str()), (200, "{}"), "Django's own answer");
    // and the proxy answers nothing else
    for other in ["/", "/api/v1/persons", "/api/v1/health-check/", "/person_match", "/admin/"] {
        assert_eq!(get(p.proxy, other, &alb_host(&health_port)).0, 404, "{other}");
    }
    assert_eq!(request(p.proxy, "POST", path, &alb_host(&health_port)).0, 403, "GET only");

    // what the ALB measures: median and slowest of 50 checks through the proxy
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(get(p.proxy, path, &alb_host(&health_port)).0, 200);
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "health check through the proxy: median {:?}, slowest {:?} of 50 (ALB timeout 5 s)",
        times[25], times[49]
    );
    drop(p);

    // the check still proves the host configuration: Django without the public hostname fails it
    let without: Value = allowed_hosts
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| **h != hostname.as_str())
        .cloned()
        .collect();
    let wrong = pod(dir.path(), "wrong", &without, &conf, &command, upstream, &listen);
    assert_eq!(
        get(wrong.proxy, path, &alb_host(&health_port)).0,
        400,
        "a wrong allowed_hosts makes the target unhealthy"
    );
    drop(wrong);
    println!("test time: {:?}", t0.elapsed());
}
