//! OpenTelemetry traces: an in-process OTLP/HTTP receiver (POST /v1/traces,
//! protobuf) collects the spans the `lrs` processes export, and one POST's
//! gateway span and projector span must carry one trace id — on `lrs serve`
//! (always) and through Kafka with separate gateway and projector processes
//! (needs LRS_KAFKA_BROKERS, as the distributed tests).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{statement, unique_verb, Lrs};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost_014::Message;
use reqwest::Method;

/// How long the spans of one request may take to arrive.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// One exported span, flattened.
#[derive(Clone, Debug)]
struct ExportedSpan {
    /// `service.name` of the exporting process.
    service: String,
    /// The span name.
    name: String,
    /// Hex trace id.
    trace_id: String,
    /// String and integer attributes, as text.
    attributes: HashMap<String, String>,
}

/// An OTLP/HTTP receiver on 127.0.0.1:0 keeping every span it is sent.
struct Receiver {
    /// `http://127.0.0.1:PORT`, the base URL for OTEL_EXPORTER_OTLP_ENDPOINT.
    endpoint: String,
    spans: Arc<Mutex<Vec<ExportedSpan>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let spans = Arc::new(Mutex::new(Vec::new()));
        let sink = spans.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let sink = sink.clone();
                thread::spawn(move || serve_connection(stream, &sink));
            }
        });
        Receiver { endpoint, spans }
    }

    fn spans(&self) -> Vec<ExportedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Polls until `found` returns something, bounded by EXPORT_TIMEOUT.
    fn wait_for<T>(&self, what: &str, found: impl Fn(&[ExportedSpan]) -> Option<T>) -> T {
        let deadline = Instant::now() + EXPORT_TIMEOUT;
        loop {
            if let Some(value) = found(&self.spans()) {
                return value;
            }
            assert!(Instant::now() < deadline, "no {what} within {EXPORT_TIMEOUT:?}; spans: {:#?}", self.spans());
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Answers HTTP/1.1 requests on one (keep-alive) connection: every POST body
/// is decoded as an ExportTraceServiceRequest.
fn serve_connection(stream: TcpStream, sink: &Mutex<Vec<ExportedSpan>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().expect("a numeric content-length");
                }
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if request_line.starts_with("POST /v1/traces ") {
            let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP protobuf body");
            sink.lock().unwrap().extend(flatten(request));
        }
        let response = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<ExportedSpan> {
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let resource_attributes = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
        let service = attributes(&resource_attributes).remove("service.name").unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                spans.push(ExportedSpan {
                    service: service.clone(),
                    name: span.name.clone(),
                    trace_id: hex(&span.trace_id),
                    attributes: attributes(&span.attributes),
                });
            }
        }
    }
    spans
}

fn attributes(list: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> HashMap<String, String> {
    list.iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(text) => text.clone(),
                AnyValue::IntValue(number) => number.to_string(),
                AnyValue::BoolValue(flag) => flag.to_string(),
                _ => return None,
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The export settings: `variable` (OTEL_EXPORTER_OTLP_ENDPOINT or
/// LRS_OTLP_ENDPOINT) names the receiver; batches leave every 100 ms.
fn otlp_env(variable: &str, receiver: &Receiver) -> Vec<(String, String)> {
    vec![(variable.to_owned(), receiver.endpoint.clone()), ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned())]
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// POSTs one statement (with `traceparent` when given) and returns its id.
fn post_one(gateway: &Lrs, traceparent: Option<&str>) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let mut request = gateway.authed(Method::POST, "/xapi/statements").json(&statement(&id, &unique_verb()));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let (status, _, body) = common::send(request);
    assert_eq!(status, 200, "POST answered {status}: {body}");
    id
}

/// The trace id of the gateway span of the POST, once its projector span
/// (the `statements.store` command) arrived in the same trace; panics if
/// they never share one.
fn linked_trace(receiver: &Receiver, gateway_service: &str, projector_service: &str) -> String {
    receiver.wait_for("gateway and projector spans in one trace", |spans| {
        let gateway_traces: Vec<&str> = spans
            .iter()
            .filter(|s| s.service == gateway_service && s.name == "store_statements")
            .map(|s| s.trace_id.as_str())
            .collect();
        spans
            .iter()
            .filter(|s| s.service == projector_service && s.name == "project_command")
            .filter(|s| s.attributes.get("kind").is_some_and(|kind| kind.starts_with("statements.store")))
            .find(|s| gateway_traces.contains(&s.trace_id.as_str()))
            .map(|s| s.trace_id.clone())
    })
}

#[test]
fn one_post_on_lrs_serve_has_one_trace_through_gateway_and_projector() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let words = ["serve", "--listen", "127.0.0.1:0", "--data-dir"];
    let lrs = Lrs::start_with(&args(&words), dir.path(), &secret, &otlp_env("LRS_OTLP_ENDPOINT", &receiver));

    // Without a client context the server span starts a new trace.
    post_one(&lrs, None);
    let trace = linked_trace(&receiver, "lrs", "lrs");
    let spans = receiver.spans();
    let in_trace: Vec<&ExportedSpan> = spans.iter().filter(|s| s.trace_id == trace).collect();
    assert!(
        in_trace.iter().any(|s| s.name == "POST /xapi/statements"
            && s.attributes.get("http.response.status_code").map(String::as_str) == Some("200")),
        "the server span is in the trace: {in_trace:#?}"
    );
    assert_eq!(
        in_trace.iter().filter(|s| s.name == "project_command").count(),
        1,
        "one projector span for one command: {in_trace:#?}"
    );

    // With a client context, the whole trace is the client's.
    let client_trace = format!("{}", uuid::Uuid::new_v4().simple());
    let traceparent = format!("00-{client_trace}-{}-01", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    post_one(&lrs, Some(&traceparent));
    receiver.wait_for("the projector span in the client's trace", |spans| {
        spans.iter().any(|s| s.trace_id == client_trace && s.name == "project_command").then_some(())
    });
    let spans = receiver.spans();
    assert!(
        spans.iter().any(|s| s.trace_id == client_trace && s.name == "store_statements"),
        "the gateway span is in the client's trace: {:#?}",
        spans.iter().filter(|s| s.trace_id == client_trace).collect::<Vec<_>>()
    );
    assert!(lrs.stderr().contains("exporting traces over OTLP"), "stderr:\n{}", lrs.stderr());
}

#[test]
fn without_an_endpoint_nothing_is_exported_and_writes_work() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    // Empty is unset, whatever the environment of the test run holds.
    let unset: Vec<(String, String)> =
        ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "LRS_OTLP_ENDPOINT"]
            .iter()
            .map(|name| (name.to_string(), String::new()))
            .collect();
    let words = ["serve", "--listen", "127.0.0.1:0", "--data-dir"];
    let lrs = Lrs::start_with(&args(&words), dir.path(), &secret, &unset);
    post_one(&lrs, Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    assert!(!lrs.stderr().contains("exporting traces"), "stderr:\n{}", lrs.stderr());
    assert!(receiver.spans().is_empty());
}

#[test]
fn one_post_through_kafka_has_one_trace_across_gateway_and_projector_processes() {
    let brokers = match std::env::var("LRS_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.is_empty() => brokers,
        _ => {
            assert!(std::env::var("CI").is_err(), "CI must run the Kafka trace test: LRS_KAFKA_BROKERS is not set");
            common::note_skip("LRS_KAFKA_BROKERS is not set; run `make test` to start a broker");
            return;
        }
    };
    let receiver = Receiver::start();
    let prefix = format!("e2e-{}", uuid::Uuid::new_v4().simple());
    let mut env: Vec<(String, String)> = [
        ("LRS_LOG_BACKEND", "kafka"),
        ("LRS_KAFKA_BROKERS", brokers.as_str()),
        ("LRS_KAFKA_TOPIC_PREFIX", prefix.as_str()),
        ("LRS_KAFKA_PARTITIONS", "3"),
        ("LRS_KAFKA_DELIVERY_TIMEOUT_MS", "2000"),
        ("LRS_VERDICT_DEADLINE_MS", "8000"),
        ("LRS_VAULT_TOKEN", "vault-token-for-traces"),
    ]
    .iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    env.extend(otlp_env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver));
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let store_dir = tempfile::tempdir().unwrap();
    let words = ["run", "--roles", "projector,query", "--listen", "127.0.0.1:0", "--data-dir"];
    let projector = Lrs::start_with(&args(&words), store_dir.path(), &secret, &env);
    let unused = tempfile::tempdir().unwrap();
    let mut gateway_env = env.clone();
    gateway_env.push(("LRS_VAULT_URL".to_owned(), projector.origin.clone()));
    let gateway = Lrs::start_with(
        &args(&["gateway", "--listen", "127.0.0.1:0", "--data-dir"]),
        unused.path(),
        &secret,
        &gateway_env,
    );

    post_one(&gateway, None);
    let trace = linked_trace(&receiver, "lrs-gateway", "lrs-projector-query");
    let spans = receiver.spans();
    let services: std::collections::BTreeSet<&str> =
        spans.iter().filter(|s| s.trace_id == trace).map(|s| s.service.as_str()).collect();
    assert_eq!(
        services.into_iter().collect::<Vec<_>>(),
        ["lrs-gateway", "lrs-projector-query"],
        "one trace spans both processes; projector stderr:\n{}",
        projector.stderr()
    );
}
