//! A real PostgreSQL 16 of the local cloud (`scripts/local_cloud/postgres.py`): the database the
//! Jobs' scripts run against, and the server an RDS instance of the realistic local cloud can be
//! (knob `rds_postgres`: its restores are PostgreSQL's point-in-time recovery).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::repo;

/// A PostgreSQL 16 server of the local cloud (`scripts/local_cloud/postgres.py`), stopped on drop.
pub struct Postgres {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub log: PathBuf,
}

pub fn python() -> PathBuf {
    repo().join(".local-cloud/venv/bin/python")
}

fn helper(args: &[&str]) -> std::process::Output {
    Command::new(python())
        .arg(repo().join("scripts/local_cloud/postgres.py"))
        .args(args)
        .output()
        .unwrap()
}

impl Postgres {
    pub fn start(master: &str, password: &str, database: &str) -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("pg");
        let bin = repo().join(".local-cloud/postgres");
        assert!(
            bin.join("bin/postgres").exists(),
            "PostgreSQL is not installed: run `scripts/local-cloud setup`"
        );
        let o = helper(&[
            "start",
            bin.to_str().unwrap(),
            data.to_str().unwrap(),
            master,
            password,
            database,
        ]);
        assert!(
            o.status.success(),
            "PostgreSQL did not start: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let info: Value = serde_json::from_slice(&o.stdout).unwrap();
        Postgres {
            port: info["port"].as_u64().unwrap() as u16,
            log: PathBuf::from(info["log"].as_str().unwrap()),
            dir,
        }
    }

    /// `sql` run as `user` over TLS: the rows, or PostgreSQL's error.
    pub fn query(&self, user: &str, password: &str, sql: &str) -> Result<Value, String> {
        query_at(self.port, user, password, sql)
    }

    pub fn ok(&self, user: &str, password: &str, sql: &str) -> Value {
        self.query(user, password, sql).unwrap_or_else(|e| panic!("{sql} as {user}: {e}"))
    }

    /// The server's data directory and the binaries' directory: what the local cloud's knob
    /// `rds_postgres` names to make an RDS instance this server.
    pub fn backing(&self) -> Value {
        serde_json::json!({
            "bin": repo().join(".local-cloud/postgres").display().to_string(),
            "data": self.dir.path().join("pg").display().to_string(),
        })
    }
}

/// `sql` run as `user` over TLS on the server at `port` (database `tuva_empi`): the rows, or
/// PostgreSQL's error.
pub fn query_at(port: u16, user: &str, password: &str, sql: &str) -> Result<Value, String> {
    let o = helper(&["query", &port.to_string(), user, password, "tuva_empi", sql]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    if o.status.success() {
        Ok(serde_json::from_str(&out).unwrap())
    } else {
        Err(format!("{out}{}", String::from_utf8_lossy(&o.stderr)))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let bin = repo().join(".local-cloud/postgres");
        helper(&["stop", bin.to_str().unwrap(), self.dir.path().join("pg").to_str().unwrap()]);
    }
}
