//! The live dashboard page, rendered by headless Chromium (Debian's `chromium`, which
//! `orderflow test` installs when missing) after a scenario: the figures must be there.

use e2e::Harness;
use std::process::Command;

fn chromium() -> String {
    std::env::var("ORDERFLOW_CHROMIUM").expect("ORDERFLOW_CHROMIUM is set by `orderflow test`")
}

/// Runs headless Chromium (coreutils' `timeout` ends it after a minute, whatever happens).
fn headless(args: &[&str]) -> std::process::Output {
    let mut command = Command::new("timeout");
    command.args(["60", &chromium()]);
    command.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--virtual-time-budget=5000",
    ]);
    command.args(args).output().expect("chromium runs")
}

/// The text of the element with `id` in the rendered DOM.
fn text_of(dom: &str, id: &str) -> String {
    let start = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in the page"));
    let open = start + dom[start..].find('>').unwrap() + 1;
    let close = open + dom[open..].find('<').unwrap();
    dom[open..close].to_string()
}

// Several threads: the dashboard serves on this runtime while Chromium (a blocking child
// process) loads the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the emulator and chromium: run `cargo run -p orderflow -- test`"]
async fn the_dashboard_renders_the_flow_queues_and_failures_after_a_scenario() {
    let harness = Harness::connect().await;
    harness.replay_scenario("happy-path").await;
    let dashboard = orderflow::ops::dashboard::start(harness.clients.clone(), harness.stack.clone(), 0).await.unwrap();
    // After the burst, a read of the last 15 minutes can take the busy emulator longer than
    // a page waits: ask until one read has finished (it then serves the page's asks).
    let figures = format!("{}api/figures", dashboard.url);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let status = reqwest::get(&figures).await.map(|r| r.status().as_u16()).unwrap_or(0);
        statuses.push(status);
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    assert_eq!(statuses.last(), Some(&200), "the figures were read: {statuses:?}");

    let dom = headless(&["--dump-dom", &dashboard.url]);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    let events: u64 = text_of(&dom, "events-total").parse().unwrap_or_else(|_| panic!("a number of events: {dom}"));
    assert!(events >= 7, "the scenario's events are counted: {events}");
    assert!(dom.contains("ShipmentScheduled") && dom.contains("PaymentQueue"), "flow and queues are drawn");
    assert!(dom.matches("<rect").count() >= 1, "the per-minute chart has bars");
    let _dead_letters: u64 = text_of(&dom, "dead-letters").parse().expect("a number of dead letters");

    let dir = orderflow::project::Project::locate().unwrap().state_dir().join("test-reports");
    std::fs::create_dir_all(&dir).unwrap();
    let screenshot = dir.join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    headless(&["--window-size=1280,1400", &format!("--screenshot={}", screenshot.display()), &dashboard.url]);
    let size = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "a screenshot of the page: {size} bytes");
    e2e::report(
        "dashboard",
        &format!(
            "dashboard rendered in headless Chromium: {events} events in the last 15 minutes; screenshot {}",
            screenshot.display()
        ),
    );
}
