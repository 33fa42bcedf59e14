//! An in-process kassandra server (an in-memory single-node CQL v4 server
//! library) for tests: one per test, bound to 127.0.0.1:0. What it gets
//! wrong (no clustering order, no ranges, no LWT) is in ../shared/TESTING.md;
//! tests here only rely on what it does right.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};

use futures::{SinkExt, StreamExt};
use kassandra::error::DbError;
use kassandra::frame::request::Request;
use kassandra::frame::response::{error::Error, Response};
use kassandra::frame::{request_stream, response_sink};
use kassandra::KassandraSession;
use lrs_scylla::{ScyllaSettings, ScyllaStore};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running kassandra server; stops when dropped.
pub struct Kassandra {
    /// Where it listens.
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Drop for Kassandra {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Kassandra {
    /// Starts a fresh, empty server.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let session = Arc::new(Mutex::new(KassandraSession::new()));
        let accept = tokio::spawn(async move {
            // Dropping the set (when the accept task is aborted) aborts every connection.
            let mut clients = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                clients.spawn(client(session.clone(), stream));
            }
        });
        Self { addr, accept }
    }

    /// Settings for a store on this server: keyspace `keyspace`, schema
    /// agreement not awaited (kassandra has no peers to agree with).
    pub fn settings(&self, keyspace: &str) -> ScyllaSettings {
        let mut settings = ScyllaSettings::new([self.addr.to_string()], keyspace);
        settings.await_schema_agreement = false;
        settings
    }

    /// A connected, migrated store on this server.
    pub async fn store(&self, keyspace: &str) -> ScyllaStore {
        let store = ScyllaStore::connect(self.settings(keyspace)).await.expect("connect to kassandra");
        store.migrate().await.expect("migrate on kassandra");
        store
    }
}

async fn client(session: Arc<Mutex<KassandraSession>>, mut stream: TcpStream) {
    let (mut read, mut write) = stream.split();
    let mut requests = request_stream(&mut read);
    let mut responses = response_sink(&mut write);
    while let Some(Ok((frame, opcode, data))) = requests.next().await {
        let response = if frame.version.is_unsupported() {
            Response::unsupported_version()
        } else {
            // An unimplemented feature panics inside kassandra: answer a
            // server error instead of killing the connection.
            catch_unwind(AssertUnwindSafe(|| match Request::deserialize(opcode, &data, frame.flags) {
                Ok(request) => handle(&session, request),
                Err(error) => Response::Error(error),
            }))
            .unwrap_or_else(|panic| {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown".into());
                Response::Error(Error::new(DbError::ServerError, format!("kassandra panicked: {reason}")))
            })
        };
        if responses.send((response, frame.stream)).await.is_err() {
            break;
        }
    }
}

fn handle(session: &Mutex<KassandraSession>, request: Request<'_>) -> Response {
    let mut session = session.lock().unwrap_or_else(PoisonError::into_inner);
    let result = match request {
        Request::StartUp(_) | Request::Register { .. } => return Response::Ready,
        Request::Options => return Response::options(),
        Request::Query(query) => session.process(query),
        Request::Prepare(query) => session.prepare(query),
        Request::Execute(execute) => session.execute(execute),
        Request::Batch(batch) => session.process_batch(batch),
        Request::AuthResponse => return Response::Error(Error::new(DbError::ProtocolError, "no authentication")),
    };
    match result {
        Ok(result) => Response::Result(result),
        Err(error) => Response::Error(error),
    }
}
