//! One cloud call and one wait, each within the kind's deadline: errors that may pass retried with
//! backoff, a slot of `--parallelism` held only while a call is in flight, and a wait that ends in
//! one sentence naming the resource, its state and the cloud's reason.

use super::*;

/// Waits for `op` to finish, polling with exponential backoff, printing progress.
/// When `op` on this resource must have finished: its kind's timeout (or the override), from `started`.
pub(super) fn deadline(
    ctx: &Ctx,
    r: &dyn Resource,
    op: Operation,
    started: Instant,
) -> (Instant, Duration) {
    let schema = r.schema();
    let limit = ctx.opts.timeouts.get(schema.kind).unwrap_or(&schema.timeouts).of(op);
    (started + limit, limit)
}

/// The pauses between retries of an error that may pass: growing by half each time (1 s, 1.5 s,
/// 2.25 s… up to `retry_max`), so that a retry lands soon after what it waits for is there, and
/// unbounded in number (the operation's deadline bounds them). No jitter: each resource is one
/// client, and the SDK's own retries of throttling already jitter.
pub(super) fn retry_delays(ctx: &Ctx) -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::default()
        .with_min_delay(ctx.opts.retry_min)
        .with_max_delay(ctx.opts.retry_max)
        .with_factor(1.5)
        .without_max_times()
        .build()
}

/// What a retried error is waiting for, for progress lines.
pub(super) fn waiting_for(r: &dyn Resource, e: &ProviderError) -> &'static str {
    match e.class {
        ErrorClass::Propagation => {
            r.schema().propagation_of(e).map(|p| p.waiting_for).unwrap_or("not visible yet")
        }
        ErrorClass::Throttling => "throttled",
        _ => "the endpoint failed",
    }
}

/// Runs one cloud call in a parallelism slot. An error that may pass (throttling, a transient
/// fault, something not yet propagated) is retried with backoff until the operation's deadline,
/// and each retry says what it waits for; any other error, or one past the deadline, ends the step.
#[allow(clippy::too_many_arguments)]
pub(super) async fn call<T, F, Fut>(
    ctx: &Ctx,
    r: &dyn Resource,
    address: &str,
    what: &'static str,
    op: Operation,
    started: Instant,
    retry: bool,
    mut f: F,
) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ProviderResult<T>>,
{
    let (until, _) = deadline(ctx, r, op, started);
    let mut delays = retry_delays(ctx);
    loop {
        let result = {
            let _slot = ctx.slots.acquire().await.expect("semaphore open");
            // a change not yet sent when a stop came (this step waited for a slot) is not sent:
            // after Ctrl-C nothing new is created, changed or deleted
            if matches!(what, "create" | "update" | "delete")
                && ctx.opts.stop.load(Ordering::SeqCst)
            {
                return Err(StepError::NotSent(address.to_string()));
            }
            // a run that lost its state lock (broken, or its lease passed while it was paused)
            // sends nothing more: another run may be applying the same stack
            ctx.writer.fence()?;
            f().await
        };
        let e = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let now = Instant::now();
        if !retry || !e.class.retryable() || now >= until || ctx.opts.stop.load(Ordering::SeqCst) {
            return Err(provider(address, what)(e));
        }
        ctx.progress.line(&format!(
            "{address}: {}, retrying… [{}] ({e})",
            waiting_for(r, &e),
            format_duration(started.elapsed())
        ));
        let pause =
            delays.next().unwrap_or(ctx.opts.retry_max).min(until.saturating_duration_since(now));
        tokio::time::sleep(pause).await;
    }
}

/// Waits for `op` to finish, polling with exponential backoff, printing progress, until the kind's
/// timeout for `op` has passed: then the step fails naming the state it is stuck in.
pub(super) async fn wait_for(
    ctx: &Ctx,
    r: &dyn Resource,
    address: &str,
    id: &str,
    op: Operation,
    attrs: &Attrs,
    started: Instant,
) -> Result<(), StepError> {
    let (until, limit) = deadline(ctx, r, op, started);
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(ctx.opts.poll_min)
        .with_max_delay(ctx.opts.poll_max)
        .with_factor(1.5)
        .without_max_times()
        .build();
    let mut last_progress = Instant::now();
    loop {
        if ctx.opts.stop.load(Ordering::SeqCst) {
            return Err(StepError::Interrupted(address.to_string()));
        }
        let readiness =
            call(ctx, r, address, "waiting", op, started, true, || r.wait(id, op, attrs)).await?;
        let Readiness::Pending(status) = readiness else { return Ok(()) };
        let now = Instant::now();
        if now >= until {
            let e = ProviderError::coded(
                "Timeout",
                format!(
                    "{id} is still {status} after {} (the {} timeout of {}); see why in the cloud's console or events, then apply again",
                    format_duration(limit),
                    match op {
                        Operation::Create => "create",
                        Operation::Update => "update",
                        Operation::Delete => "delete",
                    },
                    r.schema().kind
                ),
            );
            return Err(provider(address, "waiting")(e));
        }
        if last_progress.elapsed() >= ctx.opts.progress_every {
            last_progress = now;
            ctx.progress.line(&format!(
                "{address}: still {}… [{}] ({status})",
                op.progressive(),
                format_duration(started.elapsed())
            ));
        }
        tokio::time::sleep(
            delays.next().unwrap_or(ctx.opts.poll_max).min(until.saturating_duration_since(now)),
        )
        .await;
    }
}
