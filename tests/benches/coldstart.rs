//! Cold start of each Lambda binary: from process start to its first event answered, against
//! a Lambda Runtime API that this bench serves on 127.0.0.1; the same for a minimal
//! `lambda_runtime` hello-world (`tests/hello-lambda`); and each process's peak resident
//! memory (VmHWM) when it has answered. The starts go in rounds of every binary in turn, 20
//! rounds: each function is judged by its start over the hello-world's of the same round
//! (spread of the 20 ratios), so that whatever else the machine does weighs on both.
//!
//! Each function gets its real event (an HTTP API request, a scheduled event, an SQS batch)
//! with the production environment of `infra/template.yaml`. Their first DynamoDB calls go to
//! an endpoint this bench serves too, which answers as an empty table does (no items), so the
//! figure is the binary's own start and first event, not a store's latency. A call it does
//! not expect is refused, and a function that answers with an error fails the bench.
//!
//! `scripts/bench` builds the binaries as they are deployed (`cargo lambda build --release`,
//! one package at a time) and runs this with `COLDSTART_BIN_DIR` (the directory holding them)
//! and `COLDSTART_STARTS` (default 20).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use outreach_api::auth::{AuthConfig, LOCAL_ISSUER, Role};
use tokio::sync::mpsc;

#[path = "common/figures.rs"]
mod figures;
use figures::{Better, Figure, Spread, megabytes, peak_kib, print_figures, ratios};

const SECRET: &str = "coldstart-bench-secret-of-at-least-32-bytes";
const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
/// A function is at most this much slower to start than the hello-world.
const MAX_RATIO: f64 = 1.5;
const MAX_PEAK_MB: f64 = 30.0;

/// What one start of a binary showed.
struct Start {
    /// Process start to its first `GET /runtime/invocation/next`: its own initialisation.
    init: Duration,
    /// Process start to the first event's answer.
    answered: Duration,
    peak_kib: u64,
}

#[derive(Default)]
struct Invocation {
    started: Option<Instant>,
    next: Option<Duration>,
    event: Vec<u8>,
    served: bool,
}

#[derive(Clone)]
struct Bench {
    invocation: Arc<Mutex<Invocation>>,
    answers: mpsc::UnboundedSender<(Duration, Result<Bytes, Bytes>)>,
    /// DynamoDB operations the functions called, for the report.
    dynamodb_calls: Arc<Mutex<HashMap<String, usize>>>,
}

/// `GET /2018-06-01/runtime/invocation/next`: the event, once; later calls wait forever (the
/// process is killed once it has answered).
async fn next(State(bench): State<Bench>) -> Response {
    let event = {
        let mut inv = bench.invocation.lock().unwrap();
        if inv.served {
            None
        } else {
            inv.served = true;
            inv.next = inv.started.map(|s| s.elapsed());
            Some(inv.event.clone())
        }
    };
    match event {
        Some(event) => (
            [
                ("lambda-runtime-aws-request-id", REQUEST_ID),
                ("lambda-runtime-deadline-ms", "32503680000000"),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:ap-southeast-1:123456789012:function:bench",
                ),
                ("lambda-runtime-trace-id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700"),
                ("content-type", "application/json"),
            ],
            event,
        )
            .into_response(),
        None => std::future::pending().await,
    }
}

async fn answered(bench: &Bench, answer: Result<Bytes, Bytes>) -> StatusCode {
    let elapsed = bench.invocation.lock().unwrap().started.map(|s| s.elapsed());
    if let Some(elapsed) = elapsed {
        let _ = bench.answers.send((elapsed, answer));
    }
    StatusCode::ACCEPTED
}

async fn response(State(bench): State<Bench>, body: Bytes) -> StatusCode {
    answered(&bench, Ok(body)).await
}

async fn error(State(bench): State<Bench>, body: Bytes) -> StatusCode {
    answered(&bench, Err(body)).await
}

/// DynamoDB's JSON protocol, as an empty table answers: reads find nothing, writes succeed;
/// any other operation is refused.
async fn dynamodb(State(bench): State<Bench>, headers: HeaderMap) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim_start_matches("DynamoDB_20120810.")
        .to_string();
    *bench.dynamodb_calls.lock().unwrap().entry(target.clone()).or_default() += 1;
    let body = match target.as_str() {
        "Query" | "Scan" => r#"{"Count":0,"Items":[],"ScannedCount":0}"#,
        "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" => "{}",
        other => {
            let message = format!(
                r#"{{"__type":"com.amazon.coral.validate#ValidationException","message":"the cold-start bench does not answer {other}"}}"#
            );
            return (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/x-amz-json-1.0")],
                message,
            )
                .into_response();
        }
    };
    ([("content-type", "application/x-amz-json-1.0")], body).into_response()
}

fn fixture(name: &str, replacements: &[(&str, &str)]) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (key, value) in replacements {
        let quoted = serde_json::to_string(value).unwrap();
        text = text.replace(&format!("__{key}__"), &quoted[1..quoted.len() - 1]);
    }
    serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    text.into_bytes()
}

/// A binary, its first event, and what its answer must show.
type Case = (&'static str, Vec<u8>, fn(&serde_json::Value) -> bool);

fn cases(token: &str) -> Vec<Case> {
    let scheduled = |job: &str| {
        fixture(
            "eventbridge-scheduled.json",
            &[("TIME", "2026-10-02T01:00:00Z"), ("JOB", job)],
        )
    };
    let task = r#"{"job_id":"jb-1","campaign_id":"cp-1","session_id":"ss-1","rule_id":"day-before","contact_id":"ct-1","channel":"sms"}"#;
    vec![
        ("hello-lambda", br#"{"hello":"world"}"#.to_vec(), |v| {
            v["hello"] == "world"
        }),
        (
            "api",
            fixture(
                "apigw-v2-request.json",
                &[
                    ("PATH", "/v1/campaigns"),
                    ("METHOD", "GET"),
                    ("TOKEN", token),
                    ("CONTENT_TYPE", "application/json"),
                    ("BODY", ""),
                ],
            ),
            |v| v["statusCode"] == 200,
        ),
        ("planner", scheduled("planner"), |v| v.is_object()),
        ("dispatcher", scheduled("dispatcher"), |v| v.is_object()),
        (
            "sender",
            fixture(
                "sqs-batch.json",
                &[("MESSAGE_ID", "m-1"), ("RECEIPT", "r-1"), ("BODY", task)],
            ),
            |v| v["batchItemFailures"].as_array().is_some_and(Vec::is_empty),
        ),
        ("quarterly-summary", scheduled("quarterly-summary"), |v| v.is_object()),
    ]
}

/// The production environment (`infra/template.yaml`), pointed at this bench.
fn environment(name: &str, port: u16) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}")),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/10/02/[$LATEST]bench".into()),
        ("AWS_REGION", "ap-southeast-1".into()),
        ("AWS_ACCESS_KEY_ID", "bench".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("OUTREACH_STORE", "dynamodb:outreach-bench".into()),
        ("OUTREACH_EMAIL", "ses".into()),
        ("OUTREACH_EMAIL_FROM", "nhac-lich@doanthanhnien.example.vn".into()),
        ("OUTREACH_SMS", "sns".into()),
    ];
    match name {
        "api" => env.extend([
            ("OUTREACH_JWT_SECRET", SECRET.into()),
            ("OUTREACH_WEBHOOK_SECRET", "coldstart-webhook-secret".into()),
        ]),
        "planner" => env.push(("OUTREACH_PLANNER_HORIZON_DAYS", "35".into())),
        "dispatcher" => env.push((
            "OUTREACH_QUEUE_URL",
            format!("http://127.0.0.1:{port}/123456789012/outreach-deliveries"),
        )),
        "sender" => env.extend([
            ("OUTREACH_JWT_SECRET", SECRET.into()),
            ("OUTREACH_CHANNEL_TIMEOUT_SECS", "10".into()),
            (
                "OUTREACH_PUBLIC_URL",
                "https://abcdef1234.execute-api.ap-southeast-1.amazonaws.com".into(),
            ),
        ]),
        "quarterly-summary" => env.push(("OUTREACH_CHANNEL_TIMEOUT_SECS", "30".into())),
        _ => {}
    }
    env
}

async fn start_once(
    bench: &Bench,
    answers: &mut mpsc::UnboundedReceiver<(Duration, Result<Bytes, Bytes>)>,
    binary: &Path,
    name: &str,
    event: &[u8],
    port: u16,
) -> (Start, serde_json::Value) {
    *bench.invocation.lock().unwrap() = Invocation {
        event: event.to_vec(),
        ..Default::default()
    };
    let mut command = Command::new(binary);
    command
        .env_clear()
        .envs(environment(name, port))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    bench.invocation.lock().unwrap().started = Some(started);
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let answer = tokio::time::timeout(Duration::from_secs(20), answers.recv()).await;
    let peak = peak_kib(child.id());
    child.kill().ok();
    let output = child.wait_with_output().unwrap();
    let (answered, body) = match answer {
        Ok(Some((elapsed, Ok(body)))) => (elapsed, body),
        Ok(Some((_, Err(body)))) => panic!("{name} answered an error: {}", String::from_utf8_lossy(&body)),
        _ => panic!(
            "{name} did not answer within 20 s; its stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
    };
    let init = bench.invocation.lock().unwrap().next.expect("the event was fetched");
    let value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{name}: answer is not JSON ({e})"));
    (
        Start {
            init,
            answered,
            peak_kib: peak,
        },
        value,
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let dir =
        PathBuf::from(std::env::var("COLDSTART_BIN_DIR").expect("COLDSTART_BIN_DIR: the directory of the binaries"));
    let starts: usize = std::env::var("COLDSTART_STARTS")
        .ok()
        .map(|v| v.parse().expect("COLDSTART_STARTS: a number"))
        .unwrap_or(20);

    let (tx, mut answers) = mpsc::unbounded_channel();
    let bench = Bench {
        invocation: Arc::default(),
        answers: tx,
        dynamodb_calls: Arc::default(),
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .route("/", post(dynamodb))
        .with_state(bench.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let token = AuthConfig::hs256(SECRET.as_bytes(), LOCAL_ISSUER).unwrap().mint(
        "coldstart",
        Role::Planner,
        "24",
        chrono::Utc::now(),
        chrono::Duration::hours(1),
    );
    println!(
        "Cold start: process start to first event answered, {starts} rounds of every binary in turn (runtime API on 127.0.0.1:{port})"
    );
    let cases = cases(&token);
    for (name, event, _) in &cases {
        let binary = dir.join(name);
        assert!(
            binary.is_file(),
            "{}: not built (scripts/bench builds it)",
            binary.display()
        );
        // One start to load the binary into the page cache, not counted.
        start_once(&bench, &mut answers, &binary, name, event, port).await;
    }
    let mut measured: Vec<Vec<Start>> = cases.iter().map(|_| Vec::with_capacity(starts)).collect();
    for _ in 0..starts {
        for ((name, event, check), starts) in cases.iter().zip(&mut measured) {
            let (start, answer) = start_once(&bench, &mut answers, &dir.join(name), name, event, port).await;
            assert!(check(&answer), "{name}: unexpected answer {answer}");
            starts.push(start);
        }
    }

    println!();
    println!(
        "{:<18} {:>9} {:>30} {:>30} {:>8}",
        "binary", "init ms", "answered ms (min – max)", "x hello (min – max)", "peak MB"
    );
    let answered = |starts: &[Start]| -> Vec<f64> { starts.iter().map(|s| ms(s.answered)).collect() };
    let hello = answered(&measured[0]);
    let mut figures = Vec::new();
    for ((name, _, _), starts) in cases.iter().zip(&measured) {
        let init = Spread::of(&starts.iter().map(|s| ms(s.init)).collect::<Vec<_>>());
        let total = Spread::of(&answered(starts));
        let ratio = Spread::of(&ratios(&answered(starts), &hello));
        let peak_mb = megabytes(starts.iter().map(|s| s.peak_kib).max().unwrap_or(0));
        println!(
            "{name:<18} {:>9.2} {:>30} {:>30} {:>8.1}",
            init.median,
            total.show(2, ""),
            ratio.show(2, "x"),
            peak_mb
        );
        if *name == "hello-lambda" {
            figures.push(Figure::info(
                "cold start: hello-world",
                format!("{} ms", total.show(2, "")),
            ));
            continue;
        }
        figures.push(Figure::spread(
            format!("cold start: {name} (x hello)"),
            format!("{:.2} ms = {}", total.median, ratio.show(2, "x")),
            &ratio,
            MAX_RATIO,
            Better::Lower,
            format!("<= {MAX_RATIO}x"),
        ));
        figures.push(Figure::new(
            format!("cold start: {name} peak memory"),
            format!("{peak_mb:.1} MB"),
            format!("<= {MAX_PEAK_MB} MB"),
            peak_mb <= MAX_PEAK_MB,
        ));
    }
    let mut calls: Vec<_> = bench.dynamodb_calls.lock().unwrap().clone().into_iter().collect();
    calls.sort();
    println!();
    println!("DynamoDB calls the bench answered (all starts): {calls:?}");
    print_figures(&figures);
}
