#![warn(missing_docs)]
//! The one resource trait every AWS and Kubernetes resource implements, the schema that tells the
//! planner which attribute changes force replacement or are secret, and the expressions that wire one
//! resource's inputs to another's outputs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Attribute values by name.
pub type Attrs = BTreeMap<String, Value>;

/// A string value that stands for a secret which empi-infra generates and keeps only in the cloud
/// (the config secret). It is what state, plans and JSON hold in place of the secret itself.
pub const SENSITIVE: &str = "(sensitive)";

/// An input value: a literal, or a reference to another resource's output, or built from those.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// A literal JSON value, used as it is.
    Lit(Value),
    /// An output of another resource: "known after apply" until that resource exists.
    Ref {
        /// The address of the resource whose output it is.
        address: String,
        /// The output's name: one of the outputs the referenced kind's [`Schema`] lists (`id`,
        /// `arn`…).
        output: String,
    },
    /// Parts joined into one string (an ARN or URL built around an id); a part that is not a
    /// string joins as its JSON text.
    Concat(Vec<Expr>),
    /// A JSON array of the items' values.
    List(Vec<Expr>),
    /// A JSON object of the values by key.
    Object(BTreeMap<String, Expr>),
    /// A JSON document written as text with references in it (e.g. an IAM policy whose condition
    /// keys contain an OIDC issuer): resolves to the parsed document.
    Json(Box<Expr>),
}

impl Expr {
    /// A literal of anything that converts to a JSON value.
    pub fn lit(v: impl Into<Value>) -> Expr {
        Expr::Lit(v.into())
    }
    /// A reference to output `output` of the resource at `address`.
    pub fn r(address: &str, output: &str) -> Expr {
        Expr::Ref { address: address.into(), output: output.into() }
    }

    /// Every resource address this expression refers to.
    pub fn refs<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Lit(_) => {}
            Expr::Ref { address, .. } => out.push(address),
            Expr::Concat(xs) | Expr::List(xs) => xs.iter().for_each(|x| x.refs(out)),
            Expr::Object(m) => m.values().for_each(|x| x.refs(out)),
            Expr::Json(x) => x.refs(out),
        }
    }

    /// The value, given the outputs known so far; `None` when it depends on an output that is not
    /// known yet ("known after apply").
    pub fn resolve(&self, outputs: &dyn Fn(&str, &str) -> Option<Value>) -> Option<Value> {
        Some(match self {
            Expr::Lit(v) => v.clone(),
            Expr::Ref { address, output } => outputs(address, output)?,
            Expr::Concat(xs) => {
                let mut s = String::new();
                for x in xs {
                    match x.resolve(outputs)? {
                        Value::String(p) => s.push_str(&p),
                        other => s.push_str(&other.to_string()),
                    }
                }
                Value::String(s)
            }
            Expr::List(xs) => {
                Value::Array(xs.iter().map(|x| x.resolve(outputs)).collect::<Option<_>>()?)
            }
            Expr::Object(m) => {
                let mut o = serde_json::Map::new();
                for (k, x) in m {
                    o.insert(k.clone(), x.resolve(outputs)?);
                }
                Value::Object(o)
            }
            Expr::Json(x) => match x.resolve(outputs)? {
                Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
                other => other,
            },
        })
    }
}

/// What a plan shows for a value that is only known once apply has created what it refers to.
pub const UNKNOWN: &str = "(known after apply)";

impl Expr {
    /// A JSON value in which every string of the form `${address.output}` is a reference
    /// (e.g. `"${config.secret.arn}"`): how Kubernetes manifests are written.
    pub fn template(v: Value) -> Expr {
        match v {
            Value::String(s) if s.starts_with("${") && s.ends_with('}') => {
                let inner = &s[2..s.len() - 1];
                match inner.rsplit_once('.') {
                    Some((address, output)) => Expr::r(address, output),
                    None => Expr::Lit(Value::String(s)),
                }
            }
            Value::Array(xs) => Expr::List(xs.into_iter().map(Expr::template).collect()),
            Value::Object(m) => {
                Expr::Object(m.into_iter().map(|(k, v)| (k, Expr::template(v))).collect())
            }
            other => Expr::Lit(other),
        }
    }

    /// Like [`Expr::resolve`], but an unknown part becomes the [`UNKNOWN`] marker so that the
    /// known parts of an object can still be shown; the flag says whether all of it was known.
    pub fn resolve_partial(&self, outputs: &dyn Fn(&str, &str) -> Option<Value>) -> (Value, bool) {
        match self {
            Expr::Object(m) => {
                let mut o = serde_json::Map::new();
                let mut complete = true;
                for (k, x) in m {
                    let (v, c) = x.resolve_partial(outputs);
                    complete &= c;
                    o.insert(k.clone(), v);
                }
                (Value::Object(o), complete)
            }
            Expr::List(xs) => {
                let mut complete = true;
                let v = xs
                    .iter()
                    .map(|x| {
                        let (v, c) = x.resolve_partial(outputs);
                        complete &= c;
                        v
                    })
                    .collect();
                (Value::Array(v), complete)
            }
            other => match other.resolve(outputs) {
                Some(v) => (v, true),
                None => (Value::String(UNKNOWN.into()), false),
            },
        }
    }
}

/// One resource the stack wants: its address, type, deterministic physical name and inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSpec {
    /// Where the resource sits in the stack (`network.vpc`,
    /// `workloads.service_account[matching-service]`): what references, state and plans key it by.
    pub address: String,
    /// The resource's kind (`aws_vpc`, `k8s_job`): the [`Schema`] it is checked against and the
    /// [`Resource`] that makes it.
    pub kind: String,
    /// Deterministic cloud name (or name tag), so the resource is found again after a crash.
    pub name: String,
    /// The input attributes by name, as expressions; references to outputs not known yet resolve
    /// at apply time.
    pub inputs: BTreeMap<String, Expr>,
    /// Ordering-only dependencies (besides those implied by references).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

impl ResourceSpec {
    /// A spec with no inputs and no extra dependencies; [`ResourceSpec::input`] and
    /// [`ResourceSpec::after`] add them.
    pub fn new(address: &str, kind: &str, name: &str) -> Self {
        ResourceSpec {
            address: address.into(),
            kind: kind.into(),
            name: name.into(),
            inputs: BTreeMap::new(),
            depends_on: vec![],
        }
    }
    /// Sets input `key` (replacing any earlier value).
    pub fn input(mut self, key: &str, e: impl Into<Expr>) -> Self {
        self.inputs.insert(key.into(), e.into());
        self
    }
    /// Orders this resource after the one at `address` without referring to its outputs.
    pub fn after(mut self, address: &str) -> Self {
        self.depends_on.push(address.into());
        self
    }
    /// [`ResourceSpec::after`] each of `addresses`.
    pub fn after_all(mut self, addresses: impl IntoIterator<Item = String>) -> Self {
        self.depends_on.extend(addresses);
        self
    }
    /// Every address this resource depends on, sorted and without repeats.
    pub fn dependencies(&self) -> Vec<String> {
        let mut v = Vec::new();
        for e in self.inputs.values() {
            e.refs(&mut v);
        }
        let mut deps: Vec<String> =
            v.into_iter().map(String::from).chain(self.depends_on.iter().cloned()).collect();
        deps.sort();
        deps.dedup();
        deps
    }
}

impl From<&str> for Expr {
    fn from(s: &str) -> Self {
        Expr::Lit(Value::String(s.into()))
    }
}
impl From<String> for Expr {
    fn from(s: String) -> Self {
        Expr::Lit(Value::String(s))
    }
}
impl From<bool> for Expr {
    fn from(b: bool) -> Self {
        Expr::Lit(Value::Bool(b))
    }
}
impl From<u32> for Expr {
    fn from(n: u32) -> Self {
        Expr::Lit(Value::from(n))
    }
}
impl From<Value> for Expr {
    fn from(v: Value) -> Self {
        Expr::Lit(v)
    }
}

/// The type of an attribute's value, checked against every spec when the graph is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A string; an [`Expr::Concat`] is one too.
    Str,
    /// A JSON boolean (the string `"true"` is not one).
    Bool,
    /// An integer (a JSON number without a fraction).
    Int,
    /// A list of strings (ids, ARNs, CIDRs…).
    Strings,
    /// A list of objects (rules, routes, actions…).
    List,
    /// A JSON object (an IAM policy document, parameters…).
    Object,
    /// Tags: an object of strings.
    Tags,
    /// Anything (a Kubernetes manifest).
    Any,
}

impl Ty {
    /// Whether `v` is a value of this type.
    pub fn accepts(self, v: &Value) -> bool {
        match self {
            Ty::Str => v.is_string(),
            Ty::Bool => v.is_boolean(),
            Ty::Int => v.is_u64() || v.is_i64(),
            Ty::Strings => v.as_array().is_some_and(|xs| xs.iter().all(Value::is_string)),
            Ty::List => v.is_array(),
            Ty::Object => v.is_object(),
            Ty::Tags => v.as_object().is_some_and(|m| m.values().all(Value::is_string)),
            Ty::Any => true,
        }
    }

    /// The type as error messages name it ("a list of strings"): what a spec's value "must be".
    pub fn name(self) -> &'static str {
        match self {
            Ty::Str => "a string",
            Ty::Bool => "a boolean",
            Ty::Int => "an integer",
            Ty::Strings => "a list of strings",
            Ty::List => "a list",
            Ty::Object => "an object",
            Ty::Tags => "a map of strings",
            Ty::Any => "any value",
        }
    }
}

/// How the planner treats one input attribute. Built with [`AttrSchema::new`] and the flag
/// methods, as the `kind!` declarations do: `AttrSchema::new("cidr_block", Ty::Str).force_new()`.
#[derive(Debug, Clone, Copy)]
pub struct AttrSchema {
    /// The attribute's name: its key in a spec's inputs and in what a read observes.
    pub name: &'static str,
    /// The type a spec's value for it must have; literal values are checked before planning.
    pub ty: Ty,
    /// A change can only be made by replacing the resource.
    pub force_new: bool,
    /// Compared as an unordered set (lists of ids, CIDRs…).
    pub set: bool,
    /// Written to the cloud but not readable back (compared against the recorded value).
    pub write_only: bool,
    /// A secret: plans, state and JSON only ever hold [`SENSITIVE`] for it.
    pub sensitive: bool,
    /// An IAM policy document (or a map of them): compared semantically, as IAM does.
    pub policy: bool,
    /// A spec may leave it out.
    pub optional: bool,
    /// Set in place while the live object has none; once set, a change (or removal) forces
    /// replacement (an EKS cluster's secrets encryption key, a Performance Insights key).
    pub set_once: bool,
}

impl AttrSchema {
    /// An attribute with no flags: required, changed in place, compared exactly as written.
    pub const fn new(name: &'static str, ty: Ty) -> Self {
        AttrSchema {
            name,
            ty,
            force_new: false,
            set: false,
            write_only: false,
            sensitive: false,
            policy: false,
            optional: false,
            set_once: false,
        }
    }
    /// Makes a change to it replace the resource (the plan shows a replace).
    pub const fn force_new(self) -> Self {
        AttrSchema { force_new: true, ..self }
    }
    /// Makes it compare as an unordered set, so a list in another order is no change.
    pub const fn set(self) -> Self {
        AttrSchema { set: true, ..self }
    }
    /// Marks it as not readable back: the diff compares it with the value state recorded.
    pub const fn write_only(self) -> Self {
        AttrSchema { write_only: true, ..self }
    }
    /// Marks it as a secret (see the `sensitive` field).
    pub const fn sensitive(self) -> Self {
        AttrSchema { sensitive: true, ..self }
    }
    /// Makes it compare as an IAM policy document, as IAM does (order and one-element lists do
    /// not count).
    pub const fn policy(self) -> Self {
        AttrSchema { policy: true, ..self }
    }
    /// Lets a spec leave it out; otherwise the graph check reports it as missing.
    pub const fn optional(self) -> Self {
        AttrSchema { optional: true, ..self }
    }
    /// Lets it be set in place while the live object has none; after that, a change or removal
    /// replaces the resource.
    pub const fn set_once(self) -> Self {
        AttrSchema { set_once: true, ..self }
    }
}

/// How long an operation may take before it is a failure (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    /// Seconds a create may take, retries and the wait until it is ready included.
    pub create: u32,
    /// Seconds an in-place update may take, retries and the wait included.
    pub update: u32,
    /// Seconds a delete may take, retries and the wait until it is gone included.
    pub delete: u32,
}

impl Timeouts {
    /// How long `op` may take, from when its step starts.
    pub fn of(&self, op: Operation) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(match op {
            Operation::Create => self.create,
            Operation::Update => self.update,
            Operation::Delete => self.delete,
        }))
    }
}

/// The IAM actions a kind needs, by what empi-infra does with it. `read` is all that `plan` and
/// `drift` need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IamActions {
    /// Actions to find and read the live object and wait on it: all `plan` and `drift` are
    /// granted.
    pub read: &'static [&'static str],
    /// Actions a create calls, those it makes right after (tags, attributes) included.
    pub create: &'static [&'static str],
    /// Actions an in-place update calls.
    pub update: &'static [&'static str],
    /// Actions a delete calls.
    pub delete: &'static [&'static str],
}

impl IamActions {
    /// No actions: what [`Schema::new`] starts with, and what the Kubernetes kinds keep (their
    /// calls go to the cluster's API, not to AWS).
    pub const NONE: IamActions = IamActions { read: &[], create: &[], update: &[], delete: &[] };

    /// Every action, read first.
    pub fn all(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.read.iter().chain(self.create).chain(self.update).chain(self.delete).copied()
    }
}

/// An error the cloud answers while something it was just told about has not reached every part of
/// it yet (an IAM role not yet assumable, an ALB still provisioning): `code`, and a part of the
/// message (empty: any message). Such errors are retried until the operation's timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Propagation {
    /// The error code the error must have (compared exactly).
    pub code: &'static str,
    /// Text the error's message must contain; empty matches any message.
    pub message: &'static str,
    /// What is being waited for, shown in progress lines.
    pub waiting_for: &'static str,
}

/// What the engine knows about a resource type: its one declaration (see `crate::kinds`).
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The kind's name (`aws_vpc`, `k8s_job`): the `kind` of specs and state, the key in the
    /// [`Registry`] and in a stack's `[timeouts.<kind>]`.
    pub kind: &'static str,
    /// Every input attribute a spec of this kind may set (and must, unless optional).
    pub attrs: &'static [AttrSchema],
    /// The outputs a read returns, which other resources may reference.
    pub outputs: &'static [&'static str],
    /// Holds data that a replacement would lose (database, user pool, bucket, secret).
    pub stateful: bool,
    /// Done once per stack and never again, whatever changes later (Tuva EMPI's `bootstrap` job):
    /// once state records it as created, the planner leaves it alone.
    pub run_once: bool,
    /// Typical seconds to create on AWS, for progress and estimates.
    pub typical_create_secs: u32,
    /// Default deadlines of create, update and delete (waits included).
    pub timeouts: Timeouts,
    /// The IAM actions its calls need; the operator and drift IAM policies are derived from them.
    pub iam: IamActions,
    /// Errors that mean "not visible yet", retried until the timeout.
    pub propagation: &'static [Propagation],
    /// A replacement creates the new object first and deletes the old one once what uses it has
    /// moved over (an RDS parameter group the database still uses cannot be deleted before).
    pub create_before_destroy: bool,
}

/// Default deadlines: long enough for anything that is ready at once or nearly.
pub const DEFAULT_TIMEOUTS: Timeouts = Timeouts { create: 600, update: 600, delete: 600 };

impl Schema {
    /// A kind with no flags, the default timeouts and no IAM actions; the `kind!` declarations
    /// chain the methods below onto it.
    pub const fn new(
        kind: &'static str,
        attrs: &'static [AttrSchema],
        outputs: &'static [&'static str],
    ) -> Self {
        Schema {
            kind,
            attrs,
            outputs,
            stateful: false,
            run_once: false,
            typical_create_secs: 5,
            timeouts: DEFAULT_TIMEOUTS,
            iam: IamActions::NONE,
            propagation: &[],
            create_before_destroy: false,
        }
    }
    /// Makes a replacement create the new object before deleting the old one.
    pub const fn create_before_destroy(self) -> Self {
        Schema { create_before_destroy: true, ..self }
    }
    /// Marks the kind as holding data: `apply` refuses to replace one without `--allow-replace`.
    pub const fn stateful(self) -> Self {
        Schema { stateful: true, ..self }
    }
    /// Makes the kind run once per stack: once created, the planner leaves it alone.
    pub const fn run_once(self) -> Self {
        Schema { run_once: true, ..self }
    }
    /// Sets the typical create time in seconds, used for estimates until the stack has measured
    /// its own.
    pub const fn typical(self, secs: u32) -> Self {
        Schema { typical_create_secs: secs, ..self }
    }
    /// Sets the default deadlines of create, update and delete, in seconds.
    pub const fn timeouts(self, create: u32, update: u32, delete: u32) -> Self {
        Schema { timeouts: Timeouts { create, update, delete }, ..self }
    }
    /// Sets the IAM actions the kind needs (written with the `iam!` macro).
    pub const fn iam(self, iam: IamActions) -> Self {
        Schema { iam, ..self }
    }
    /// Sets the errors that mean "not visible yet", retried until the operation's timeout.
    pub const fn propagation(self, propagation: &'static [Propagation]) -> Self {
        Schema { propagation, ..self }
    }

    /// The declaration of attribute `name`; `None` when the kind has no such attribute.
    pub fn attr(&self, name: &str) -> Option<&AttrSchema> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// The propagation error `e` is, if it is one.
    pub fn propagation_of(&self, e: &ProviderError) -> Option<&'static Propagation> {
        self.propagation
            .iter()
            .find(|p| e.code.as_deref() == Some(p.code) && e.message.contains(p.message))
    }
}

/// What a read of the live object returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Inputs as they are live, keyed like the schema's attributes.
    pub attrs: Attrs,
    /// Values other resources may reference (`id`, `arn`, `endpoint`…). Never secret.
    pub outputs: Attrs,
}

/// Whether a resource reached the state an operation waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// Done: the wait is over (for a delete, the object is gone).
    Ready,
    /// Still converging; the string is the cloud's status, shown in progress lines.
    Pending(String),
}

/// The operation a wait follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Creating the object: the wait ends when it is ready for use.
    Create,
    /// Changing it in place: the wait ends when the change has taken effect.
    Update,
    /// Deleting it: the wait ends when it is gone.
    Delete,
}

impl Operation {
    /// The operation as progress lines say it is under way: "creating", "modifying",
    /// "destroying".
    pub fn progressive(self) -> &'static str {
        match self {
            Operation::Create => "creating",
            Operation::Update => "modifying",
            Operation::Delete => "destroying",
        }
    }
}

/// What kind of failure an error is, which decides whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorClass {
    /// Trying again will fail the same way (bad input, refused, conflict).
    #[default]
    Permanent,
    /// A fault of the endpoint or the network (5xx, time-outs, resets).
    Transient,
    /// Too many requests: the cloud asks to slow down.
    Throttling,
    /// Something just made is not visible everywhere yet (see [`Propagation`]).
    Propagation,
    /// The object does not exist.
    NotFound,
    /// The object exists but is not this stack's (another stack's, or made by hand): it is never
    /// adopted, changed or deleted.
    NotOurs,
    /// The endpoint did not answer (or could not be connected to) within the request deadlines,
    /// over every attempt the provider already made: not tried again by the engine, so a silent
    /// endpoint fails the run in bounded time instead of until the kind's timeout.
    Unreachable,
}

impl ErrorClass {
    /// Trying again later may succeed.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorClass::Transient | ErrorClass::Throttling | ErrorClass::Propagation)
    }
}

/// An error from the cloud, with the provider's error code where there is one.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ProviderError {
    /// The error code (an AWS error code, a Kubernetes reason, or one the provider or engine
    /// names, e.g. `Timeout`); `None` when there is none. Propagation checks match on it.
    pub code: Option<String>,
    /// What went wrong, in the cloud's words or the provider's.
    pub message: String,
    /// What kind of failure it is, which decides whether the engine retries it.
    pub class: ErrorClass,
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(c) => write!(f, "{c}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl ProviderError {
    /// An error of the provider's own, without a code; permanent unless classed otherwise.
    pub fn new(message: impl Into<String>) -> Self {
        ProviderError { code: None, message: message.into(), class: ErrorClass::Permanent }
    }
    /// An error with the cloud's (or the provider's) error code; permanent unless classed
    /// otherwise.
    pub fn coded(code: impl Into<String>, message: impl Into<String>) -> Self {
        ProviderError {
            code: Some(code.into()),
            message: message.into(),
            class: ErrorClass::Permanent,
        }
    }
    /// The same error in `class` (e.g. an error meaning "not visible yet" classed
    /// [`ErrorClass::Propagation`]).
    pub fn with_class(self, class: ErrorClass) -> Self {
        ProviderError { class, ..self }
    }
}

/// What every call of a [`Resource`] returns.
pub type ProviderResult<T> = Result<T, ProviderError>;

/// One resource type in the cloud. Implementations hold their own clients.
///
/// The contract: `create` starts creating and returns the cloud id as soon as there is one; the
/// executor then polls `wait` (without holding a parallelism slot) and `read`s the result. Every
/// method must be safe to call again after a crash.
#[async_trait]
pub trait Resource: Send + Sync {
    /// The declaration of this type's kind: its attributes, outputs, timeouts and the rest.
    fn schema(&self) -> &'static Schema;

    /// Finds a resource this stack created under `name` (by name or the address tag), for a create
    /// whose id was never recorded because the process died. `inputs` are those recorded with the
    /// intent (e.g. the parent's id).
    async fn find(
        &self,
        name: &str,
        address: &str,
        inputs: &Attrs,
    ) -> ProviderResult<Option<String>>;

    /// Reads the live object; `None` when it no longer exists.
    async fn read(&self, id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>>;

    /// Creates the object and returns its id.
    async fn create(&self, name: &str, address: &str, inputs: &Attrs) -> ProviderResult<String>;

    /// Changes the attributes in `changed` (never one that forces replacement).
    async fn update(
        &self,
        id: &str,
        old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> ProviderResult<()>;

    /// Deletes the object (an object already gone is success).
    async fn delete(&self, id: &str, recorded: &Attrs) -> ProviderResult<()>;

    /// Whether the object reached the state `op` waits for. Defaults: ready at once, and a delete
    /// is done when `read` finds nothing.
    async fn wait(&self, id: &str, op: Operation, recorded: &Attrs) -> ProviderResult<Readiness> {
        if op == Operation::Delete {
            return Ok(match self.read(id, recorded).await? {
                None => Readiness::Ready,
                Some(_) => Readiness::Pending("deleting".into()),
            });
        }
        Ok(Readiness::Ready)
    }
}

/// Resource types by kind.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn Resource>>,
}

impl Registry {
    /// An empty registry; providers register their types in it.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a resource type under its schema's kind (replacing any earlier one of that kind).
    pub fn register(&mut self, r: Arc<dyn Resource>) {
        self.kinds.insert(r.schema().kind, r);
    }
    /// The resource type of `kind`; `None` when no provider registered it.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Resource>> {
        self.kinds.get(kind)
    }
}
