//! Bad input and hostile input: no panic, no hang, no unbounded read. Stack files, kubeconfigs and
//! plan files from a FIFO, /dev/zero or a huge file; settings out of range; a closed stdout; a
//! full disk (issues #17 and #24).

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::cli::{empi, one_json_object, prod_plan, repo};

// --- issue #17: no panics, input limits ----------------------------------------------------------

#[test]
fn drift_every_0s_is_refused_at_parse_time_not_a_panic() {
    let t0 = Instant::now();
    let (code, out, err) = empi(&["drift", "--every", "0s", "-s", "stacks/local.toml"], &repo());
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("invalid value '0s' for '--every <DURATION>': the interval must be at least 1m: each run reads every resource of the stack (some 90 AWS calls); e.g. 15m or 1h"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    let (code, _, err) = empi(
        &["drift", "--every", "15m", "--print-iam-policy", "-s", "stacks/local.toml"],
        &repo(),
    );
    assert_eq!(code, 0, "a positive interval is accepted: {err}");
}

/// Runs empi-infra with a stdout whose reader is already gone: every write fails with EPIPE.
fn into_a_closed_pipe(mut c: Command) -> (i32, String) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    unsafe { libc::close(fds[0]) };
    let write_end =
        unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
    let o = c
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into())
}

#[test]
fn validate_graph_schema_and_completions_into_a_closed_pipe_end_quietly_with_status_0() {
    for args in [
        &["validate"][..],
        &["graph"],
        &["schema"],
        &["completions", "bash"],
        &["drift", "--print-iam-policy"],
    ] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_empi-infra"));
        c.args(args)
            .args(["-s", "stacks/local.toml"])
            .current_dir(repo())
            .env_remove("EMPI_INFRA_STACK");
        let (code, err) = into_a_closed_pipe(c);
        assert_eq!((code, err.as_str()), (0, ""), "{args:?}");
    }
}

#[test]
fn plan_into_a_closed_pipe_ends_quietly_with_status_0_and_releases_the_lock() {
    let moto = common::Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = into_a_closed_pipe(plan_command(&moto, dir.path(), &["plan"]));
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(!dir.path().join("state/empi-local.lock").exists(), "the lock was left behind");
    // and a plan that is read to the end still works
    let o = plan_command(&moto, dir.path(), &["plan", "--detailed-exitcode"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `empi-infra ARGS` for `stacks/local.toml` against `moto`, in `dir`.
fn plan_command(moto: &common::Moto, dir: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_empi-infra"));
    c.args(args)
        .arg("--stack")
        .arg(repo().join("stacks/local.toml"))
        .current_dir(dir)
        .env_remove("EMPI_INFRA_STACK")
        .env_remove("EMPI_INFRA_STATE_DIR")
        .env_remove("AWS_PROFILE")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdin(Stdio::null());
    c
}

/// Names in `dir` that look like a temp file.
fn temp_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect()
}

#[test]
fn plan_out_a_directory_is_refused_and_leaves_no_dir_tmp() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plans")).unwrap();
    let stack = repo().join("stacks/local.toml");
    let t0 = Instant::now();
    let (code, out, err) =
        empi(&["plan", "--out", "plans", "-s", stack.to_str().unwrap()], dir.path());
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("--out plans is a directory, but a plan is saved to a file; name a file, e.g. --out plans/plan.json"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5), "refused before the refresh");
    assert_eq!(temp_files(dir.path()), Vec::<String>::new());
    let (code, out, _) =
        empi(&["plan", "--json", "--out", "plans", "-s", stack.to_str().unwrap()], dir.path());
    assert_eq!(code, 1);
    assert_eq!(one_json_object(&out)["error"]["fix"], "name a file, e.g. --out plans/plan.json");
}

#[test]
fn plan_out_on_a_full_disk_leaves_no_temp_file_and_prints_no_plan() {
    use std::os::unix::process::CommandExt;
    let moto = common::Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let mut c = plan_command(&moto, dir.path(), &["plan", "--json", "--out", "local.plan"]);
    // a file may not grow past 16 KiB, as on a full disk (the lock file fits, the plan does not)
    unsafe {
        c.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: 16 << 10, rlim_max: 16 << 10 };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}{}", String::from_utf8_lossy(&o.stderr));
    let v = one_json_object(&out);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot write the plan file local.plan: "),
        "{v}"
    );
    assert_eq!(temp_files(dir.path()), Vec::<String>::new());
    assert!(!dir.path().join("local.plan").exists());
}

#[test]
fn a_stack_from_a_fifo_dev_zero_or_a_huge_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stack.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::fs::write(dir.path().join("huge.toml"), vec![b'#'; 2 << 20]).unwrap();
    for (stack, says) in [
        (fifo.to_str().unwrap(), "it is a FIFO (named pipe), not a regular file"),
        ("/dev/zero", "it is a character device, not a regular file"),
        ("huge.toml", "it is larger than 1 MiB"),
    ] {
        let t0 = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_empi-infra"))
            .args(["validate", "-s", stack])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        while child.try_wait().unwrap().is_none() {
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("--stack {stack} hangs");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stack}: {err}");
        assert!(
            err.contains(&format!("{stack}:0:0: cannot read the stack file: {says}")),
            "{stack}: {err}"
        );
        assert!(err.contains("fix: pass the stack file itself"), "{stack}: {err}");
    }
}

// --- issue #24: inputs --------------------------------------------------------------------------

/// What a finished run of empi-infra showed, how long it took and the most memory it held.
struct Measured {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
    max_rss_mb: i64,
}

/// Runs `c` (in `dir`, no AWS endpoint set, no stack from the environment), killing it after
/// `limit`: a run still going then is a failure of the test.
fn measured(mut c: Command, limit: Duration) -> Measured {
    let t0 = Instant::now();
    let mut child = c
        .env_remove("EMPI_INFRA_STACK")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4 on this child alone: its own peak resident memory, not that of other tests' children
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert_eq!(r, 0, "wait4: {}", std::io::Error::last_os_error());
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{c:?} was still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t0.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    Measured { code, stdout, stderr, took, max_rss_mb: usage.ru_maxrss / 1024 }
}

/// `empi-infra ARGS` in `dir`, with the environment of a shell that set no AWS endpoint.
fn bare(args: &[&str], dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_empi-infra"));
    c.args(args).current_dir(dir);
    for v in [
        "EMPI_INFRA_KUBECONFIG",
        "EMPI_INFRA_REQUEST_TIMEOUT",
        "EMPI_INFRA_TODAY",
        "EMPI_INFRA_STATE_DIR",
    ] {
        c.env_remove(v);
    }
    c
}

#[test]
fn a_kubeconfig_from_dev_zero_or_a_fifo_fails_plan_at_once_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("kubeconfig.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::fs::write(dir.path().join("huge.yaml"), vec![b'#'; 2 << 20]).unwrap();
    let stack = repo().join("stacks/local.toml");
    for (kubeconfig, says) in [
        ("/dev/zero", "it is a character device, not a regular file"),
        (fifo.to_str().unwrap(), "it is a FIFO (named pipe), not a regular file"),
        (
            "huge.yaml",
            "it is larger than 1 MiB (a limit that stops a wrong path from filling memory)",
        ),
    ] {
        let mut c = bare(&["plan", "-s", stack.to_str().unwrap()], dir.path());
        // a closed port: were the kubeconfig not read first, the run would fail on AWS instead
        c.env("EMPI_INFRA_KUBECONFIG", kubeconfig).env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
        let r = measured(c, Duration::from_secs(20));
        assert_eq!(r.code, 1, "{kubeconfig}: {}{}", r.stdout, r.stderr);
        assert_eq!(
            r.stderr.trim_end(),
            format!("error: cannot read the kubeconfig {kubeconfig} (EMPI_INFRA_KUBECONFIG): {says}; set EMPI_INFRA_KUBECONFIG to a kubeconfig file (as `kubectl config view --raw` prints one), or unset it to reach the stack's EKS cluster")
        );
        assert!(r.took < Duration::from_secs(5), "{kubeconfig}: took {:?}", r.took);
        assert!(r.max_rss_mb < 200, "{kubeconfig}: held {} MB", r.max_rss_mb);
        assert!(!dir.path().join("state/empi-local.lock").exists(), "the lock was left behind");
    }
    // the stack's [target] kubeconfig is read the same way, and a file it names too
    let src = std::fs::read_to_string(&stack).unwrap();
    assert!(
        src.contains("kubeconfig = \".local-cloud/kubeconfig\""),
        "stacks/local.toml names the local cloud's kubeconfig"
    );
    std::fs::write(
        dir.path().join("s.toml"),
        src.replace("kubeconfig = \".local-cloud/kubeconfig\"", "kubeconfig = \"kube.yaml\""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kube.yaml"),
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:9\n    certificate-authority: kubeconfig.fifo\n",
    )
    .unwrap();
    let mut c = bare(&["plan", "--json", "-s", "s.toml"], dir.path());
    c.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    let r = measured(c, Duration::from_secs(20));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v = one_json_object(&r.stdout);
    assert_eq!(
        v["error"]["message"],
        format!(
            "the kubeconfig kube.yaml ([target] kubeconfig) names {} as the certificate authority of cluster \"c\", which cannot be read: it is a FIFO (named pipe), not a regular file",
            std::path::Path::new("").join("kubeconfig.fifo").display()
        )
    );
    assert_eq!(v["error"]["fix"], "set [target] kubeconfig to a kubeconfig file (as `kubectl config view --raw` prints one), or remove it to reach the stack's EKS cluster");
}

#[test]
fn a_request_timeout_that_is_no_duration_in_range_is_refused_before_any_cloud_call() {
    let dir = tempfile::tempdir().unwrap();
    let stack = repo().join("stacks/local.toml");
    for (value, why) in [
        ("abc", "is not a duration (expected number at 0)"),
        ("NaN", "is not a duration (expected number at 0)"),
        ("-1s", "is not a duration (expected number at 0)"),
        ("0s", "is shorter than 1s"),
        ("2h", "is longer than 1h"),
    ] {
        for args in [&["plan"][..], &["drift"], &["output"], &["state", "list"]] {
            let mut c = bare(args, dir.path());
            c.args(["-s", stack.to_str().unwrap()])
                .env("EMPI_INFRA_REQUEST_TIMEOUT", value)
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
            let r = measured(c, Duration::from_secs(20));
            assert_eq!(r.code, 1, "{args:?} {value}: {}{}", r.stdout, r.stderr);
            assert_eq!(
                r.stderr.trim_end(),
                format!("error: EMPI_INFRA_REQUEST_TIMEOUT={value:?} {why}; fix: set a duration from 1s to 1h, e.g. EMPI_INFRA_REQUEST_TIMEOUT=2s, or unset it"),
                "{args:?}"
            );
        }
    }
    let mut c = bare(&["plan", "--json", "-s", stack.to_str().unwrap()], dir.path());
    c.env("EMPI_INFRA_REQUEST_TIMEOUT", "0s");
    let r = measured(c, Duration::from_secs(20));
    assert_eq!(
        one_json_object(&r.stdout)["error"],
        json!({"message": "EMPI_INFRA_REQUEST_TIMEOUT=\"0s\" is shorter than 1s", "fix": "set a duration from 1s to 1h, e.g. EMPI_INFRA_REQUEST_TIMEOUT=2s, or unset it", "location": null})
    );
}

#[test]
fn a_today_that_is_no_day_of_the_calendar_is_refused_not_ignored() {
    for (value, why) in [
        ("2026-02-30", "is not a date: 2026-02 has 28 days"),
        ("tomorrow", "is not a date written YYYY-MM-DD"),
    ] {
        for args in [&["validate"][..], &["graph"], &["plan"], &["check"]] {
            let mut c = bare(args, &repo());
            c.args(["-s", "stacks/local.toml"])
                .env("EMPI_INFRA_TODAY", value)
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
            let r = measured(c, Duration::from_secs(20));
            assert_eq!(r.code, 1, "{args:?} {value}: {}{}", r.stdout, r.stderr);
            assert_eq!(
                r.stderr.trim_end(),
                format!("error: EMPI_INFRA_TODAY={value:?} {why}; fix: set a day written YYYY-MM-DD, e.g. EMPI_INFRA_TODAY=2026-11-27, or unset it for today's date"),
                "{args:?}"
            );
        }
    }
    let mut c = bare(&["validate", "-s", "stacks/local.toml"], &repo());
    c.env("EMPI_INFRA_TODAY", "2028-02-29");
    let r = measured(c, Duration::from_secs(20));
    assert_eq!(r.code, 0, "a leap day is a day: {}", r.stderr);
}

#[test]
fn drift_every_under_a_minute_is_refused_against_aws() {
    // below a second: refused by the parser, whatever the endpoint
    for every in ["1ns", "500ms"] {
        let (code, out, err) =
            empi(&["drift", "--every", every, "-s", "stacks/local.toml"], &repo());
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            err.contains(&format!("invalid value '{every}' for '--every <DURATION>': the interval must be at least 1m: each run reads every resource of the stack (some 90 AWS calls); e.g. 15m or 1h")),
            "{err}"
        );
    }
    // under a minute against AWS (no loopback endpoint): refused before any call
    let mut c = bare(&["drift", "--every", "30s", "-s", "stacks/example-prod.toml"], &repo());
    c.env_remove("AWS_ENDPOINT_URL");
    let r = measured(c, Duration::from_secs(10));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr.trim_end(),
        "error: --every 30s is shorter than 1m, but each run reads every resource of the stack (some 90 AWS calls); run it at most once a minute, e.g. --every 15m"
    );
    assert!(r.took < Duration::from_secs(5), "{:?}", r.took);
}

#[test]
fn a_plan_file_over_32_mib_is_refused_at_once_and_a_real_plan_is_far_below() {
    // the plan of the production example, as `plan --out` writes it (pretty JSON)
    let path = "stacks/example-prod.toml";
    let (resources, plan) = prod_plan();
    let bytes = serde_json::to_vec_pretty(&plan).unwrap().len();
    eprintln!("the plan of {path}: {bytes} bytes, {resources} resources");
    // twenty times that plan with every step an update, which carries the recorded object beside
    // the new one, still fits: the limit is far above any real plan
    assert!(
        bytes * 20 * 2 < 32 << 20,
        "the production plan is {bytes} bytes: the limit is too close to real plans"
    );

    let dir = tempfile::tempdir().unwrap();
    for size in [(32 << 20) + 1, 248_000_000] {
        // sparse: the size is what is checked first, the bytes are never read
        std::fs::File::create(dir.path().join("big.plan")).unwrap().set_len(size).unwrap();
        let r = measured(bare(&["show", "big.plan"], dir.path()), Duration::from_secs(10));
        assert_eq!(r.code, 1, "{size}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(
                "cannot read the plan file big.plan: it is larger than 32 MiB (a limit that stops a wrong path from filling memory)"
            ),
            "{size}: {}",
            r.stderr
        );
        assert_eq!(r.stderr.trim_end().lines().count(), 1, "one sentence: {}", r.stderr);
        assert!(
            r.took < Duration::from_secs(5) && r.max_rss_mb < 200,
            "{size}: {:?}, {} MB",
            r.took,
            r.max_rss_mb
        );
    }
}

/// `println!` panics on a closed stdout; commands write through `out!`/`outln!` (src/out.rs).
#[test]
fn no_command_prints_with_println_which_panics_on_a_closed_stdout() {
    let mut found = Vec::new();
    let mut dirs = vec![repo().join("src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                for (i, line) in std::fs::read_to_string(&p).unwrap().lines().enumerate() {
                    let code = line.split("//").next().unwrap();
                    if code.contains("println!(") && !code.contains("eprintln!(")
                        || code.contains("print!(") && !code.contains("eprint!(")
                    {
                        found.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "use out!/outln! (src/out.rs) instead of print!/println!:\n{}",
        found.join("\n")
    );
}
