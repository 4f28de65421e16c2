//! One module per command, each over a [`crate::session::Session`].

pub mod apply;
pub mod drift;
pub mod output;
pub mod plan;
pub mod show;
pub mod state;
pub mod validate;
