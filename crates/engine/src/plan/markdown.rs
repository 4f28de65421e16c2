//! The plan as a pull-request comment (`plan --format markdown`, `show --format markdown`): the
//! summary first, then what a reviewer must not miss (stateful resources replaced or deleted,
//! failing security rules, a Tuva EMPI version change and what it runs, the cost change, the
//! warnings), then the changes by area as the terminal shows them, each folded in `<details>`.
//! It always fits GitHub's limit of 65,536 characters: what does not fit is named, and the plan
//! file holds it all.

use std::fmt::Write;

use super::cost::{dollars, signed, Cost};
use super::render::{areas, Area};
use super::{Action, Plan, RenderOptions};
use crate::kinds::rds;

/// GitHub's longest comment body, in characters.
pub const COMMENT_MAX: usize = 65_536;

/// What the closing lines and the note on left-out areas may take.
const RESERVE: usize = 2_000;

/// How many cost lines the comment's table holds; `plan --json` has them all.
const COST_ROWS: usize = 40;

/// The hidden first line a workflow finds its earlier comment by, to update it in place.
pub fn marker(stack: &str) -> String {
    format!("<!-- empi-infra-plan: {} -->", escape(stack))
}

/// `<`, `>` and `&` as HTML entities: text from the plan never opens or closes an HTML element.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A fence longer than any run of backticks in `text`.
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in text.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat((longest + 1).max(3))
}

/// A folded section: `summary` always shown, `body` on a click.
fn details(summary: &str, body: &str) -> String {
    format!("<details><summary>{summary}</summary>\n\n{body}\n</details>\n\n")
}

/// `body` in a code block, as the terminal shows it.
fn code(body: &str) -> String {
    let f = fence(body);
    format!("{f}text\n{body}{}{f}", if body.ends_with('\n') { "" } else { "\n" })
}

/// What a reviewer must not miss, one bullet each.
fn highlights(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for c in plan.changes.iter().filter(|c| c.stateful) {
        let what = match c.action {
            Action::Replace => "replaces",
            Action::Delete => "deletes",
            _ => continue,
        };
        out.push(format!(
            "**This plan {what} `{}`** ({}), which holds data: what it holds is lost unless it is backed up.{}",
            c.address,
            c.kind,
            c.reason.as_deref().map(|r| format!(" {}.", escape(r))).unwrap_or_default()
        ));
    }
    let failing = &plan.review.failing_checks;
    if !failing.is_empty() {
        out.push(format!(
            "**The security baseline fails {} rule(s)** on the planned values: {}. `empi-infra check` shows each rule's safeguard and fix.",
            failing.len(),
            failing.iter().map(|f| format!("`{}`", escape(f))).collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some((from, to)) = &plan.review.app_version {
        let mut runs = Vec::new();
        for c in plan.changes.iter().filter(|c| c.kind == rds::SNAPSHOT.kind) {
            if c.action == Action::Create {
                runs.push(format!("the database snapshot `{}` is taken first", c.address));
            }
        }
        if let Some(m) = plan
            .changes
            .iter()
            .find(|c| c.address == "workloads.migrate" && c.action != Action::NoOp)
        {
            let job = m.spec.as_ref().map(|s| s.name.as_str()).unwrap_or("migrate");
            runs.push(format!("the Job `{job}` runs the new version's migrations"));
        }
        runs.push("the api, matching-service, worker and frontend then roll onto it".into());
        out.push(format!("**Tuva EMPI {} → {}**: {}.", escape(from), escape(to), runs.join("; ")));
    }
    if let Some(cost) = &plan.cost {
        if cost.difference() != 0.0 {
            out.push(format!(
                "**Cost{}**: {} a month ({} → {}, list prices; usage not included).",
                if cost.targeted { " of the targeted resources" } else { "" },
                signed(cost.difference()),
                dollars(cost.monthly_before),
                dollars(cost.monthly_after)
            ));
        }
    }
    let mut warnings = String::new();
    super::render::warnings(plan, &mut warnings);
    for w in warnings.split("\n\n").map(str::trim).filter(|w| !w.is_empty()) {
        let w = w.strip_prefix("Warning: ").unwrap_or(w);
        // the baseline's own warning says what the bullet above already lists
        if !failing.is_empty() && w.starts_with(super::BASELINE_WARNING_START) {
            continue;
        }
        out.push(format!("Warning: {}", escape(w)));
    }
    out
}

/// The most the "Before you approve" bullets take; the rest are counted, and the terminal plan
/// has them all.
const HIGHLIGHTS_MAX: usize = 16_000;

/// The cost section: the lines that change (all lines of a new stack), and the assumptions.
fn cost_section(cost: &Cost) -> String {
    let mut body = String::from("| Resource | Priced | Before | After |\n|---|---|--:|--:|\n");
    let changed = cost.changed_largest_first();
    for l in changed.iter().take(COST_ROWS) {
        let _ = writeln!(
            body,
            "| `{}` | {} | {} | {} |",
            l.address,
            escape(&l.what).replace('|', "\\|"),
            dollars(l.monthly_before),
            dollars(l.monthly_after)
        );
    }
    if changed.len() > COST_ROWS {
        let _ =
            writeln!(body, "\n… and {} more: `plan --json` lists them.", changed.len() - COST_ROWS);
    }
    let _ = write!(
        body,
        "\nAWS list prices of {} in {}{}, on demand, 730 hours a month. What the totals leave out:\n",
        cost.prices_as_of,
        cost.region,
        cost.priced_as
            .as_deref()
            .map(|r| format!(" (**priced as {r}**: the table has no prices for this region)"))
            .unwrap_or_default()
    );
    for a in &cost.assumptions {
        let _ = writeln!(body, "- {}", escape(a));
    }
    details(
        &format!(
            "Monthly cost{}: {} → {} ({})",
            if cost.targeted { " of the targeted resources" } else { "" },
            dollars(cost.monthly_before),
            dollars(cost.monthly_after),
            signed(cost.difference())
        ),
        &body,
    )
}

/// The plan as a pull-request comment of at most [`COMMENT_MAX`] characters.
pub fn render_markdown(plan: &Plan) -> String {
    render_markdown_within(plan, COMMENT_MAX)
}

/// The plan as a pull-request comment of at most `max` characters (`max` of at least 8,000):
/// what does not fit is cut short or named.
pub fn render_markdown_within(plan: &Plan, max: usize) -> String {
    let mut out = marker(&plan.stack);
    let _ = write!(out, "\n### empi-infra plan of `{}`\n\n", escape(&plan.stack));
    if !plan.has_changes() {
        let _ = writeln!(
            out,
            "**No changes.** The cloud matches the stack ({} resources).\n",
            plan.changes.len()
        );
    } else {
        let _ = write!(out, "**Plan: {}.**", plan.summary());
        if let Some(e) = &plan.estimate {
            let _ = write!(out, " Estimated apply time ~{}.", super::estimate::human(e.seconds));
        }
        if let Some(c) = &plan.cost {
            let _ = write!(
                out,
                " Monthly cost{} {} → {} ({}).",
                if c.targeted { " of the targeted resources" } else { "" },
                dollars(c.monthly_before),
                dollars(c.monthly_after),
                signed(c.difference())
            );
        }
        out.push_str("\n\n");
    }
    let notes = highlights(plan);
    if !notes.is_empty() {
        out.push_str("#### Before you approve\n\n");
        let budget = HIGHLIGHTS_MAX.min(max / 4);
        let mut used = 0;
        for (i, n) in notes.iter().enumerate() {
            let n: String = n.chars().take(budget / 4).collect();
            used += n.chars().count() + 3;
            if used > budget {
                let _ = writeln!(
                    out,
                    "- … and {} more: `empi-infra plan` shows them all.",
                    notes.len() - i
                );
                break;
            }
            let _ = writeln!(out, "- {n}");
        }
        out.push('\n');
    }
    if let Some(c) = &plan.cost {
        out.push_str(&cost_section(c));
    }
    let (shared, areas) = areas(plan, &RenderOptions::default());
    if let Some(s) = shared {
        let s: String = escape(&s).chars().take(2_000).collect();
        let _ = write!(out, "{s}\n\n");
    }
    let mut left_out: Vec<String> = Vec::new();
    for Area { name, counts, text } in areas {
        let section = details(&format!("<b>{}</b>: {counts}", escape(&name)), &code(&text));
        let room = max.saturating_sub(RESERVE);
        if out.chars().count() + section.chars().count() <= room {
            out.push_str(&section);
            continue;
        }
        // the area's first lines, as many as fit, and how many more there are
        let free = room.saturating_sub(out.chars().count() + 200);
        let mut kept = String::new();
        let total = text.lines().count();
        let mut shown = 0;
        for line in text.lines() {
            if kept.chars().count() + line.chars().count() + 1 > free {
                break;
            }
            kept.push_str(line);
            kept.push('\n');
            shown += 1;
        }
        if shown == 0 {
            left_out.push(format!("{name} ({counts})"));
            continue;
        }
        let body = format!(
            "{}\n{} more lines: GitHub's comment limit. `empi-infra show PLANFILE` shows them.",
            code(&kept),
            total - shown
        );
        out.push_str(&details(&format!("<b>{}</b>: {counts} (cut short)", escape(&name)), &body));
    }
    if !left_out.is_empty() {
        let _ = write!(
            out,
            "**Not shown**, for GitHub's limit of {COMMENT_MAX} characters: {}. The plan file holds them all (`empi-infra show PLANFILE`).\n\n",
            escape(&left_out.join(", ")).chars().take(RESERVE / 2).collect::<String>()
        );
    }
    let _ = write!(
        out,
        "<sub>Plan `{}` of state serial {} (lineage `{}`). Saved with `plan --out`, `empi-infra apply PLANFILE` applies exactly this plan, and refuses it once the stack or the state has changed since.</sub>\n",
        &plan.digest.clone().unwrap_or_else(|| plan.content_digest())[..12],
        plan.serial,
        escape(&plan.lineage)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outrun_the_backticks_of_what_they_hold() {
        assert_eq!(fence("a"), "```");
        assert_eq!(fence("a ```` b"), "`````");
        assert!(code("x = \"```\"\n").starts_with("````text\n"));
    }

    #[test]
    fn text_from_the_plan_cannot_open_html() {
        assert_eq!(escape("</details><script>"), "&lt;/details&gt;&lt;script&gt;");
        assert_eq!(marker("s"), "<!-- empi-infra-plan: s -->");
    }
}
