//! Every resource kind empi-infra manages, each declared once with [`kind!`]: its typed arguments
//! (the struct the blueprint fills in, so a misspelt or missing attribute does not compile), its
//! [`Schema`] (types, force-new, set, write-only, sensitive, policy, stateful, run-once), the outputs
//! others may reference, the IAM actions it needs, its timeouts and its AWS-typical create time.
//!
//! The provider crate implements the cloud calls of each kind against these declarations; the
//! operator and drift IAM policies, the kinds table in docs and the spec checks of
//! [`crate::graph`] are all derived from them.

pub mod cognito;
pub mod eks;
pub mod elb;
pub mod iam;
pub mod k8s;
pub mod kms;
pub mod logs;
pub mod network;
pub mod rds;
pub mod routing;
pub mod s3;
pub mod secrets;
pub mod waf;

use crate::resource::Schema;

/// Minutes, for timeouts.
pub const MIN: u32 = 60;

/// Declares one resource kind: the arguments struct, its `spec` constructor and its [`Schema`].
///
/// ```text
/// kind! {
///     /// A VPC.
///     Vpc, VPC = "aws_vpc" {
///         cidr_block: Str [force_new],
///         tags: Tags,
///     }
///     optional { ... }          // Option<Expr> fields a spec may leave out
///     outputs: [id, cidr_block],
///     schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 10 * MIN).iam(...),
/// }
/// ```
#[macro_export]
macro_rules! kind {
    (
        $(#[$doc:meta])*
        $Struct:ident, $SCHEMA:ident = $kind:literal {
            $( $attr:ident : $ty:ident $([ $($flag:ident)* ])? ),* $(,)?
        }
        $( optional { $( $oattr:ident : $oty:ident $([ $($oflag:ident)* ])? ),* $(,)? } )?
        outputs: [ $($out:ident),* $(,)? ],
        schema: $(. $method:ident ( $($arg:expr),* ))* $(,)?
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $Struct {
            $( pub $attr: $crate::resource::Expr, )*
            $($( pub $oattr: Option<$crate::resource::Expr>, )*)?
        }

        #[allow(non_upper_case_globals)]
        impl $Struct {
            $( #[doc = concat!("The attribute `", stringify!($attr), "`.")] pub const $attr: &'static str = stringify!($attr); )*
            $($( #[doc = concat!("The optional attribute `", stringify!($oattr), "`.")] pub const $oattr: &'static str = stringify!($oattr); )*)?

            /// The spec of this resource at `address`, named `name` in the cloud.
            pub fn spec(self, address: &str, name: &str) -> $crate::resource::ResourceSpec {
                #[allow(unused_mut)]
                let mut s = $crate::resource::ResourceSpec::new(address, $kind, name);
                $( s.inputs.insert(stringify!($attr).into(), self.$attr); )*
                $($( if let Some(v) = self.$oattr { s.inputs.insert(stringify!($oattr).into(), v); } )*)?
                s
            }
        }

        pub static $SCHEMA: $crate::resource::Schema = $crate::resource::Schema::new(
            $kind,
            &[
                $( $crate::resource::AttrSchema::new(stringify!($attr), $crate::resource::Ty::$ty) $($( . $flag () )*)? , )*
                $($( $crate::resource::AttrSchema::new(stringify!($oattr), $crate::resource::Ty::$oty).optional() $($( . $oflag () )*)? , )*)?
            ],
            &[ $( stringify!($out) ),* ],
        ) $( . $method ( $($arg),* ) )*;
    };
}

/// IAM actions of a kind, by operation.
#[macro_export]
macro_rules! iam {
    (read: [$($r:literal),* $(,)?], create: [$($c:literal),* $(,)?], update: [$($u:literal),* $(,)?], delete: [$($d:literal),* $(,)?] $(,)?) => {
        $crate::resource::IamActions { read: &[$($r),*], create: &[$($c),*], update: &[$($u),*], delete: &[$($d),*] }
    };
}

/// Every kind, in the order of the architecture (network first, workloads last).
pub static ALL: &[&Schema] = &[
    &kms::KEY,
    &logs::LOG_GROUP,
    &network::VPC,
    &network::SUBNET,
    &network::SECURITY_GROUP,
    &network::DEFAULT_SECURITY_GROUP,
    &routing::INTERNET_GATEWAY,
    &routing::EIP,
    &routing::NAT_GATEWAY,
    &routing::ROUTE_TABLE,
    &routing::ROUTE_TABLE_ASSOCIATION,
    &routing::VPC_ENDPOINT,
    &logs::FLOW_LOG,
    &iam::ROLE,
    &iam::OIDC_PROVIDER,
    &eks::CLUSTER,
    &eks::LAUNCH_TEMPLATE,
    &eks::NODE_GROUP,
    &eks::ACCESS_ENTRY,
    &eks::ADDON,
    &rds::SUBNET_GROUP,
    &rds::PARAMETER_GROUP,
    &rds::INSTANCE,
    &rds::BACKUP_REPLICATION,
    &rds::SNAPSHOT,
    &cognito::USER_POOL,
    &cognito::DOMAIN,
    &cognito::CLIENT,
    &cognito::USER,
    &secrets::SECRET,
    &secrets::SECRET_VALUE,
    &s3::BUCKET,
    &elb::LOAD_BALANCER,
    &elb::TARGET_GROUP,
    &elb::LISTENER,
    &elb::LISTENER_RULE,
    &elb::ASG_ATTACHMENT,
    &waf::WEB_ACL,
    &waf::WEB_ACL_ASSOCIATION,
    &waf::WEB_ACL_LOGGING,
    &logs::TRAIL,
    &k8s::NAMESPACE,
    &k8s::SERVICE_ACCOUNT,
    &k8s::SERVICE,
    &k8s::CONFIG_MAP,
    &k8s::ROLE,
    &k8s::ROLE_BINDING,
    &k8s::DEPLOYMENT,
    &k8s::JOB,
    &k8s::JOB_ONCE,
    &k8s::SCALE,
    &k8s::POD_DISRUPTION_BUDGET,
];

/// The declaration of `kind`.
pub fn schema(kind: &str) -> Option<&'static Schema> {
    ALL.iter().copied().find(|s| s.kind == kind)
}

/// Actions every run needs whatever the stack holds.
pub const COMMON_READ_ACTIONS: &[&str] = &["sts:GetCallerIdentity"];

/// Actions of the operator's commands beyond what the kinds declare: `db restore-drill` restores
/// the database to a new instance (tagged as a drill), reads it and deletes it; `db restore` also
/// protects and tags the instance it replaces, untags the copy it switches to, and `--finalize`
/// deletes the replaced one after a final snapshot; `rotate db-password` moves the config secret's
/// staging labels.
pub const OPERATOR_COMMAND_ACTIONS: &[&str] = &[
    "rds:RestoreDBInstanceToPointInTime",
    "rds:AddTagsToResource",
    "rds:RemoveTagsFromResource",
    "rds:ModifyDBInstance",
    "rds:CreateDBSnapshot",
    "rds:DescribeDBInstances",
    "rds:DeleteDBInstance",
    // `rotate db-password`: the new credential staged, then made current
    "secretsmanager:UpdateSecretVersionStage",
];

/// The IAM actions of the given kinds: read only (`plan`, `drift`) or everything (`apply`,
/// `destroy`, and the operator's other commands), sorted and without repeats.
pub fn iam_actions(kinds: &[&Schema], write: bool) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = COMMON_READ_ACTIONS.to_vec();
    if write {
        v.extend(OPERATOR_COMMAND_ACTIONS);
    }
    for k in kinds {
        if write {
            v.extend(k.iam.all());
        } else {
            v.extend(k.iam.read.iter().copied());
        }
    }
    v.sort();
    v.dedup();
    v
}

/// Whose resources a policy is about: IAM roles, the OIDC provider and secrets are named by the
/// stack, so their actions are allowed on the stack's names only.
#[derive(Debug, Clone)]
pub struct Scope {
    pub partition: String,
    /// The account id, or `*` when it is not known (IAM acts only in the caller's own account).
    pub account: String,
    pub region: String,
    /// The stack's name: every role is `<stack>-…`, every secret `<stack>/…`.
    pub stack: String,
    /// Secrets the stack names that are not its own (the Keycloak client secret), read by `apply`
    /// and `drift`.
    pub user_secrets: Vec<String>,
}

impl Scope {
    /// The scope with placeholders, as docs/OPERATOR-IAM.md prints it.
    pub fn placeholders() -> Scope {
        Scope {
            partition: "aws".into(),
            account: "<account>".into(),
            region: "<region>".into(),
            stack: "<stack>".into(),
            user_secrets: Vec::new(),
        }
    }

    /// The stack's IAM roles.
    pub fn roles(&self) -> String {
        format!("arn:{}:iam::{}:role/{}-*", self.partition, self.account, self.stack)
    }

    /// The EKS clusters' OIDC providers of the stack's region (their ARNs carry EKS's id, not a name).
    pub fn oidc_providers(&self) -> String {
        format!(
            "arn:{}:iam::{}:oidc-provider/oidc.eks.{}.amazonaws.com/id/*",
            self.partition, self.account, self.region
        )
    }

    /// The stack's own secrets.
    pub fn secrets(&self) -> String {
        format!(
            "arn:{}:secretsmanager:{}:{}:secret:{}/*",
            self.partition, self.region, self.account, self.stack
        )
    }
}

/// The resources an action is allowed on under `scope`, or `None` for every resource (`*`).
fn scoped(action: &str, scope: &Scope) -> Option<(&'static str, Vec<String>)> {
    let (service, verb) = action.split_once(':')?;
    match service {
        // ListOpenIDConnectProviders takes no resource
        "iam" if verb.contains("OpenIDConnectProvider") && !verb.starts_with("List") => {
            Some(("IamOidcProvider", vec![scope.oidc_providers()]))
        }
        // roles: creating one, writing its policies and passing it are a privilege-escalation path on `*`
        "iam" if verb.contains("Role") => Some(("IamStackRoles", vec![scope.roles()])),
        "secretsmanager" if !verb.starts_with("List") => {
            let mut v = vec![scope.secrets()];
            v.extend(scope.user_secrets.iter().cloned());
            Some(("StackSecrets", v))
        }
        _ => None,
    }
}

/// An IAM policy document that allows `actions`: IAM role, OIDC provider and Secrets Manager
/// actions on the stack's own resources only ([`Scope`]), the rest one statement per service (`Ec2`,
/// `Iam`, …) on every resource.
pub fn policy_document(actions: &[&str], scope: &Scope) -> serde_json::Value {
    let mut by_sid: std::collections::BTreeMap<String, (Vec<&str>, Vec<String>)> =
        Default::default();
    for a in actions {
        let (sid, resources) = match scoped(a, scope) {
            Some((sid, r)) => (sid.to_string(), r),
            None => {
                let service = a.split(':').next().unwrap_or("");
                let sid: String = service
                    .split('-')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect();
                (sid, vec!["*".to_string()])
            }
        };
        let e = by_sid.entry(sid).or_insert_with(|| (Vec::new(), resources));
        e.0.push(a);
    }
    let statements: Vec<serde_json::Value> = by_sid
        .into_iter()
        .map(|(sid, (actions, resources))| {
            let resource = if resources.len() == 1 { serde_json::json!(resources[0]) } else { serde_json::json!(resources) };
            serde_json::json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource})
        })
        .collect();
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}

/// The service-linked roles AWS makes with the caller's `iam:CreateServiceLinkedRole` the first time
/// an account uses these services (the EKS, Elastic Load Balancing, RDS and EC2 Auto Scaling user
/// guides, "Using service-linked roles"), and the kind whose first create makes each.
pub static SERVICE_LINKED_ROLES: &[(&str, &Schema)] = &[
    ("eks.amazonaws.com", &eks::CLUSTER),
    ("eks-nodegroup.amazonaws.com", &eks::NODE_GROUP),
    ("elasticloadbalancing.amazonaws.com", &elb::LOAD_BALANCER),
    ("rds.amazonaws.com", &rds::INSTANCE),
    // the node group's Auto Scaling group
    ("autoscaling.amazonaws.com", &eks::NODE_GROUP),
];

/// What AWS checks beside the kinds' own calls, as statements of the operator's policy: the
/// service-linked roles above, and the master user secret RDS makes *as the caller* for
/// `manage_master_user_password`, named `rds!db-…` outside the stack's secrets (RDS user guide,
/// "Required permissions for Secrets Manager integration").
fn side_statements(scope: &Scope) -> Vec<serde_json::Value> {
    let services: Vec<&str> = SERVICE_LINKED_ROLES.iter().map(|(s, _)| *s).collect();
    vec![
        serde_json::json!({
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": ["iam:CreateServiceLinkedRole"],
            "Resource": format!("arn:{}:iam::{}:role/aws-service-role/*", scope.partition, scope.account),
            "Condition": {"StringLike": {"iam:AWSServiceName": services}},
        }),
        serde_json::json!({
            "Sid": "RdsMasterUserSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:RotateSecret"],
            "Resource": format!(
                "arn:{}:secretsmanager:{}:{}:secret:rds!*",
                scope.partition, scope.region, scope.account
            ),
        }),
    ]
}

/// The policy of the operator who runs `plan`, `apply` and `destroy`: every AWS kind's actions
/// ([`policy_document`]) and what AWS checks beside them.
pub fn operator_policy(scope: &Scope) -> serde_json::Value {
    let mut doc = policy_document(&iam_actions(&aws(), true), scope);
    doc["Statement"].as_array_mut().expect("statements").extend(side_statements(scope));
    doc
}

/// The read-only policy of a scheduled `drift` run.
pub fn drift_policy(scope: &Scope) -> serde_json::Value {
    policy_document(&iam_actions(&aws(), false), scope)
}

/// The AWS kinds (those the operator's IAM policy is about).
pub fn aws() -> Vec<&'static Schema> {
    ALL.iter().copied().filter(|k| k.kind.starts_with("aws_")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for k in ALL {
            assert!(seen.insert(k.kind), "{} declared twice", k.kind);
            assert!(k.outputs.contains(&"id"), "{} has no id output", k.kind);
            assert!(
                k.timeouts.create > 0 && k.timeouts.update > 0 && k.timeouts.delete > 0,
                "{}",
                k.kind
            );
            let mut names: Vec<&str> = k.attrs.iter().map(|a| a.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), k.attrs.len(), "{} repeats an attribute", k.kind);
            if k.kind.starts_with("aws_") {
                assert!(
                    !k.iam.read.is_empty() && !k.iam.create.is_empty() && !k.iam.delete.is_empty(),
                    "{} lacks IAM actions",
                    k.kind
                );
            }
        }
    }

    #[test]
    fn role_and_secret_actions_name_the_stack_never_every_resource() {
        let scope = Scope {
            partition: "aws".into(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            stack: "tuva-prod".into(),
            user_secrets: vec![
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:kc-AbCdEf".into()
            ],
        };
        for write in [true, false] {
            let doc = policy_document(&iam_actions(&aws(), write), &scope);
            let mut seen = 0;
            for st in doc["Statement"].as_array().unwrap() {
                let resources: Vec<&str> = match &st["Resource"] {
                    serde_json::Value::String(s) => vec![s.as_str()],
                    v => v.as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect(),
                };
                for a in st["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()) {
                    let escalation = [
                        "iam:CreateRole",
                        "iam:PutRolePolicy",
                        "iam:AttachRolePolicy",
                        "iam:PassRole",
                        "iam:UpdateAssumeRolePolicy",
                    ];
                    if escalation.contains(&a) || a == "iam:GetRole" {
                        seen += 1;
                        assert_eq!(
                            resources,
                            ["arn:aws:iam::123456789012:role/tuva-prod-*"],
                            "{a}"
                        );
                    }
                    if a.starts_with("secretsmanager:") {
                        seen += 1;
                        assert_eq!(
                            resources,
                            [
                                "arn:aws:secretsmanager:us-east-1:123456789012:secret:tuva-prod/*",
                                "arn:aws:secretsmanager:us-east-1:123456789012:secret:kc-AbCdEf"
                            ],
                            "{a}"
                        );
                    }
                    if a.starts_with("iam:") || a.starts_with("secretsmanager:") {
                        assert!(
                            !resources.contains(&"*") || a == "iam:ListOpenIDConnectProviders",
                            "{a} on every resource"
                        );
                    }
                }
            }
            assert!(seen >= if write { 7 } else { 2 }, "{doc}");
        }
    }

    #[test]
    fn read_only_actions_never_write() {
        for a in iam_actions(ALL, false) {
            let verb = a.split(':').nth(1).unwrap();
            // kms:Decrypt writes nothing: reading a secret encrypted with the stack's key needs it
            assert!(
                ["Describe", "Get", "List", "AdminGet"].iter().any(|p| verb.starts_with(p))
                    || a == "kms:Decrypt",
                "{a} is in a read-only policy"
            );
        }
    }
}
