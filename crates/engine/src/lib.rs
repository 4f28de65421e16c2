//! empi-engine: the cloud-free core of empi-infra.
//!
//! stack file → [`blueprint`] (resources of the Tuva EMPI architecture) → [`graph`] (petgraph DAG)
//! → [`plan`] (refresh + diff: the step generator) → [`exec`] (the step executor) → [`state`].
//! Cloud resources sit behind [`resource::Resource`]; the AWS implementations live in the
//! `empi-infra` crate so that this crate builds without the AWS SDK.

pub mod arn;
pub mod blueprint;
pub mod check;
pub mod crashpoint;
pub mod drift;
pub mod eks_versions;
pub mod env;
pub mod evidence;
pub mod exec;
pub mod graph;
pub mod input;
pub mod kinds;
pub mod ops;
pub mod ownership;
pub mod plan;
pub mod redact;
pub mod resource;
pub mod stack;
pub mod stack_schema;
pub mod state;
pub mod target;
pub mod temp_path;
pub mod testing;
pub mod tuva;
pub mod upstream;
pub mod zones;
