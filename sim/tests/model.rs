//! The simulator's patterns and limits must be AWS's own, from botocore's service-2.json.
//!
//! Set `BOTOCORE_DATASYNC_MODEL` to the file (plain or `.gz`); without it the test
//! looks in the pyenv botocore install and skips, with a notice, if there is none.

use std::path::{Path, PathBuf};

use datasync_sim::{model, model_limits, model_patterns};
use serde_json::Value;

const DEFAULT_DIR: &str =
    "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/botocore/data/datasync/2018-11-09";

fn model_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BOTOCORE_DATASYNC_MODEL") {
        return Some(PathBuf::from(p));
    }
    // Newer botocore releases ship their data files gzipped.
    ["service-2.json", "service-2.json.gz"]
        .iter()
        .map(|f| Path::new(DEFAULT_DIR).join(f))
        .find(|p| p.exists())
}

fn load(path: &Path) -> Value {
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        // No gzip crate for one test: the system's gzip is everywhere botocore is.
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(path)
            .output()
            .expect("run gzip -dc");
        assert!(out.status.success(), "gzip -dc {} failed", path.display());
        out.stdout
    } else {
        std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    };
    serde_json::from_slice(&bytes).expect("service-2.json is JSON")
}

#[test]
fn patterns_and_limits_match_botocore() {
    let Some(path) = model_path() else {
        eprintln!(
            "NOTICE: skipping: set BOTOCORE_DATASYNC_MODEL to botocore's datasync service-2.json"
        );
        return;
    };
    let m = load(&path);
    assert_eq!(m["metadata"]["targetPrefix"], "FmrsService");
    assert_eq!(m["metadata"]["jsonVersion"], "1.1");
    let shapes = &m["shapes"];
    for (name, pattern) in model_patterns() {
        assert_eq!(
            shapes[name]["pattern"].as_str(),
            Some(pattern),
            "shapes.{name}.pattern"
        );
        // And the pattern must compile here: an empty match proves nothing, so only compile.
        let _ = model::matches(pattern, "");
    }
    for (name, limits) in model_limits() {
        let shape = &shapes[name];
        assert!(shape.is_object(), "no shape {name}");
        assert_eq!(shape["min"].as_u64(), limits.min, "shapes.{name}.min");
        assert_eq!(shape["max"].as_u64(), limits.max, "shapes.{name}.max");
    }
    // The members the simulator reads must exist with the shapes it assumes.
    let create = &shapes["CreateAgentRequest"]["members"];
    for (member, shape) in [
        ("ActivationKey", "ActivationKey"),
        ("AgentName", "TagValue"),
        ("Tags", "InputTagList"),
        ("VpcEndpointId", "VpcEndpointId"),
        ("SubnetArns", "PLSubnetArnList"),
        ("SecurityGroupArns", "PLSecurityGroupArnList"),
    ] {
        assert_eq!(
            create[member]["shape"], shape,
            "CreateAgentRequest.{member}"
        );
    }
    for member in [
        "AgentArn",
        "Name",
        "Status",
        "LastConnectionTime",
        "CreationTime",
        "EndpointType",
        "PrivateLinkConfig",
        "Platform",
    ] {
        assert!(
            shapes["DescribeAgentResponse"]["members"][member].is_object(),
            "DescribeAgentResponse.{member}"
        );
    }
    for member in [
        "VpcEndpointId",
        "PrivateLinkEndpoint",
        "SubnetArns",
        "SecurityGroupArns",
    ] {
        assert!(
            shapes["PrivateLinkConfig"]["members"][member].is_object(),
            "PrivateLinkConfig.{member}"
        );
    }
    assert_eq!(
        shapes["PrivateLinkConfig"]["members"]["PrivateLinkEndpoint"]["shape"],
        "Endpoint"
    );
}

#[test]
fn patterns_behave() {
    assert!(model::matches(
        model::ACTIVATION_KEY,
        "ABCDE-12345-FGHIJ-67890-KLMNO"
    ));
    assert!(
        !model::matches(model::ACTIVATION_KEY, "ABCDE-12345-FGHIJ-67890-KLMNO-"),
        "whole-value match"
    );
    assert!(model::matches(model::ENDPOINT, "10.0.1.25"));
    assert!(!model::matches(model::ENDPOINT, "10.0.1.256"));
    assert!(model::matches(
        model::VPC_ENDPOINT_ID,
        "vpce-0123456789abcdef0"
    ));
    assert!(model::matches(
        model::EC2_SUBNET_ARN,
        "arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0abc"
    ));
    assert!(model::matches(model::TAG_KEY, "managed by/warden:1"));
    assert!(!model::matches(model::TAG_KEY, "bad@key"));
    assert!(model::matches(model::TAG_VALUE, "good@value"));
    assert!(model::matches(
        model::TAGGABLE_RESOURCE_ARN,
        "arn:aws:datasync:us-east-1:111122223333:agent/agent-0123456789abcdef0"
    ));
}
