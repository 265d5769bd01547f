//! Adding a function the way docs/development.md says: `orderflow new consumer` on a copy
//! of this checkout, whose output must lint, test and route like the rest: the new crate
//! passes clippy and its own test, the template passes cfn-lint, and the routing, the
//! event catalog and the least-privilege policies read the new function.

use orderflow::generate::scaffold::{NewConsumer, scaffold};
use orderflow::project::Project;
use std::path::Path;
use std::process::Command;

const NAME: &str = "audit-log";

/// The checkout's files (tracked, and new ones not ignored) copied to `to`.
fn copy_checkout(from: &Path, to: &Path) {
    let listed = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard", "-z"])
        .current_dir(from)
        .output()
        .expect("git lists the checkout's files");
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let relative = Path::new(std::str::from_utf8(file).expect("a UTF-8 path"));
        let (source, target) = (from.join(relative), to.join(relative));
        if !source.is_file() {
            continue; // deleted in the working tree
        }
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&source, &target).unwrap();
    }
}

fn cargo(copy: &Path, target_dir: &Path, args: &[&str]) {
    let status = Command::new("cargo")
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(copy)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo {} failed in {}", args.join(" "), copy.display());
}

#[test]
#[ignore = "builds a crate in a copy of the checkout: run `cargo run -p orderflow -- test`"]
fn a_scaffolded_consumer_builds_tests_lints_and_is_routed() {
    let project = Project::locate().expect("the checkout");
    let copy_root = project.state_dir().join("scaffold-check");
    let _ = std::fs::remove_dir_all(&copy_root);
    copy_checkout(project.root(), &copy_root);
    let copy = Project::at(&copy_root).expect("the copy");

    let events = ["OrderPlaced", "OrderRejected"].map(String::from).into();
    let taken = orderflow::stacks::build::template_functions(&std::fs::read_to_string(copy.template()).unwrap());
    let consumer = NewConsumer::new(NAME, &["OrderPlaced".into(), "OrderRejected".into()], &events, &taken)
        .expect("a valid consumer");
    let written = scaffold(&copy, &consumer).expect("the scaffold");
    assert!(written.iter().any(|p| p.ends_with("functions/audit-log/src/main.rs")), "{written:?}");
    let again = scaffold(&copy, &consumer).expect_err("a second scaffold of the same name is refused");
    assert!(again.to_string().contains("exists"), "{again}");

    // The shared target directories: only the copy's own crates compile again. The test
    // first, beside the tests' build; then the lints in the test command's clippy directory
    // (`target/clippy`), whose dependencies that clippy has checked (in `target/` they were
    // checked from scratch: a check shares nothing with a build).
    let target_dir = project.target_dir();
    cargo(&copy_root, &target_dir, &["test", "-p", NAME]);
    cargo(&copy_root, &target_dir.join("clippy"), &["clippy", "-p", NAME, "--all-targets", "--", "-D", "warnings"]);

    let template = std::fs::read_to_string(copy.template()).unwrap();
    let cfn_lint = Command::new(project.venv_bin("cfn-lint")).arg(copy.template()).status().expect("cfn-lint runs");
    assert!(cfn_lint.success(), "the scaffolded template fails cfn-lint");
    let catalog = orderflow::generate::catalog::render(&template, &copy.events_dir().join("schemas")).unwrap();
    assert!(catalog.contains("audit-log.receive.AuditLogQueue"), "the catalog has its operation");
    let committed = std::fs::read_to_string(copy_root.join(orderflow::generate::catalog::CATALOG_FILE)).unwrap();
    assert_eq!(committed, catalog, "the scaffold wrote the catalog again");
    let policies = orderflow::stacks::least_privilege::policies(&template).unwrap();
    assert!(policies.contains_key(NAME), "its policy is read for the least-privilege check");
    let _ = std::fs::remove_dir_all(&copy_root);
}
