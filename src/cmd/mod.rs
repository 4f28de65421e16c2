//! One module per command, each over a [`crate::session::Session`].

pub mod apply;
pub mod check;
pub mod completions;
pub mod db;
pub mod destroy;
pub mod drift;
pub mod history;
pub mod iam_policy;
pub mod output;
pub mod plan;
pub mod schema;
pub mod show;
pub mod state;
pub mod validate;
