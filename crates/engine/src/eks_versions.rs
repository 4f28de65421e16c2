//! The EKS Kubernetes version calendar: when each version left (or leaves) standard and extended
//! support. `validate` refuses a version past extended support (EKS no longer creates clusters on
//! it), `plan` warns about one in extended support (billed at six times the standard price), and a
//! new stack gets the newest version. Where the endpoint answers `DescribeClusterVersions`, the
//! provider checks the choice against it too.
//!
//! Sources: the EKS User Guide, "Understand the Kubernetes version lifecycle on EKS" (release
//! calendar, 14 months of standard and 12 of extended support), and the AWS Containers blog
//! "Amazon EKS extended support for Kubernetes versions pricing". Dates as published on 2026-11-27.

/// One version: release, end of standard support, end of extended support (ISO dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub version: &'static str,
    pub released: &'static str,
    pub end_of_standard: &'static str,
    pub end_of_extended: &'static str,
}

pub const CALENDAR: &[Release] = &[
    Release {
        version: "1.28",
        released: "2023-09-26",
        end_of_standard: "2024-11-26",
        end_of_extended: "2025-11-26",
    },
    Release {
        version: "1.29",
        released: "2024-01-23",
        end_of_standard: "2025-03-23",
        end_of_extended: "2026-03-23",
    },
    Release {
        version: "1.30",
        released: "2024-05-23",
        end_of_standard: "2025-07-23",
        end_of_extended: "2026-07-23",
    },
    Release {
        version: "1.31",
        released: "2024-09-26",
        end_of_standard: "2025-11-26",
        end_of_extended: "2026-11-26",
    },
    Release {
        version: "1.32",
        released: "2025-01-23",
        end_of_standard: "2026-03-23",
        end_of_extended: "2027-03-23",
    },
    Release {
        version: "1.33",
        released: "2025-05-29",
        end_of_standard: "2026-07-29",
        end_of_extended: "2027-07-29",
    },
    Release {
        version: "1.34",
        released: "2025-10-02",
        end_of_standard: "2026-12-02",
        end_of_extended: "2027-12-02",
    },
    Release {
        version: "1.35",
        released: "2026-01-27",
        end_of_standard: "2027-03-27",
        end_of_extended: "2028-03-27",
    },
    Release {
        version: "1.36",
        released: "2026-06-02",
        end_of_standard: "2027-08-02",
        end_of_extended: "2028-08-02",
    },
];

/// The day the calendar above was last checked against EKS's.
pub const CALENDAR_AS_OF: &str = "2026-11-27";

/// Whether `version` (`1.N`) is newer than every version of the calendar: EKS may have shipped
/// it after this release of empi-infra was made. `validate` lets it through; `plan` accepts it
/// only where EKS's own list (`DescribeClusterVersions`) offers it, with a warning.
pub fn newer_than_calendar(version: &str) -> bool {
    fn minor(v: &str) -> Option<u32> {
        v.strip_prefix("1.")?.parse().ok()
    }
    let newest = CALENDAR.iter().filter_map(|r| minor(r.version)).max().unwrap_or(0);
    minor(version).is_some_and(|m| m > newest)
}

/// `plan`'s warning for a version EKS offers that this release's calendar lacks.
pub fn uncharted_warning(version: &str, status: &str) -> String {
    let cost = if status == "EXTENDED_SUPPORT" {
        format!(
            "; EKS says it is in extended support, so the control plane costs ${EXTENDED_PRICE:.2} per hour instead of ${STANDARD_PRICE:.2}"
        )
    } else {
        String::new()
    };
    format!(
        "Kubernetes {version} is newer than the EKS calendar of this release of empi-infra (checked {CALENDAR_AS_OF}); EKS offers it ({status}), so it is used, but its support dates are unknown here{cost}: upgrade empi-infra to know them"
    )
}

/// Minutes EKS typically takes to update a control plane to the next minor (EKS User Guide,
/// "Update existing cluster to new Kubernetes version": the API server is replaced behind the
/// endpoint, which stays available).
pub const CONTROL_PLANE_UPDATE_MINUTES: (u32, u32) = (10, 15);
/// Minutes a managed node group typically takes per node to move to a new minor: a new node on the
/// new AMI joins, the old one is cordoned and drained (PodDisruptionBudgets respected), then ends.
pub const NODE_UPDATE_MINUTES: (u32, u32) = (5, 10);
/// Minutes an EKS managed add-on typically takes to update (a rollout of its DaemonSet or
/// Deployment); the three are updated side by side.
pub const ADDON_UPDATE_MINUTES: (u32, u32) = (1, 5);

fn minor_of(v: &str) -> Option<u32> {
    v.strip_prefix("1.")?.parse().ok()
}

/// What `plan` makes of moving the cluster from `from` (what state records) to `to` (the stack's
/// version), with `nodes` nodes: `Err` for what EKS refuses (a skip, a downgrade) with the fix;
/// `Ok(Some(note))` for a one-minor upgrade, naming the order and the typical minutes.
pub fn upgrade_step(from: &str, to: &str, nodes: u32) -> Result<Option<String>, String> {
    let (Some(a), Some(b)) = (minor_of(from), minor_of(to)) else { return Ok(None) };
    if b == a {
        return Ok(None);
    }
    if b < a {
        return Err(format!(
            "the cluster runs Kubernetes {from} and EKS cannot downgrade a cluster to {to}; set [cluster] kubernetes_version = \"{from}\" (an older version means a new cluster: another stack, and the data moved to it)"
        ));
    }
    if b > a + 1 {
        let next = format!("1.{}", a + 1);
        return Err(format!(
            "Kubernetes {from} → {to} skips {next}: EKS updates a cluster one minor version at a time; set [cluster] kubernetes_version = \"{next}\", apply, then go on to \"{to}\""
        ));
    }
    let (cp_lo, cp_hi) = CONTROL_PLANE_UPDATE_MINUTES;
    let (n_lo, n_hi) = NODE_UPDATE_MINUTES;
    let (a_lo, a_hi) = ADDON_UPDATE_MINUTES;
    Ok(Some(format!(
        "Kubernetes {from} → {to}: the control plane first (about {cp_lo}–{cp_hi} minutes; the API stays available), then the node group ({nodes} node(s), about {}–{} minutes: each node replaced by one on {to}, drained within PodDisruptionBudgets), then the add-ons vpc-cni, coredns and kube-proxy at versions EKS lists for {to} (about {a_lo}–{a_hi} minutes); about {}–{} minutes in all, typical EKS figures",
        n_lo * nodes,
        n_hi * nodes,
        cp_lo + n_lo * nodes + a_lo,
        cp_hi + n_hi * nodes + a_hi
    )))
}

/// US dollars per cluster-hour of the control plane.
pub const STANDARD_PRICE: f64 = 0.10;
pub const EXTENDED_PRICE: f64 = 0.60;

/// Where a version stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Standard(&'static Release),
    Extended(&'static Release),
    /// Past extended support: EKS creates no new clusters on it.
    Ended(&'static Release),
    /// Not yet released, or not a version EKS has.
    Unknown,
}

pub fn release(version: &str) -> Option<&'static Release> {
    CALENDAR.iter().find(|r| r.version == version)
}

/// Where `version` stands on `today` (an ISO date; ISO dates compare as strings).
pub fn support(version: &str, today: &str) -> Support {
    match release(version) {
        None => Support::Unknown,
        Some(r) if today < r.released => Support::Unknown,
        Some(r) if today < r.end_of_standard => Support::Standard(r),
        Some(r) if today < r.end_of_extended => Support::Extended(r),
        Some(r) => Support::Ended(r),
    }
}

/// The newest version released by `today` (always in standard support): a new stack's default.
pub fn newest(today: &str) -> &'static Release {
    CALENDAR.iter().rev().find(|r| r.released <= today).unwrap_or(&CALENDAR[CALENDAR.len() - 1])
}

/// Versions a cluster can be created on, `today`.
pub fn creatable(today: &str) -> Vec<&'static str> {
    CALENDAR
        .iter()
        .filter(|r| {
            matches!(support(r.version, today), Support::Standard(_) | Support::Extended(_))
        })
        .map(|r| r.version)
        .collect()
}

/// The variable that pins [`today`].
pub const TODAY_VAR: &str = "EMPI_INFRA_TODAY";

/// The day `EMPI_INFRA_TODAY` pins, if set; an error when it is not a day of the calendar
/// (`2026-02-30`, `tomorrow`). Commands check it when they start, so that a bad value is refused
/// there instead of the calendar being read as of another day than the one asked for.
pub fn pinned_today() -> Result<Option<String>, crate::env::EnvError> {
    crate::env::date(TODAY_VAR)
}

/// Today's date (UTC) as `YYYY-MM-DD`; `EMPI_INFRA_TODAY` pins it (to read the calendar as of
/// another day, e.g. to see when a stack's version leaves support). A value that is not a date
/// is refused by [`pinned_today`] when a command starts, before anything reads this.
pub fn today() -> String {
    if let Ok(Some(d)) = pinned_today() {
        return d;
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    civil_date(secs / 86_400)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The plan warning for a version in extended support, if it is in it.
pub fn warning(version: &str, today: &str) -> Option<String> {
    let Support::Extended(r) = support(version, today) else { return None };
    let newest = newest(today);
    Some(format!(
        "Kubernetes {version} left EKS standard support on {} and is in extended support until {}: the control plane costs ${EXTENDED_PRICE:.2} per hour instead of ${STANDARD_PRICE:.2} (6×, about ${:.0} more a month); upgrade one minor version at a time towards {} (standard support until {}) (EKS support calendar as of this release of empi-infra)",
        r.end_of_standard,
        r.end_of_extended,
        (EXTENDED_PRICE - STANDARD_PRICE) * 730.0,
        newest.version,
        newest.end_of_standard
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgrade_moves_one_minor_up_and_says_its_order() {
        let note = upgrade_step("1.34", "1.35", 3).unwrap().unwrap();
        assert!(
            note.starts_with(
                "Kubernetes 1.34 → 1.35: the control plane first (about 10–15 minutes"
            ),
            "{note}"
        );
        assert!(note.contains("then the node group (3 node(s), about 15–30 minutes"), "{note}");
        assert!(note.contains("then the add-ons vpc-cni, coredns and kube-proxy at versions EKS lists for 1.35 (about 1–5 minutes); about 26–50 minutes in all"), "{note}");
        assert_eq!(upgrade_step("1.35", "1.35", 3), Ok(None));
        let skip = upgrade_step("1.34", "1.36", 3).unwrap_err();
        assert!(skip.starts_with("Kubernetes 1.34 → 1.36 skips 1.35"), "{skip}");
        assert!(
            skip.contains("kubernetes_version = \"1.35\", apply, then go on to \"1.36\""),
            "{skip}"
        );
        let down = upgrade_step("1.35", "1.34", 3).unwrap_err();
        assert!(down.contains("EKS cannot downgrade a cluster to 1.34"), "{down}");
    }

    #[test]
    fn the_calendar_on_the_day_it_was_written() {
        let today = "2026-11-27";
        assert!(matches!(support("1.29", today), Support::Ended(_)));
        assert!(
            matches!(support("1.31", today), Support::Ended(_)),
            "extended support ended the day before"
        );
        assert!(matches!(support("1.33", today), Support::Extended(_)));
        assert!(matches!(support("1.34", today), Support::Standard(_)));
        assert!(matches!(support("1.99", today), Support::Unknown));
        assert!(newer_than_calendar("1.37") && newer_than_calendar("1.99"));
        assert!(!newer_than_calendar("1.36") && !newer_than_calendar("1.27"));
        assert!(!newer_than_calendar("2.0") && !newer_than_calendar("latest"));
        assert_eq!(newest(today).version, "1.36");
        assert_eq!(creatable(today), ["1.32", "1.33", "1.34", "1.35", "1.36"]);
        assert!(warning("1.33", today).unwrap().contains("$0.60 per hour instead of $0.10"));
        assert_eq!(warning("1.34", today), None);
        assert!(
            matches!(support("1.34", "2026-12-02"), Support::Extended(_)),
            "the day standard support ends"
        );
    }

    #[test]
    fn dates_are_computed_without_a_calendar_crate() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(20_784), "2026-11-27");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }

    #[test]
    fn the_calendar_is_ordered_and_well_formed() {
        for w in CALENDAR.windows(2) {
            assert!(w[0].released < w[1].released);
        }
        for r in CALENDAR {
            assert!(
                r.released < r.end_of_standard && r.end_of_standard < r.end_of_extended,
                "{r:?}"
            );
        }
    }
}
