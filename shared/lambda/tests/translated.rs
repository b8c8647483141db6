//! `template.yaml` as CloudFormation will see it: translated offline by samtranslator (the library
//! `sam validate` and `sam deploy` use; `infra/translate-template.py` in the aws-tools venv), then
//! checked where the SAM source cannot be: the event source mappings SAM generates, the
//! environment of every generated function, the schedules' targets and their roles.
//!
//! Not checked here, because nothing offline can: whether AWS accepts the stack. moto's
//! CloudFormation cannot create it (it has no `AWS::Lambda::Url`, fails on outputs that name one,
//! and refuses FIFO queues without an explicit `.fifo` name, which CloudFormation generates).

use serde_json::Value;
use std::collections::BTreeSet;

fn translated() -> Value {
    let repo = format!("{}/../..", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(format!("{repo}/infra/aws-tools.sh"))
        .args(["python", "infra/translate-template.py", "template.yaml"])
        .current_dir(&repo)
        .output()
        .expect("infra/aws-tools.sh runs (it installs the aws-tools venv on first use)");
    assert!(out.status.success(), "samtranslator refused the template:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn resources<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    let all = template["Resources"].as_object().unwrap();
    all.iter().filter(|(_, r)| r["Type"] == kind).map(|(id, r)| (id.as_str(), &r["Properties"])).collect()
}

/// Every logical id a value names (`Ref`, `Fn::GetAtt`, `${...}` in `Fn::Sub`).
fn named(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(name)) => {
                        out.insert(name.clone());
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        out.insert(parts[0].as_str().unwrap().to_string());
                    }
                    ("Fn::Sub", Value::String(text)) => {
                        for part in text.split("${").skip(1) {
                            out.insert(part.split('}').next().unwrap().split('.').next().unwrap().to_string());
                        }
                    }
                    _ => named(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| named(v, out)),
        _ => {}
    }
}

#[test]
fn the_translated_stack_wires_queues_functions_and_schedules_to_resources_of_its_own() {
    let template = translated();
    let ids: BTreeSet<String> = template["Resources"].as_object().unwrap().keys().cloned().collect();
    let parameters: BTreeSet<String> = template["Parameters"].as_object().unwrap().keys().cloned().collect();
    let known = |name: &String| ids.contains(name) || parameters.contains(name) || name.starts_with("AWS::");

    // Each SQS trigger: its function, its queue, partial batch responses, and the host worker's cap.
    let mut mappings: Vec<(String, String)> = Vec::new();
    for (id, mapping) in resources(&template, "AWS::Lambda::EventSourceMapping") {
        let function = mapping["FunctionName"]["Ref"].as_str().unwrap().to_string();
        let queue = mapping["EventSourceArn"]["Fn::GetAtt"][0].as_str().unwrap().to_string();
        assert_eq!(mapping["FunctionResponseTypes"], serde_json::json!(["ReportBatchItemFailures"]), "{id}");
        if function == "HostWorkerFunction" {
            assert_eq!(mapping["ScalingConfig"]["MaximumConcurrency"]["Ref"], "HostWorkerMaxConcurrency", "{id}");
            assert_eq!(mapping["BatchSize"], 10, "{id}: the largest FIFO batch");
        }
        mappings.push((function, queue));
    }
    mappings.sort();
    assert_eq!(
        mappings,
        [("HostWorkerFunction".into(), "HostQueue".into()), ("SyncAllFunction".into(), "BulkQueue".into())]
    );

    // Every function's environment names only this stack's resources and parameters.
    let functions = resources(&template, "AWS::Lambda::Function");
    assert_eq!(functions.len(), 7);
    for (id, function) in &functions {
        let mut refs = BTreeSet::new();
        named(&function["Environment"], &mut refs);
        let foreign: Vec<&String> = refs.iter().filter(|r| !known(r)).collect();
        assert!(foreign.is_empty(), "{id}: its environment names {foreign:?}, not in the stack");
        assert_eq!(function["Environment"]["Variables"]["NZJ_DYNAMODB_TABLE"]["Ref"], "JobTable", "{id}");
    }

    // Every schedule targets its function, retries, keeps what it could not deliver in a queue its
    // role may send to, and carries the scheduler's context in its input.
    let schedules = resources(&template, "AWS::Scheduler::Schedule");
    assert_eq!(schedules.len(), 3);
    for (id, schedule) in schedules {
        let target = &schedule["Target"];
        let dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].as_str().unwrap();
        assert_eq!(dlq, "ScheduleDeadLetterQueue", "{id}");
        assert!(target["RetryPolicy"]["MaximumRetryAttempts"].is_number(), "{id}");
        assert!(target["Input"].as_str().unwrap().contains("<aws.scheduler.scheduled-time>"), "{id}");
        let role = target["RoleArn"]["Fn::GetAtt"][0].as_str().unwrap();
        let policies = template["Resources"][role]["Properties"]["Policies"].to_string();
        assert!(policies.contains("sqs:SendMessage") && policies.contains(dlq), "{id}: {role} may not send to {dlq}");
    }

    // Every alarm notifies the stack's topic and names only the stack's resources.
    for (id, alarm) in resources(&template, "AWS::CloudWatch::Alarm") {
        assert_eq!(alarm["AlarmActions"], serde_json::json!([{"Ref": "AlarmTopic"}]), "{id}");
        let mut refs = BTreeSet::new();
        named(alarm, &mut refs);
        assert!(refs.iter().all(known), "{id}: {refs:?}");
    }
}
