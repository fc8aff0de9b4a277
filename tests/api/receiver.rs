//! Real HTTP receivers standing in for the group, billing and notification
//! services (and for a JWKS endpoint), and a Standard Webhooks verifier
//! written independently of the app.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::helpers::{now_secs, wait_for, WAIT};

/// One request a receiver got, and the status it answered.
#[derive(Debug, Clone)]
pub struct ReceivedWebhook {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub answered: u16,
}

impl ReceivedWebhook {
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("webhook without {name}: {:?}", self.headers))
    }

    pub fn webhook_id(&self) -> &str {
        self.header("webhook-id")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON webhook body")
    }

    /// True when one of the `webhook-signature` entries is ours for `whsec`.
    pub fn is_signed_with(&self, whsec: &str) -> bool {
        let expected = signature(
            whsec,
            self.webhook_id(),
            self.header("webhook-timestamp"),
            &self.body,
        );
        self.header("webhook-signature")
            .split(' ')
            .any(|candidate| candidate == expected)
    }
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` where key is the
/// base64 after `whsec_` — the Standard Webhooks scheme, computed here from the spec.
pub fn signature(whsec: &str, msg_id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(whsec.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 after whsec_");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

struct State {
    calls: Mutex<Vec<ReceivedWebhook>>,
    failures_left: AtomicUsize,
    stalls_left: AtomicUsize,
    stall_ms: AtomicU64,
    arrivals: AtomicUsize,
    status: AtomicU16,
    json: Mutex<Option<Value>>,
    location: Mutex<Option<String>>,
    held: AtomicBool,
    waiting: AtomicUsize,
}

/// A webhook target on 127.0.0.1 with its own signing secret. It answers
/// `500` to the next `fail_next(n)` calls, then its status (204 unless changed).
pub struct Receiver {
    pub url: String,
    pub secret: String,
    state: Arc<State>,
}

impl Receiver {
    pub fn start() -> Self {
        let secret = format!("whsec_{}", STANDARD.encode(rand::random::<[u8; 24]>()));
        let state = Arc::new(State {
            calls: Mutex::default(),
            failures_left: AtomicUsize::new(0),
            stalls_left: AtomicUsize::new(0),
            stall_ms: AtomicU64::new(0),
            arrivals: AtomicUsize::new(0),
            status: AtomicU16::new(204),
            json: Mutex::default(),
            location: Mutex::default(),
            held: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port for a receiver");
        let port = listener.local_addr().expect("a bound port").port();
        let data = web::Data::from(Arc::clone(&state));
        let server =
            HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(record)))
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("the receiver listens")
                .run();
        actix_web::rt::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/webhooks"),
            secret,
            state,
        }
    }

    /// Answer `500` to the next `n` calls.
    pub fn fail_next(&self, n: usize) {
        self.state.failures_left.store(n, Ordering::SeqCst);
    }

    /// Wait a second before answering the next `n` calls.
    pub fn stall_next(&self, n: usize) {
        self.stall_next_for(n, Duration::from_secs(1));
    }

    /// Wait `delay` before answering the next `n` calls.
    pub fn stall_next_for(&self, n: usize, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).expect("a short delay");
        self.state.stall_ms.store(millis, Ordering::SeqCst);
        self.state.stalls_left.store(n, Ordering::SeqCst);
    }

    /// Leave every call unanswered until [`Receiver::release`]: a target that hangs.
    pub fn hold(&self) {
        self.state.held.store(true, Ordering::SeqCst);
    }

    /// Answer the held calls, and the next ones at once.
    pub fn release(&self) {
        self.state.held.store(false, Ordering::SeqCst);
    }

    /// How many calls are held, unanswered, right now.
    pub fn waiting(&self) -> usize {
        self.state.waiting.load(Ordering::SeqCst)
    }

    /// Answer `status` (a redirect) with `Location: location` from now on.
    pub fn redirect(&self, status: u16, location: &str) {
        *self.state.location.lock().expect("receiver lock") = Some(location.to_owned());
        self.answer(status);
    }

    /// Answer `status` from now on.
    pub fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Answer `200` with this JSON document from now on (to serve a JWKS).
    pub fn serve_json(&self, document: Value) {
        self.answer(200);
        *self.state.json.lock().expect("receiver lock") = Some(document);
    }

    /// How many requests were answered, whatever they were.
    pub fn hits(&self) -> usize {
        self.state.calls.lock().expect("receiver lock").len()
    }

    /// How many requests arrived, those still stalled included.
    pub fn arrivals(&self) -> usize {
        self.state.arrivals.load(Ordering::SeqCst)
    }

    /// The status of each answered request, in order.
    pub fn statuses(&self) -> Vec<u16> {
        let calls = self.state.calls.lock().expect("receiver lock");
        calls.iter().map(|call| call.answered).collect()
    }

    /// Every call so far; each must carry a valid signature made with this
    /// receiver's secret and a timestamp within five minutes of now.
    #[track_caller]
    pub fn calls(&self) -> Vec<ReceivedWebhook> {
        let calls = self.state.calls.lock().expect("receiver lock").clone();
        for call in &calls {
            assert!(
                call.is_signed_with(&self.secret),
                "bad signature on {:?}: {}",
                call.headers,
                String::from_utf8_lossy(&call.body)
            );
            let sent_at: i64 = call.header("webhook-timestamp").parse().expect("unix seconds");
            assert!((sent_at - now_secs()).abs() < 300, "webhook-timestamp {sent_at}");
        }
        calls
    }

    /// The calls about one access request.
    pub fn calls_for(&self, request_id: &str) -> Vec<ReceivedWebhook> {
        self.calls()
            .into_iter()
            .filter(|call| call.json()["data"]["request_id"] == request_id)
            .collect()
    }

    /// Waits for `n` calls about the request and returns them.
    pub async fn wait_for_calls(&self, request_id: &str, n: usize) -> Vec<ReceivedWebhook> {
        wait_for("webhook calls", WAIT, async || {
            self.calls_for(request_id).len() >= n
        })
        .await;
        self.calls_for(request_id)
    }
}

/// Takes one from `counter` unless it is zero; true when it did.
fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn record(request: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    state.arrivals.fetch_add(1, Ordering::SeqCst);
    if take_one(&state.stalls_left) {
        let delay = Duration::from_millis(state.stall_ms.load(Ordering::SeqCst));
        actix_web::rt::time::sleep(delay).await;
    }
    if state.held.load(Ordering::SeqCst) {
        state.waiting.fetch_add(1, Ordering::SeqCst);
        while state.held.load(Ordering::SeqCst) {
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        state.waiting.fetch_sub(1, Ordering::SeqCst);
    }
    let failing = take_one(&state.failures_left);
    let answered = if failing {
        500
    } else {
        state.status.load(Ordering::SeqCst)
    };
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or_default().to_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    state.calls.lock().expect("receiver lock").push(ReceivedWebhook {
        headers,
        body: body.to_vec(),
        answered,
    });
    let mut response = HttpResponse::build(StatusCode::from_u16(answered).expect("a status"));
    if let Some(location) = state.location.lock().expect("receiver lock").clone() {
        response.insert_header(("location", location));
    }
    match state.json.lock().expect("receiver lock").clone() {
        Some(document) => response.json(document),
        None => response.finish(),
    }
}
