//! `template.yaml` against the code: every function in `functions/` is deployed with the trigger
//! its handler expects, and every IAM policy names only resources the function itself uses.

use serde_norway::Value;
use serde_norway::value::TaggedValue;
use std::collections::{BTreeMap, BTreeSet};

fn template() -> Value {
    let path = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn function_dirs() -> BTreeSet<String> {
    std::fs::read_dir(format!("{}/../../functions", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").exists())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The deployed functions by binary name: (logical id, properties).
fn functions(template: &Value) -> BTreeMap<String, (String, Value)> {
    let resources = template["Resources"].as_mapping().unwrap();
    resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| {
            assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda", "{id:?}");
            let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_string();
            (binary, (id.as_str().unwrap().to_string(), r["Properties"].clone()))
        })
        .collect()
}

/// Every logical id or parameter a value refers to (`!Ref`, `!GetAtt`, `${...}` in `!Sub`).
fn references(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Tagged(tagged) => {
            let TaggedValue { tag, value } = tagged.as_ref();
            match (tag.to_string().as_str(), value) {
                ("!Ref", Value::String(name)) => {
                    out.insert(name.clone());
                }
                ("!GetAtt", Value::String(target)) => {
                    out.insert(target.split('.').next().unwrap().to_string());
                }
                ("!Sub", Value::String(text)) => {
                    for part in text.split("${").skip(1) {
                        let name = part.split('}').next().unwrap();
                        out.insert(name.split('.').next().unwrap().to_string());
                    }
                }
                _ => references(value, out),
            }
        }
        Value::Mapping(map) => map.values().for_each(|v| references(v, out)),
        Value::Sequence(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

#[test]
fn every_function_is_in_the_template_with_the_trigger_its_handler_takes() {
    let template = template();
    let deployed = functions(&template);
    for name in function_dirs() {
        let (id, props) = deployed.get(&name).unwrap_or_else(|| panic!("functions/{name} is not in template.yaml"));
        let events: Vec<&Value> = props["Events"].as_mapping().map(|m| m.values().collect()).unwrap_or_default();
        let kinds: Vec<&str> = events.iter().map(|e| e["Type"].as_str().unwrap()).collect();
        let sqs_queue = || {
            let mut refs = BTreeSet::new();
            references(&events[0]["Properties"]["Queue"], &mut refs);
            assert!(
                events[0]["Properties"]["FunctionResponseTypes"]
                    .as_sequence()
                    .is_some_and(|t| t.contains(&Value::from("ReportBatchItemFailures"))),
                "{id}: partial batch responses"
            );
            refs.into_iter().next().unwrap()
        };
        match name.as_str() {
            "import-settings" | "maintenance-cleanup" | "sync-refresh" => {
                assert_eq!(kinds, ["ScheduleV2"], "{id}");
                let input = events[0]["Properties"]["Input"].as_str().unwrap();
                let event: nzj_lambda::ScheduledEvent = serde_json::from_str(input).unwrap_or_default();
                assert!(input.contains("<aws.scheduler.scheduled-time>"), "{id}: {event:?}");
                assert_eq!(props["ReservedConcurrentExecutions"], 1, "{id}: one instance");
            }
            "host-worker" => {
                assert_eq!(kinds, ["SQS"], "{id}");
                assert_eq!(sqs_queue(), "HostQueue");
            }
            "sync-all" => {
                assert_eq!(kinds, ["SQS"], "{id}");
                assert_eq!(sqs_queue(), "BulkQueue");
                assert_eq!(events[0]["Properties"]["BatchSize"], 1, "{id}: one step per invocation");
                assert_eq!(props["ReservedConcurrentExecutions"], 1, "{id}: one sync step at a time");
            }
            "webhook" => {
                assert!(kinds.is_empty(), "{id}");
                assert_eq!(props["FunctionUrlConfig"]["AuthType"], "NONE", "{id}: NetBox signs, it cannot do IAM");
            }
            "api" => {
                assert!(kinds.is_empty(), "{id}");
                assert_eq!(
                    props["FunctionUrlConfig"]["AuthType"], "AWS_IAM",
                    "{id}: the jobs API is IAM-authenticated"
                );
            }
            other => panic!("functions/{other}: say here which trigger it takes"),
        }
    }
    assert_eq!(deployed.keys().cloned().collect::<BTreeSet<_>>(), function_dirs(), "no function without a crate");
}

#[test]
fn every_iam_policy_names_only_resources_its_function_uses() {
    let template = template();
    let allowed_policies = ["DynamoDBCrudPolicy", "SQSPollerPolicy", "SQSSendMessagePolicy", "SSMParameterReadPolicy"];
    for (name, (id, props)) in functions(&template) {
        // What the function uses: its table, queues and secrets, as its environment and triggers
        // name them.
        let mut uses = BTreeSet::from(["JobTable".to_string()]);
        references(&props["Environment"], &mut uses);
        references(&props["Events"], &mut uses);
        let policies = props["Policies"].as_sequence().unwrap_or_else(|| panic!("{id}: no policies"));
        for policy in policies {
            let (kind, parameters) = policy.as_mapping().and_then(|m| m.iter().next()).unwrap();
            let kind = kind.as_str().unwrap();
            assert!(allowed_policies.contains(&kind), "{id}: {kind} is not a scoped policy template");
            let mut named = BTreeSet::new();
            references(parameters, &mut named);
            assert!(!named.is_empty(), "{id}: {kind} names no resource");
            let foreign: Vec<&String> = named.difference(&uses).collect();
            assert!(foreign.is_empty(), "{id} ({name}): {kind} names {foreign:?}, which the function does not use");
        }
    }
}
