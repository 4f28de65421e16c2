//! The integration tests of `empi-infra`, one binary (each file a module, as ripgrep and cargo
//! do): against a real moto, a real kube-apiserver, a real PostgreSQL 16, Django and nginx, set up by
//! `scripts/local-cloud setup`. `common` is the harness (docs/TESTING.md).

mod common;

mod audit;
mod aws_architecture;
mod aws_kms;
mod aws_moto;
mod checkov;
mod cli;
mod crash;
mod database_role;
mod drift;
mod evidence;
mod faults;
mod health_check;
mod history;
mod inputs;
mod k8s_workloads;
mod keycloak;
mod realistic;
mod recipes;
mod recovery;
mod redaction;
mod rotation;
mod security;
mod signals;
mod state_team;
mod target;
