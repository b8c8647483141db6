//! `template.yaml` against the code: every function in `functions/` is deployed with the trigger
//! its handler expects, and every IAM policy names only resources the function itself uses.

use serde_norway::Value;
use serde_norway::value::TaggedValue;
use std::collections::{BTreeMap, BTreeSet};

mod support;

use support::template;

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
                // Manual runs go to each system job's own function (`nzj_lambda::FUNCTION_VARIABLES`).
                for (job, variable) in nzj_lambda::FUNCTION_VARIABLES {
                    let mut named = BTreeSet::new();
                    references(&props["Environment"]["Variables"][variable], &mut named);
                    let function = named.into_iter().next().unwrap_or_else(|| panic!("{id}: {variable} is not set"));
                    let binary = deployed.iter().find(|(_, (fid, _))| *fid == function).map(|(b, _)| b.as_str());
                    let expected = match job {
                        nzj_core::SystemJob::ImportZabbixSettings => "import-settings",
                        nzj_core::SystemJob::MaintenanceCleanup => "maintenance-cleanup",
                        nzj_core::SystemJob::HostConfigSyncRefresh => "sync-refresh",
                    };
                    assert_eq!(binary, Some(expected), "{id}: {variable} names {function}");
                }
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
    let allowed_policies = [
        "DynamoDBCrudPolicy",
        "SQSPollerPolicy",
        "SQSSendMessagePolicy",
        "SSMParameterReadPolicy",
        "LambdaInvokePolicy",
    ];
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
            if kind == "Statement" {
                // Inline: DynamoDB actions on the table and its indexes only (`dynamodb_actions`).
                for statement in parameters.as_sequence().unwrap() {
                    let mut named = BTreeSet::new();
                    references(&statement["Resource"], &mut named);
                    assert_eq!(named, BTreeSet::from(["JobTable".to_string()]), "{id}: {statement:?}");
                    let actions = statement["Action"].as_sequence().unwrap();
                    assert!(actions.iter().all(|a| a.as_str().unwrap().starts_with("dynamodb:")), "{id}");
                }
                continue;
            }
            assert!(allowed_policies.contains(&kind), "{id}: {kind} is not a scoped policy template");
            let mut named = BTreeSet::new();
            references(parameters, &mut named);
            assert!(!named.is_empty(), "{id}: {kind} names no resource");
            let foreign: Vec<&String> = named.difference(&uses).collect();
            assert!(foreign.is_empty(), "{id} ({name}): {kind} names {foreign:?}, which the function does not use");
        }
    }
}

/// The resources of a type, by logical id.
fn resources_of<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    let resources = template["Resources"].as_mapping().unwrap();
    resources.iter().filter(|(_, r)| r["Type"] == kind).map(|(id, r)| (id.as_str().unwrap().to_string(), r)).collect()
}

/// The code's metric `name` with exactly these dimension names, or why not.
fn emitted(name: &str, dimensions: &[&str]) -> Result<(), String> {
    let Some((_, sets)) = nzj_runtime::metrics::CATALOG.iter().find(|(n, _)| *n == name) else {
        return Err(format!("{name} is not a metric the code emits"));
    };
    if sets.contains(&dimensions) {
        Ok(())
    } else {
        Err(format!("{name} is emitted with the dimension sets {sets:?}, not {dimensions:?}"))
    }
}

/// What would stop an alarm from deploying or from ever firing: a `SEARCH` in its metric math
/// (CloudWatch refuses an alarm on one: "SEARCH is not supported on Metric Alarms"), or a metric
/// of the product's namespace that the code does not emit with those dimensions.
fn alarm_problems(template: &Value) -> Vec<String> {
    let namespace = nzj_runtime::metrics::NAMESPACE;
    let mut problems = Vec::new();
    for (id, alarm) in resources_of(template, "AWS::CloudWatch::Alarm") {
        let props = &alarm["Properties"];
        let mut stats = Vec::new();
        if let Some(metric) = props["MetricName"].as_str() {
            stats.push((props["Namespace"].clone(), metric.to_string(), props["Dimensions"].clone()));
        }
        for query in props["Metrics"].as_sequence().into_iter().flatten() {
            if let Some(expression) = query["Expression"].as_str()
                && expression.to_ascii_uppercase().contains("SEARCH(")
            {
                problems.push(format!("{id}: SEARCH in an alarm ({expression}); alarm on a metric the code emits"));
            }
            let metric = &query["MetricStat"]["Metric"];
            if let Some(name) = metric["MetricName"].as_str() {
                stats.push((metric["Namespace"].clone(), name.to_string(), metric["Dimensions"].clone()));
            }
        }
        for (ns, name, dimensions) in stats.into_iter().filter(|(ns, _, _)| *ns == namespace) {
            let names: Vec<&str> =
                dimensions.as_sequence().into_iter().flatten().map(|d| d["Name"].as_str().unwrap()).collect();
            if let Err(e) = emitted(&name, &names) {
                problems.push(format!("{id}: {e} ({ns:?})"));
            }
        }
    }
    problems
}

#[test]
fn no_alarm_uses_search_and_every_alarm_metric_is_one_the_code_emits() {
    let template = template();
    assert_eq!(alarm_problems(&template), Vec::<String>::new());

    // The check catches what failed a real deploy: an alarm on a SEARCH expression.
    let mut searching = template.clone();
    let alarm = &mut searching["Resources"]["FailedJobsAlarm"]["Properties"];
    *alarm = serde_norway::from_str(
        r#"{"Metrics": [{"Id": "f", "Expression": "SUM(SEARCH('{NetboxZabbixJobs,JobName} MetricName=\"JobsFailed\"', 'Sum', 300))", "ReturnData": true}],
            "EvaluationPeriods": 1, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold"}"#,
    )
    .unwrap();
    let problems = alarm_problems(&searching);
    assert!(problems.iter().any(|p| p.starts_with("FailedJobsAlarm: SEARCH")), "{problems:?}");
    // And an alarm on a metric the code does not emit (a typo, or the per-job dimension alone).
    let mut typo = template.clone();
    typo["Resources"]["StalledJobsAlarm"]["Properties"]["MetricName"] = Value::from("JobStalled");
    assert!(alarm_problems(&typo).iter().any(|p| p.contains("JobStalled is not a metric")));
}

#[test]
fn every_dashboard_metric_of_the_product_is_one_the_code_emits() {
    let template = template();
    let mut checked = 0;
    for (id, dashboard) in resources_of(&template, "AWS::CloudWatch::Dashboard") {
        let Value::Tagged(body) = &dashboard["Properties"]["DashboardBody"] else { panic!("{id}: !Sub body") };
        let body = body.value.as_str().unwrap();
        // `SEARCH('{NetboxZabbixJobs,JobName} MetricName="X"', ...)` (dashboards accept SEARCH).
        for search in body.split("SEARCH('{").skip(1) {
            let (schema, rest) = search.split_once('}').unwrap();
            let mut parts = schema.split(',');
            assert_eq!(parts.next(), Some(nzj_runtime::metrics::NAMESPACE), "{id}: {schema}");
            let dimensions: Vec<&str> = parts.collect();
            let name = rest.split("MetricName=\\\"").nth(1).and_then(|r| r.split("\\\"").next()).unwrap();
            emitted(name, &dimensions).unwrap_or_else(|e| panic!("{id}: {e}"));
            checked += 1;
        }
        // `["NetboxZabbixJobs", "X", "Service", "nzj"]`.
        for plain in body.split("[\"NetboxZabbixJobs\", \"").skip(1) {
            let fields: Vec<&str> = plain.split(']').next().unwrap().split("\", \"").collect();
            let name = fields[0];
            let dimensions: Vec<&str> = fields[1..].iter().step_by(2).copied().collect();
            emitted(name, &dimensions).unwrap_or_else(|e| panic!("{id}: {e}"));
            checked += 1;
        }
    }
    assert_eq!(checked, 8, "the dashboard's product metrics were all found and checked");
}

#[test]
fn data_outlives_the_stack_and_every_function_logs_with_a_retention() {
    let template = template();
    for kind in ["AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup"] {
        for (id, resource) in resources_of(&template, kind) {
            assert_eq!(resource["DeletionPolicy"], "Retain", "{id}");
            assert_eq!(resource["UpdateReplacePolicy"], "Retain", "{id}");
        }
    }
    let groups: BTreeMap<String, &Value> = resources_of(&template, "AWS::Logs::LogGroup")
        .into_iter()
        .map(|(_, g)| {
            let mut named = BTreeSet::new();
            references(&g["Properties"]["LogGroupName"], &mut named);
            (named.into_iter().next().unwrap(), g)
        })
        .collect();
    for (name, (id, _)) in functions(&template) {
        let group = groups.get(&id).unwrap_or_else(|| panic!("{id} ({name}) has no log group of its own"));
        let mut retention = BTreeSet::new();
        references(&group["Properties"]["RetentionInDays"], &mut retention);
        assert_eq!(retention, BTreeSet::from(["LogRetentionDays".to_string()]), "{id}");
    }
}

#[test]
fn zabbix_is_protected_from_fan_out_and_no_failed_invocation_goes_unseen() {
    let template = template();
    let timeout = |props: &Value| props["Timeout"].as_u64().or(template["Globals"]["Function"]["Timeout"].as_u64());
    for (name, (id, props)) in functions(&template) {
        for event in props["Events"].as_mapping().into_iter().flat_map(|m| m.values()) {
            match event["Type"].as_str().unwrap() {
                "SQS" => {
                    let mut queue = BTreeSet::new();
                    references(&event["Properties"]["Queue"], &mut queue);
                    let queue = queue.into_iter().next().unwrap();
                    let visibility =
                        template["Resources"][queue.as_str()]["Properties"]["VisibilityTimeout"].as_u64().unwrap();
                    let timeout = timeout(&props).unwrap();
                    assert!(visibility >= 6 * timeout, "{queue}: visibility {visibility} s < 6 x {id}'s {timeout} s");
                    if name == "host-worker" {
                        let mut cap = BTreeSet::new();
                        references(&event["Properties"]["ScalingConfig"]["MaximumConcurrency"], &mut cap);
                        assert_eq!(cap, BTreeSet::from(["HostWorkerMaxConcurrency".to_string()]), "{id}");
                    }
                }
                "ScheduleV2" => {
                    let schedule = &event["Properties"];
                    assert!(schedule["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some(), "{id}: retry policy");
                    assert!(!schedule["DeadLetterConfig"].is_null(), "{id}: an undelivered tick is kept");
                    let on_failure = &props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
                    assert_eq!(on_failure["Type"], "SQS", "{id}: a failed asynchronous invocation is kept");
                }
                _ => {}
            }
        }
    }
}

#[test]
fn each_function_may_do_only_the_dynamodb_actions_it_needs() {
    let template = template();
    let actions = |binary: &str| support::dynamodb_actions(&template, binary).1;
    for binary in function_dirs() {
        let allowed = actions(&binary);
        assert!(allowed.contains("dynamodb:GetItem") && allowed.contains("dynamodb:PutItem"), "{binary}: {allowed:?}");
        // Nothing scans the table, nor needs the batch or update APIs, nor changes the table itself.
        for never in
            ["Scan", "BatchWriteItem", "BatchGetItem", "UpdateItem", "CreateTable", "DeleteTable", "UpdateTable"]
        {
            assert!(!allowed.contains(&format!("dynamodb:{never}")), "{binary}: {never}");
        }
    }
    // The webhook only records a delivery and its job: no query, no delete.
    assert_eq!(actions("webhook"), BTreeSet::from(["dynamodb:GetItem".into(), "dynamodb:PutItem".into()]));
    // Only what deletes maintenance windows may delete items: MaintenanceCleanup and the API.
    for binary in function_dirs() {
        let deletes = actions(&binary).contains("dynamodb:DeleteItem");
        assert_eq!(deletes, ["maintenance-cleanup", "api"].contains(&binary.as_str()), "{binary}");
    }
}
