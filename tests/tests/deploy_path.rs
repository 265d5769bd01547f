//! The deploy path `deploy --aws` takes (artifact bucket, zip upload, `CodeUri` rewriting,
//! a change set with the capabilities AWS requires), run end to end on its own emulator
//! standing in for AWS: only the endpoint and the credentials differ.

use orderflow::local::emulator::{ManagedEmulator, StopOnDrop};
use orderflow::project::Project;
use orderflow::stacks::deploy::{DeployRequest, deploy};
use orderflow::stacks::deployer_policy;
use orderflow::stacks::stack::StackInfo;
use orderflow::stacks::target::{Clients, Target};
use std::collections::BTreeMap;

const STACK: &str = "deploy-path";

/// A resource CloudFormation refuses when it creates it (SSM parameters of type
/// `SecureString` cannot be made by a template), on AWS as on the emulator.
const BROKEN_RESOURCE: &str = "  BrokenParameter:
    Type: AWS::SSM::Parameter
    Properties:
      Type: SecureString
      Value: never-created
";

#[tokio::test]
#[ignore = "needs the emulator tools and debug zips: run `cargo run -p orderflow -- test`"]
async fn a_redeploy_keeps_what_it_was_not_given_an_unchanged_one_changes_nothing_a_failed_one_rolls_back_and_down_removes_only_its_own()
 {
    let project = Project::locate().expect("the checkout");
    let port = orderflow::local::emulator::free_port().expect("a free port");
    let emulator = StopOnDrop(ManagedEmulator::new(&project, port));
    emulator.0.start().await.expect("the emulator starts");
    let target = Target::external(&emulator.0.endpoint());
    let clients = Clients::new(target.clone()).await;
    // The commands' own calls are recorded: the deploying user's policy is derived from them.
    let deployer = Clients::recording(target.clone()).await;
    let template = std::fs::read_to_string(project.template()).unwrap();
    let zips = orderflow::stacks::build::debug_zips(&project).expect("debug zips (the test command builds them)");
    let key = format!("ofk_deploy_{port}");
    let deploy_with = |template: String, parameters: BTreeMap<String, String>| {
        let (clients, zips) = (&deployer, &zips);
        async move {
            let request =
                DeployRequest { stack: STACK, template: &template, zips, parameters, first_deploy: BTreeMap::new() };
            deploy(clients, request).await
        }
    };

    let first = BTreeMap::from([
        ("EmulatorEndpoint".to_string(), emulator.0.endpoint()),
        ("ApiKeys".to_string(), orderflow::stacks::api_key::parameter_entry("deploy", &key, Some(100))),
        ("OrderTimeoutSeconds".to_string(), "300".to_string()),
    ]);
    let stack = deploy_with(template.clone(), first).await.expect("the first deploy");
    let secrets = (
        stack.secret(&clients, "WebhookSecretArn").await.unwrap(),
        stack.secret(&clients, "PaymentWebhookSecretArn").await.unwrap(),
    );
    let api = stack.api_url(&target).unwrap();
    assert_eq!(unknown_order_status(&api, &key).await, 404, "the key is let in (404: no such order)");

    // One parameter changed; nothing else given.
    let one_change = BTreeMap::from([("OrderTimeoutSeconds".to_string(), "600".to_string())]);
    let stack = deploy_with(template.clone(), one_change.clone()).await.expect("the redeploy");
    assert_eq!(parameter(&clients, "OrderTimeoutSeconds").await, "600");
    let kept = (
        stack.secret(&clients, "WebhookSecretArn").await.unwrap(),
        stack.secret(&clients, "PaymentWebhookSecretArn").await.unwrap(),
    );
    assert_eq!(kept, secrets, "both webhook secrets survive the redeploy");
    assert_eq!(unknown_order_status(&api, &key).await, 404, "ApiKeys kept: the key is still let in");
    assert_eq!(parameter(&clients, "EmulatorEndpoint").await, emulator.0.endpoint(), "the endpoint kept");

    // A plan of another change: listed, not made.
    let updated_before = last_updated(&clients).await;
    let longer = BTreeMap::from([("OrderTimeoutSeconds".to_string(), "900".to_string())]);
    let request = DeployRequest {
        stack: STACK,
        template: &template,
        zips: &zips,
        parameters: longer,
        first_deploy: BTreeMap::new(),
    };
    let changes = orderflow::stacks::deploy::plan(&deployer, request).await.expect("a plan");
    assert!(
        changes.iter().any(|c| c.action == "Modify" && c.logical_id == "TimeoutSweeperFunction"),
        "the sweeper's timeout changes: {changes:?}"
    );
    assert_eq!(parameter(&clients, "OrderTimeoutSeconds").await, "600", "nothing executed");
    assert_eq!(last_updated(&clients).await, updated_before);
    // A plan of a stack that does not exist lists what it would add and leaves no stack.
    let request = DeployRequest {
        stack: "deploy-plan",
        template: &template,
        zips: &zips,
        parameters: BTreeMap::from([
            ("EmulatorEndpoint".to_string(), emulator.0.endpoint()),
            ("ApiKeys".to_string(), orderflow::stacks::api_key::parameter_entry("plan", &key, None)),
        ]),
        first_deploy: BTreeMap::new(),
    };
    let additions = orderflow::stacks::deploy::plan(&deployer, request).await.expect("a plan of a new stack");
    assert!(additions.iter().all(|c| c.action == "Add") && additions.len() > 40, "{additions:?}");
    assert!(
        StackInfo::find(&clients, "deploy-plan").await.unwrap().is_none_or(|s| s.status == "DELETE_COMPLETE"),
        "no stack left"
    );

    // The same again: nothing to change, nothing changed.
    let updated_before = last_updated(&clients).await;
    let stack = deploy_with(template.clone(), one_change).await.expect("a deploy with no change");
    assert_eq!(last_updated(&clients).await, updated_before, "the stack was not updated");
    assert_eq!(stack.status, "UPDATE_COMPLETE");

    // A resource that fails: the error names it and why; the stack is as it was.
    let broken = template.replacen("\nResources:\n", &format!("\nResources:\n{BROKEN_RESOURCE}\n"), 1);
    assert_ne!(broken, template);
    let error =
        deploy_with(broken, BTreeMap::new()).await.expect_err("a deploy of a broken resource fails").to_string();
    assert!(error.contains("BrokenParameter") && error.contains("SecureString"), "names the resource and why: {error}");
    let after = StackInfo::require(&clients, STACK).await.unwrap();
    assert_eq!(after.status, "UPDATE_ROLLBACK_COMPLETE", "{error}");
    assert_eq!(unknown_order_status(&api, &key).await, 404, "the rolled-back stack still serves");
    assert_eq!(parameter(&clients, "OrderTimeoutSeconds").await, "600");
    // down --aws: only a stack orderflow deployed, and its artifact bucket with it.
    let foreign = "not-ours";
    let queue_only = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n";
    clients.cloudformation().create_stack().stack_name(foreign).template_body(queue_only).send().await.unwrap();
    let refused = orderflow::stacks::destroy::destroy(&deployer, foreign).await.expect_err("not ours").to_string();
    assert!(refused.contains("not deployed by orderflow"), "{refused}");
    assert!(StackInfo::find(&clients, foreign).await.unwrap().is_some(), "left alone");
    let mut types = deployer_policy::resource_types(&clients, STACK).await.expect("the stack's resource types");
    types.extend(deployer_policy::conditional_types(&template).expect("the template's conditional resources"));
    let destroyed = orderflow::stacks::destroy::destroy(&deployer, STACK).await.expect("down --aws");
    let (bucket, objects) = destroyed.bucket.expect("the artifact bucket");
    assert!(objects >= zips.len(), "{objects} objects in {bucket}");
    assert!(StackInfo::find(&clients, STACK).await.unwrap().is_none_or(|s| s.status == "DELETE_COMPLETE"));
    assert!(clients.s3().head_bucket().bucket(&bucket).send().await.is_err(), "{bucket} deleted");

    // The deploying user's policy, from what the commands did and what CloudFormation did for them.
    let recorded = deployer.recorder.as_ref().expect("recording clients").actions();
    let handlers = deployer_policy::handler_permissions(&project, &types).expect("the resource schemas");
    let policies = deployer_policy::documents(&recorded, &handlers);
    deployer_policy::check_or_write(project.root(), &policies).expect("infra/deployer-policy/ is current");

    e2e::report(
        "deploy-path",
        &format!(
            "deploy path on its own emulator: create, a one-parameter redeploy (secrets and ApiKeys kept), a plan ({} changes listed, none made; a new stack's plan: {} resources to add, no stack left), a no-change deploy (stack untouched), a failed update rolled back, then down --aws (a stack it did not deploy refused; its own deleted with the {objects} objects of {bucket}); the failure read: {error}; the deploying user's policy: {} actions the commands called, {} for CloudFormation's handlers of {} resource types",
            changes.len(),
            additions.len(),
            recorded.len(),
            handlers.values().flatten().collect::<std::collections::BTreeSet<_>>().len(),
            types.len()
        ),
    );
}

async fn unknown_order_status(api: &str, key: &str) -> u16 {
    let http = orderflow::stacks::api_key::http_client(key).unwrap();
    let url = format!("{api}/orders/{}", uuid::Uuid::new_v4());
    http.get(url).send().await.expect("the API answers").status().as_u16()
}

async fn parameter(clients: &Clients, key: &str) -> String {
    let stacks = clients.cloudformation().describe_stacks().stack_name(STACK).send().await.unwrap();
    let stack = &stacks.stacks()[0];
    let found = stack.parameters().iter().find(|p| p.parameter_key() == Some(key));
    found.and_then(|p| p.parameter_value()).unwrap_or_default().to_string()
}

async fn last_updated(clients: &Clients) -> Option<aws_sdk_cloudformation::primitives::DateTime> {
    let stacks = clients.cloudformation().describe_stacks().stack_name(STACK).send().await.unwrap();
    stacks.stacks()[0].last_updated_time().cloned()
}
