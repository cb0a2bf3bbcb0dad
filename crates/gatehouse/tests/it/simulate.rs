//! `gatehouse simulate` against the real server and its embedded broker: the
//! devices it registers, the traffic it drives and what Gatehouse made of it,
//! read back over the HTTP API.

use clap::Parser as _;
use gatehouse::cli::{Cli, Command};
use gatehouse::simulate::{run, SimulateArgs};
use gatehouse_testkit::TestBackend;
use serde_json::Value;

use crate::{eventually, TestApp, TOKEN};

/// A tenant whose resident holds card 4242 (facility 17), good at the front door at any hour.
async fn site(app: &TestApp, slug: &str) {
    crate::devices::site(app, slug).await;
}

/// The arguments as the command line would give them, pointed at the test server.
fn args(app: &TestApp, tenant: &str, extra: &[&str]) -> SimulateArgs {
    let server = app.url("");
    let mqtt = format!("mqtt://{}", app.server.mqtt_addr.expect("the embedded broker"));
    let mut argv = vec!["gatehouse", "simulate"];
    argv.extend_from_slice(extra);
    for (flag, value) in [("--server", server.as_str()), ("--mqtt", &mqtt), ("--token", TOKEN), ("--tenant", tenant)] {
        if !extra.contains(&flag) {
            argv.extend([flag, value]);
        }
    }
    match Cli::try_parse_from(argv).expect("valid arguments").command {
        Command::Simulate(args) => args,
        other => panic!("parsed as {other:?}"),
    }
}

async fn simulated_devices(app: &TestApp, tenant: &str) -> Vec<Value> {
    let list = app.get("/api/v1/devices?name=sim-&limit=500", Some(tenant)).await;
    list.ok()["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_drives_a_fleet_whose_traffic_gatehouse_decides_and_reuses_it() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    site(&app, "sim-fleet").await;

    let running = tokio::spawn(run(args(&app, "sim-fleet", &["--devices", "5", "--rate", "50", "--duration", "3"])));
    // While it runs, every simulated device is registered and online.
    eventually("five simulated devices online", || async {
        let devices = simulated_devices(&app, "sim-fleet").await;
        devices.len() == 5 && devices.iter().all(|device| device["status"] == "online")
    })
    .await;
    let summary = running.await.unwrap().unwrap();

    assert_eq!((summary.devices, summary.controllers, summary.sensors, summary.readers), (5, 1, 1, 3));
    assert_eq!((summary.created, summary.reused), (5, 0));
    assert!(summary.sent_access > 10, "{summary:?}");
    assert!(summary.sent_telemetry > 0 && summary.sent_events > 0, "{summary:?}");
    // Every request was answered with a decision: the known card granted, the unknown ones refused.
    assert_eq!(summary.decided(), summary.sent_access, "{summary:?}");
    assert_eq!((summary.answer_errors, summary.unanswered), (0, 0), "{summary:?}");
    assert!(summary.granted > 0 && summary.refused > 0, "{summary:?}");
    assert!(summary.round_trip_p50.is_some() && summary.round_trip_p99 >= summary.round_trip_p50);
    assert_eq!((summary.connection_errors, summary.publish_errors, summary.malformed), (0, 0, 0), "{summary:?}");
    let rendered = summary.render("sim-fleet");
    assert!(rendered.contains(&format!("{} granted", summary.granted)), "{rendered}");

    // The kinds, places and serials are what the simulator says it registers.
    let devices = simulated_devices(&app, "sim-fleet").await;
    let mut serials: Vec<&str> = devices.iter().map(|device| device["serial"].as_str().unwrap()).collect();
    serials.sort_unstable();
    assert_eq!(serials, ["sim-controller-0001", "sim-reader-0001", "sim-reader-0002", "sim-reader-0003", "sim-sensor-0001"]);
    for device in &devices {
        match device["kind"].as_str().unwrap() {
            "sensor" => assert!(device["zone_id"].is_string(), "{device}"),
            _ => assert!(device["access_point_id"].is_string(), "{device}"),
        }
    }

    // Each decision the readers were answered is in the access log, made by a simulated device.
    let log = app.get("/api/v1/access/log?limit=500", Some("sim-fleet")).await;
    let entries = log.ok()["items"].as_array().unwrap();
    let decisions = entries.iter().filter(|entry| entry["kind"] == "decision").count() as u64;
    assert!(decisions >= summary.decided(), "{decisions} logged, {} answered", summary.decided());
    let granted = entries.iter().filter(|entry| entry["granted"] == true).count() as u64;
    assert!(granted >= summary.granted, "{granted} logged granted, {} answered granted", summary.granted);

    // A clean stop says offline (a lost connection would say so through the last will).
    eventually("the simulated devices offline after the run", || async {
        simulated_devices(&app, "sim-fleet").await.iter().all(|device| device["status"] == "offline")
    })
    .await;

    // A second run reuses the same devices with new credentials.
    let again = run(args(&app, "sim-fleet", &["--devices", "5", "--rate", "50", "--duration", "1"])).await.unwrap();
    assert_eq!((again.created, again.reused), (0, 5));
    assert!(again.granted > 0, "{again:?}");
    assert_eq!(simulated_devices(&app, "sim-fleet").await.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_refuses_bad_input_with_one_clear_line() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    site(&app, "sim-bad").await;
    app.create_tenant("sim-empty").await;
    let fails = |args: SimulateArgs| async move {
        let err = run(args).await.expect_err("the run fails");
        let line = format!("{err:#}");
        assert!(!line.contains('\n'), "one line: {line}");
        line
    };
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };

    assert_eq!(fails(args(&app, "sim-bad", &["--devices", "0"])).await, "--devices must be at least 1");
    let line = fails(args(&app, "sim-bad", &["--devices", "2", "--rate", "500"])).await;
    assert!(line.contains("use --devices 6 or more"), "{line}");
    let line = fails(args(&app, "sim-bad", &["--server", &format!("http://127.0.0.1:{closed_port}")])).await;
    assert!(line.starts_with("cannot reach the Gatehouse server at http://127.0.0.1:"), "{line}");
    assert!(line.contains("Connection refused"), "{line}");
    let line = fails(args(&app, "sim-bad", &["--token", "ghb_not-the-token-at-all-0123456789abcdefghijklmno"])).await;
    assert!(line.contains("refused the token (401"), "{line}");
    let line = fails(args(&app, "sim-nope", &[])).await;
    assert!(line.starts_with("no tenant 'sim-nope'"), "{line}");
    let line = fails(args(&app, "sim-empty", &[])).await;
    assert!(line.contains("has no access points"), "{line}");
    let line = fails(args(&app, "sim-bad", &["--mqtt", &format!("mqtt://127.0.0.1:{closed_port}")])).await;
    assert!(line.starts_with("cannot reach the MQTT broker at 127.0.0.1:"), "{line}");
    // Nothing was registered by the runs that failed before connecting.
    assert!(simulated_devices(&app, "sim-bad").await.is_empty());

    // The binary turns the error into one line on stderr and a failing exit status.
    let output = std::process::Command::new(crate::binary::BIN)
        .args(["simulate", "--devices", "0", "--token", "x"])
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env("GATEHOUSE_DATA_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr), "gatehouse: --devices must be at least 1\n");
}
