//! One module per command, each over a [`crate::session::Session`].

pub mod apply;
pub mod check;
pub mod completions;
pub mod db;
pub mod destroy;
pub mod drift;
pub mod evidence;
pub mod history;
pub mod iam_policy;
pub mod output;
pub mod plan;
pub mod rotate;
pub mod schema;
pub mod show;
pub mod state;
pub mod validate;

use anyhow::Result;
use empi_engine::ops;

use crate::session::Session;

/// A full plan of the session's stack over `state`.
pub(crate) async fn plan_of(
    session: &Session,
    cloud: &crate::session::Connected,
    state: &empi_engine::state::State,
    parallelism: usize,
) -> Result<empi_engine::plan::Plan> {
    let g = session.graph(&cloud.account)?;
    Ok(ops::make_targeted_plan(
        &g,
        &cloud.registry,
        state,
        true,
        parallelism,
        &session.stack.digest,
        &[],
    )
    .await?)
}

/// The addresses a plan changes, for a message; `None` when it changes nothing.
pub(crate) fn pending(plan: &empi_engine::plan::Plan) -> Option<String> {
    let what: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action != empi_engine::plan::Action::NoOp)
        .map(|c| c.address.as_str())
        .collect();
    (!what.is_empty()).then(|| what.join(", "))
}
