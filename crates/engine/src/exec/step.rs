//! The steps: create (looking first for an object a crash left), update and delete, each proving
//! the live object is this stack's before touching it (`crate::ownership`), and the state written
//! after every operation.

use super::*;

/// Creates the object. A create that failed with an error that may pass is retried only when
/// nothing was made: if the cloud has it after all (a create that stopped half-way), the step fails
/// with the error and the next plan, which finds it by name, finishes it, so nothing is made twice.
pub(super) async fn create(
    ctx: &Ctx,
    r: &dyn Resource,
    c: &ResourceChange,
    name: &str,
    inputs: &Attrs,
    started: Instant,
) -> Result<String, StepError> {
    let made_nothing = || async {
        let _slot = ctx.slots.acquire().await.expect("semaphore open");
        matches!(r.find(name, &c.address, inputs).await, Ok(None))
    };
    let (until, _) = deadline(ctx, r, Operation::Create, started);
    let mut delays = retry_delays(ctx);
    loop {
        let first = call(ctx, r, &c.address, "create", Operation::Create, started, false, || {
            r.create(name, &c.address, inputs)
        })
        .await;
        match first {
            Err(StepError::Provider { source, .. })
                if source.class.retryable()
                    && Instant::now() < until
                    && !ctx.opts.stop.load(Ordering::SeqCst)
                    && made_nothing().await =>
            {
                ctx.progress.line(&format!(
                    "{}: {}, retrying… [{}] ({source})",
                    c.address,
                    waiting_for(r, &source),
                    format_duration(started.elapsed())
                ));
                let pause = delays
                    .next()
                    .unwrap_or(ctx.opts.retry_max)
                    .min(until.saturating_duration_since(Instant::now()));
                tokio::time::sleep(pause).await;
            }
            other => return other,
        }
    }
}

/// Reads the live object `id` and refuses it unless it is provably this stack's
/// (`crate::ownership`): checked again right before every update and delete, and before a create
/// takes over an object found under its name, whatever the plan (a saved one included) says.
/// `None`: the object does not exist.
#[allow(clippy::too_many_arguments)]
pub(super) async fn prove_ours(
    ctx: &Ctx,
    r: &dyn Resource,
    address: &str,
    id: &str,
    expected: &Attrs,
    found: Found,
    op: Operation,
    started: Instant,
) -> Result<Option<Observed>, StepError> {
    let observed =
        call(ctx, r, address, "read", op, started, true, || r.read(id, expected)).await?;
    if let Some(o) = &observed {
        let fix =
            if found == Found::Recorded { ownership::RECORDED_FIX } else { ownership::FOUND_FIX };
        ownership::check(
            r.schema(),
            &ctx.stack,
            ownership::expected_region(expected).as_deref(),
            address,
            id,
            o,
            found,
            fix,
        )?;
    }
    Ok(observed)
}

/// Before a create: the object may exist already although the plan did not know it (a saved plan
/// replayed after state was lost, or another run made it since). One that is provably this
/// stack's is taken over instead of made twice; anything else under the name fails the step
/// before anything is recorded or sent.
#[allow(clippy::too_many_arguments)]
pub(super) async fn look_first(
    ctx: &Ctx,
    r: &dyn Resource,
    c: &ResourceChange,
    name: &str,
    inputs: &Attrs,
    how: Found,
    started: Instant,
) -> Result<Option<(String, Observed)>, StepError> {
    let found = call(ctx, r, &c.address, "find", Operation::Create, started, true, || {
        r.find(name, &c.address, inputs)
    })
    .await?;
    let Some(id) = found else { return Ok(None) };
    Ok(prove_ours(ctx, r, &c.address, &id, inputs, how, Operation::Create, started)
        .await?
        .map(|o| (id, o)))
}

/// After a create the cloud refused for good: when its name is taken by an object that is not
/// provably this stack's (the reason it was refused), the intent is removed from state, so that
/// no later plan or destroy takes that object for this create's.
pub(super) async fn forget_intent_if_name_taken(
    ctx: &Ctx,
    r: &dyn Resource,
    c: &ResourceChange,
    name: &str,
    inputs: &Attrs,
    e: &StepError,
) -> Result<(), StepError> {
    if !matches!(e, StepError::Provider { source, .. } if source.class == ErrorClass::Permanent)
        || c.action != Action::Create
    {
        return Ok(());
    }
    let found = {
        let _slot = ctx.slots.acquire().await.expect("semaphore open");
        match r.find(name, &c.address, inputs).await {
            Ok(Some(id)) => r.read(&id, inputs).await.ok().flatten().map(|o| (id, o)),
            _ => None,
        }
    };
    let Some((id, observed)) = found else { return Ok(()) };
    let region = ownership::expected_region(inputs);
    if ownership::check(
        r.schema(),
        &ctx.stack,
        region.as_deref(),
        &c.address,
        &id,
        &observed,
        Found::ByName,
        ownership::FOUND_FIX,
    )
    .is_err()
    {
        ctx.writer
            .update(&c.address, |s| {
                s.resources.remove(&c.address);
            })
            .await?;
    }
    Ok(())
}

/// The attributes of an object taken over at apply time that differ from what the stack wants (as
/// the plan's diff compares them; a write-only one cannot be read back, so it is sent again), and
/// whether one of them forces replacement.
pub(super) fn differing(
    r: &dyn Resource,
    inputs: &Attrs,
    observed: &Observed,
) -> (Vec<String>, Option<String>) {
    let schema = r.schema();
    let mut changed = Vec::new();
    let mut forces = None;
    for (k, want) in inputs {
        let a = schema.attr(k);
        let same = !a.is_some_and(|a| a.write_only)
            && observed.attrs.get(k).is_some_and(|have| {
                crate::plan::normalize(a, want) == crate::plan::normalize(a, have)
            });
        if !same {
            if a.is_some_and(|a| a.force_new) && forces.is_none() {
                forces = Some(k.clone());
            }
            changed.push(k.clone());
        }
    }
    (changed, forces)
}

pub(super) async fn apply_step(ctx: &Ctx, c: &ResourceChange) -> Result<(), StepError> {
    let r = resource_for(ctx, c)?;
    let spec = c.spec.as_ref().ok_or_else(|| {
        StepError::Internal("plan has no spec to apply".into(), c.address.clone())
    })?;
    let inputs: Attrs = {
        let outs = ctx.outputs.lock().unwrap();
        let lookup = |a: &str, o: &str| outs.get(a).and_then(|x| x.get(o)).cloned();
        let mut m = Attrs::new();
        for (k, e) in &spec.inputs {
            let v = e.resolve(&lookup).ok_or_else(|| {
                StepError::Internal(
                    format!("input {k} refers to an output that does not exist"),
                    c.address.clone(),
                )
            })?;
            m.insert(k.clone(), v);
        }
        m
    };
    let started = Instant::now();
    let deps = spec.dependencies();
    let recorded = ctx.writer.resource(&c.address).await;
    // an object found under its name and taken over at apply time: what to change on it, and how
    // it was found
    let mut taken_over: Option<(Vec<String>, Attrs)> = None;
    let (id, op) = match (
        c.action,
        recorded
            .as_ref()
            .and_then(|r| if r.status == Status::Created { r.id.clone() } else { None }),
    ) {
        (Action::Update, Some(id)) => {
            let old = recorded.as_ref().map(|r| r.attrs.clone()).unwrap_or_default();
            let changed: Vec<String> = c.attributes.iter().map(|a| a.name.clone()).collect();
            prove_ours(
                ctx,
                r.as_ref(),
                &c.address,
                &id,
                &old,
                Found::Recorded,
                Operation::Update,
                started,
            )
            .await?;
            ctx.progress.line(&format!("{}: modifying… [id={id}]", c.address));
            call(ctx, r.as_ref(), &c.address, "update", Operation::Update, started, true, || {
                r.update(&id, &old, &inputs, &changed)
            })
            .await?;
            (id, Operation::Update)
        }
        _ => {
            // create (or resume an interrupted one): record the intent first
            let mut resumed = if c.action == Action::Create { c.id.clone() } else { None };
            // an interrupted create's intent in state, or nothing recorded at all
            let how = if recorded.as_ref().is_some_and(|r| r.status == Status::Creating) {
                Found::Intent
            } else {
                Found::ByName
            };
            match &resumed {
                // an interrupted create, or an adoption, the plan found by name: finished only
                // when it is ours
                Some(id) => {
                    prove_ours(
                        ctx,
                        r.as_ref(),
                        &c.address,
                        id,
                        &inputs,
                        how,
                        Operation::Create,
                        started,
                    )
                    .await?;
                }
                None if c.action == Action::Create => {
                    if let Some((id, observed)) =
                        look_first(ctx, r.as_ref(), c, &spec.name, &inputs, how, started).await?
                    {
                        let (changed, forces) = differing(r.as_ref(), &inputs, &observed);
                        if let Some(attr) = forces {
                            return Err(StepError::Internal(
                                format!("{id} exists already, tagged as this stack's, but its {attr} differs and a change of {attr} forces replacement; run `empi-infra plan` to see the replacement, then apply that plan"),
                                c.address.clone(),
                            ));
                        }
                        resumed = Some(id);
                        taken_over = Some((changed, observed.attrs));
                    }
                }
                None => {}
            }
            ctx.writer
                .update(&c.address, |s| {
                    if c.create_before_destroy {
                        // the old object stays until its delete step: state keeps it as deposed
                        if let Some(old) = s.resources.get(&c.address) {
                            let old = serde_json::to_value(old).expect("state serialises");
                            s.facts.insert(crate::plan::deposed_fact(&c.address), old);
                        }
                    }
                    s.resources.insert(
                        c.address.clone(),
                        ResourceState {
                            kind: c.kind.clone(),
                            name: spec.name.clone(),
                            id: resumed.clone(),
                            status: Status::Creating,
                            attrs: inputs.clone(),
                            outputs: Attrs::new(),
                            depends_on: deps.clone(),
                        },
                    );
                })
                .await?;
            let id = match resumed {
                Some(id) if taken_over.is_some() => {
                    ctx.progress.line(&format!(
                        "{}: {id} exists already, tagged as this stack's (state lost or moved since the plan?); taking it over instead of creating it again",
                        c.address
                    ));
                    id
                }
                Some(id) => {
                    ctx.progress
                        .line(&format!("{}: resuming an interrupted create [id={id}]", c.address));
                    id
                }
                None => {
                    ctx.progress.line(&format!("{}: creating…", c.address));
                    let id = match create(ctx, r.as_ref(), c, &spec.name, &inputs, started).await {
                        Ok(id) => id,
                        Err(e) => {
                            forget_intent_if_name_taken(
                                ctx,
                                r.as_ref(),
                                c,
                                &spec.name,
                                &inputs,
                                &e,
                            )
                            .await?;
                            return Err(e);
                        }
                    };
                    crate::crashpoint::hit("after-create-call");
                    ctx.writer
                        .update(&c.address, |s| {
                            if let Some(e) = s.resources.get_mut(&c.address) {
                                e.id = Some(id.clone());
                            }
                        })
                        .await?;
                    id
                }
            };
            (id, Operation::Create)
        }
    };
    wait_for(ctx, r.as_ref(), &c.address, &id, op, &inputs, started).await?;
    if let Some((changed, before)) = taken_over.filter(|(changed, _)| !changed.is_empty()) {
        // taken over: made what the stack says, from what was found
        call(ctx, r.as_ref(), &c.address, "update", Operation::Update, started, true, || {
            r.update(&id, &before, &inputs, &changed)
        })
        .await?;
        wait_for(ctx, r.as_ref(), &c.address, &id, Operation::Update, &inputs, started).await?;
    } else if c.action == Action::Create && c.id.is_some() && !c.attributes.is_empty() {
        // a resumed create may have stopped half-way (e.g. before a policy was attached or its
        // tags were set): change what the plan found live, from what it found
        let changed: Vec<String> = c.attributes.iter().map(|a| a.name.clone()).collect();
        let mut before = recorded.as_ref().map(|r| r.attrs.clone()).unwrap_or_default();
        for a in &c.attributes {
            match &a.before {
                Some(v) => before.insert(a.name.clone(), v.clone()),
                None => before.remove(&a.name),
            };
        }
        call(ctx, r.as_ref(), &c.address, "update", Operation::Update, started, true, || {
            r.update(&id, &before, &inputs, &changed)
        })
        .await?;
        wait_for(ctx, r.as_ref(), &c.address, &id, Operation::Update, &inputs, started).await?;
    }
    let observed =
        call(ctx, r.as_ref(), &c.address, "read", op, started, true, || r.read(&id, &inputs))
            .await?
            .ok_or_else(|| {
                StepError::Internal(
                    format!(
                        "{id} vanished right after it was {}",
                        if op == Operation::Create { "created" } else { "updated" }
                    ),
                    c.address.clone(),
                )
            })?;
    let took = started.elapsed().as_secs_f64();
    let key = crate::plan::duration_fact(
        &c.kind,
        if op == Operation::Create { "create" } else { "update" },
    );
    ctx.writer
        .update(&c.address, |s| {
            s.resources.insert(
                c.address.clone(),
                ResourceState {
                    kind: c.kind.clone(),
                    name: spec.name.clone(),
                    id: Some(id.clone()),
                    status: Status::Created,
                    attrs: inputs.clone(),
                    outputs: observed.outputs.clone(),
                    depends_on: deps.clone(),
                },
            );
            // how long this kind takes, for plan estimates: a moving average, so that one slow
            // run does not dominate
            let avg = s
                .facts
                .get(&key)
                .and_then(|v| v.as_f64())
                .map(|old| 0.7 * old + 0.3 * took)
                .unwrap_or(took);
            s.facts.insert(key.clone(), serde_json::json!((avg * 10.0).round() / 10.0));
        })
        .await?;
    ctx.outputs.lock().unwrap().insert(c.address.clone(), observed.outputs);
    let verb = if op == Operation::Create { "creation" } else { "modification" };
    ctx.progress.line(&format!(
        "{}: {verb} complete after {} [id={id}]",
        c.address,
        format_duration(started.elapsed())
    ));
    Ok(())
}

pub(super) async fn delete_step(ctx: &Ctx, c: &ResourceChange) -> Result<(), StepError> {
    if c.create_before_destroy || c.address.ends_with("#deposed") {
        return delete_deposed(ctx, c).await;
    }
    let r = resource_for(ctx, c)?;
    let started = Instant::now();
    let recorded = ctx.writer.resource(&c.address).await;
    let attrs = recorded.as_ref().map(|r| r.attrs.clone()).unwrap_or_default();
    // a delete the plan read as already gone (no id) sends nothing: deleting it again is not
    // harmless on AWS (a gateway endpoint's second delete fails on the routes its first removed)
    let id = if c.action == Action::Delete {
        c.id.clone()
    } else {
        c.id.clone().or(recorded.as_ref().and_then(|r| r.id.clone()))
    };
    if let Some(id) = id {
        // never another stack's object, whatever the plan or state says; an interrupted create's
        // object found by name must carry this stack's tags
        let found = match &recorded {
            Some(r) if r.id.as_deref() == Some(id.as_str()) => Found::Recorded,
            Some(r) if r.status == Status::Creating => Found::Intent,
            _ => Found::ByName,
        };
        prove_ours(ctx, r.as_ref(), &c.address, &id, &attrs, found, Operation::Delete, started)
            .await?;
        let before = recorded.as_ref().map(|r| r.status);
        ctx.writer
            .update(&c.address, |s| {
                if let Some(e) = s.resources.get_mut(&c.address) {
                    e.status = Status::Deleting;
                    e.id = Some(id.clone());
                }
            })
            .await?;
        ctx.progress.line(&format!("{}: destroying… [id={id}]", c.address));
        let refused =
            call(ctx, r.as_ref(), &c.address, "delete", Operation::Delete, started, true, || {
                r.delete(&id, &attrs)
            })
            .await
            .err();
        if let Some(e) = refused {
            // the cloud refused the delete: the resource is as it was
            ctx.writer
                .update(&c.address, |s| {
                    if let (Some(e), Some(b)) = (s.resources.get_mut(&c.address), before) {
                        e.status = b;
                    }
                })
                .await?;
            return Err(e);
        }
        wait_for(ctx, r.as_ref(), &c.address, &id, Operation::Delete, &attrs, started).await?;
        ctx.progress.line(&format!(
            "{}: destruction complete after {}",
            c.address,
            format_duration(started.elapsed())
        ));
    }
    ctx.writer
        .update(&c.address, |s| {
            s.resources.remove(&c.address);
        })
        .await?;
    ctx.outputs.lock().unwrap().remove(&c.address);
    Ok(())
}

/// Deletes the old object of a create-before-destroy replacement (recorded as the fact
/// `deposed:<address>`, while the address holds the new one), then forgets it.
pub(super) async fn delete_deposed(ctx: &Ctx, c: &ResourceChange) -> Result<(), StepError> {
    let r = resource_for(ctx, c)?;
    let started = Instant::now();
    let address = c.address.trim_end_matches("#deposed");
    let fact = crate::plan::deposed_fact(address);
    let snapshot = ctx.writer.snapshot().await;
    let old: Option<ResourceState> =
        snapshot.facts.get(&fact).and_then(|v| serde_json::from_value(v.clone()).ok());
    let attrs = old.as_ref().map(|o| o.attrs.clone()).unwrap_or_default();
    if let Some(id) = c.id.clone().or(old.and_then(|o| o.id)) {
        prove_ours(
            ctx,
            r.as_ref(),
            &c.address,
            &id,
            &attrs,
            Found::Recorded,
            Operation::Delete,
            started,
        )
        .await?;
        ctx.progress.line(&format!("{address}: destroying the replaced object… [id={id}]"));
        call(ctx, r.as_ref(), &c.address, "delete", Operation::Delete, started, true, || {
            r.delete(&id, &attrs)
        })
        .await?;
        wait_for(ctx, r.as_ref(), &c.address, &id, Operation::Delete, &attrs, started).await?;
        ctx.progress.line(&format!(
            "{address}: the replaced object was destroyed after {}",
            format_duration(started.elapsed())
        ));
    }
    ctx.writer
        .update(address, |s| {
            s.facts.remove(&fact);
        })
        .await?;
    Ok(())
}
