//! The shipped IAM policy grants exactly what the code calls: every AWS SDK operation in the
//! source is found by reading the source, mapped to its IAM action, and compared with
//! packaging/iam-policy.json.

use std::collections::BTreeSet;
use std::path::Path;

fn sources(dir: &Path, out: &mut String) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| w[..1].to_uppercase() + &w[1..])
        .collect()
}

/// `self.client.create_agent()` (DataSync), `self.ec2.describe_subnets()`, `self.sts.…()`,
/// with any whitespace rustfmt puts between them.
fn sdk_calls(src: &str) -> BTreeSet<String> {
    let re = regex_lite::Regex::new(r"self\s*\.(client|ec2|sts)\s*\.([a-z_]+)\(\)").unwrap();
    re.captures_iter(src)
        .map(|c| {
            let service = match &c[1] {
                "client" => "datasync",
                other => other,
            };
            format!("{service}:{}", pascal(&c[2]))
        })
        .collect()
}

fn policy_actions() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/iam-policy.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn policy_grants_exactly_the_calls_the_code_makes() {
    let mut src = String::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut src);
    let mut needed = sdk_calls(&src);
    assert!(
        needed.contains("datasync:CreateAgent") && needed.contains("ec2:DescribeVpcEndpoints"),
        "the scan finds calls: {needed:?}"
    );
    // GetCallerIdentity needs no permission; tags on CreateAgent are authorized as TagResource.
    needed.remove("sts:GetCallerIdentity");
    needed.insert("datasync:TagResource".into());
    let granted = policy_actions();
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty(),
        "the code calls these but the policy does not grant them: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "the policy grants these but the code never calls them: {extra:?}"
    );
}

#[test]
fn every_classified_call_names_a_granted_action() {
    // Error classification labels each call with its IAM action; they must agree with the scan.
    let mut src = String::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut src);
    let re = regex_lite::Regex::new(r#"classify\(\s*"([a-z]+:[A-Za-z]+)""#).unwrap();
    let labels: BTreeSet<String> = re.captures_iter(&src).map(|c| c[1].to_string()).collect();
    let calls = sdk_calls(&src);
    for l in &labels {
        assert!(
            calls.contains(l),
            "{l} is a classify() label but no SDK call of that name exists"
        );
    }
}
