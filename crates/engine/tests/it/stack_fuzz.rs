//! Property tests of the stack parser and validator: whatever the input, no panic, and every
//! error names a line and column inside the file.

use empi_engine::stack::Stack;
use proptest::prelude::*;

const VALID: &str = include_str!("../../../../stacks/example-prod.toml");

fn check(src: &str) {
    match Stack::parse("s.toml", src) {
        Ok(_) => {}
        Err(errors) => {
            assert!(!errors.0.is_empty());
            let lines = src.lines().count().max(1) + 1;
            for e in &errors.0 {
                assert!(e.line >= 1 && e.line <= lines, "line {} outside the file: {e}", e.line);
                assert!(e.column >= 1, "{e}");
                assert!(!e.message.is_empty());
                assert!(e.to_string().starts_with(&format!("s.toml:{}:{}: ", e.line, e.column)));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,400}") {
        check(&src);
    }

    #[test]
    fn toml_like_text_never_panics(src in "([a-z_\\.\\[\\]]{1,12} ?= ?(\"[^\"\\n]{0,20}\"|[0-9\\-]{1,6}|true|false|\\[\\]|\\{\\})\\n){0,20}") {
        check(&src);
    }

    #[test]
    fn a_valid_stack_with_one_line_changed_never_panics(line in 0usize..80, replacement in "[ -~]{0,40}") {
        let mut lines: Vec<&str> = VALID.lines().collect();
        let i = line % lines.len();
        lines[i] = &replacement;
        check(&lines.join("\n"));
    }

    #[test]
    fn a_valid_stack_cut_anywhere_never_panics(cut in 0usize..4000) {
        let mut end = cut.min(VALID.len());
        while !VALID.is_char_boundary(end) {
            end -= 1;
        }
        check(&VALID[..end]);
    }

    #[test]
    fn any_value_for_any_key_never_panics(key in prop::sample::select(vec![
        "name", "region", "cidr", "availability_zones", "nat_gateways", "kubernetes_version", "engine_version",
        "instance_class", "allocated_storage_gb", "admin_email", "hostname", "certificate_arn", "version", "namespace",
        "api_replicas", "min", "max", "desired", "backend", "waf", "matching_job_runner", "domain_prefix",
    ]), value in prop_oneof![
        "\"[ -~]{0,30}\"", "-?[0-9]{1,12}", Just("true".to_string()), Just("[]".to_string()), Just("[\"a\", 1]".to_string()),
        Just("{}".to_string()), "[0-9]\\.[0-9]{1,3}e[0-9]{1,3}",
    ]) {
        let src: String = VALID.lines().map(|l| {
            if l.trim_start().starts_with(&format!("{key} ")) || l.trim_start().starts_with(&format!("{key}=")) {
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        }).collect::<Vec<_>>().join("\n");
        check(&src);
    }
}
