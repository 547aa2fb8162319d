//! A real webhook receiver on a loopback port, as an integration would run one: it
//! records every request and checks its signatures the way a receiver does, with the
//! reference Standard Webhooks library for `webhook-*` and HMAC-SHA256 for `x-vambe-*`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a delivery's body is JSON")
    }

    /// Checks both signatures against `secret`, as a receiver would.
    pub fn verify(&self, secret: &str) {
        let mut headers = ureq::http::HeaderMap::new();
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            headers.insert(name, self.header(name).parse().expect("a header value"));
        }
        let verifier = match secret.strip_prefix("whsec_") {
            Some(_) => standardwebhooks::Webhook::new(secret),
            None => standardwebhooks::Webhook::from_bytes(secret.as_bytes().to_vec()),
        }
        .expect("a usable secret");
        verifier
            .verify(self.body.as_bytes(), &headers)
            .unwrap_or_else(|e| panic!("the Standard Webhooks signature does not verify: {e}"));

        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(self.header("x-vambe-timestamp").as_bytes());
        mac.update(b".");
        mac.update(self.body.as_bytes());
        assert_eq!(
            self.header("x-vambe-signature"),
            hex::encode(mac.finalize().into_bytes()),
            "the x-vambe signature does not verify"
        );
    }
}

/// What the receiver answers to its `n`-th request (from 0): a status and a delay.
pub type Behaviour = dyn Fn(usize) -> (u16, Duration) + Send + Sync;

/// A receiver running on its own thread until dropped.
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// A receiver that answers 200 at once.
    pub fn ok() -> Self {
        Self::start(|_| (200, Duration::ZERO))
    }

    pub fn start(behaviour: impl Fn(usize) -> (u16, Duration) + Send + Sync + 'static) -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let behaviour: Arc<Behaviour> = Arc::new(behaviour);
        let (tx, rx) = std::sync::mpsc::channel();
        let recorded = got.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    let recorded = recorded.clone();
                    let behaviour = behaviour.clone();
                    App::new().default_service(web::to(
                        move |req: HttpRequest, body: web::Bytes| {
                            let recorded = recorded.clone();
                            let behaviour = behaviour.clone();
                            async move {
                                let n = {
                                    let mut got = recorded.lock().unwrap();
                                    got.push(Received {
                                        headers: req
                                            .headers()
                                            .iter()
                                            .map(|(k, v)| {
                                                (
                                                    k.as_str().to_owned(),
                                                    v.to_str().unwrap_or("").to_owned(),
                                                )
                                            })
                                            .collect(),
                                        body: String::from_utf8_lossy(&body).into_owned(),
                                        at: Instant::now(),
                                    });
                                    got.len() - 1
                                };
                                let (status, delay) = behaviour(n);
                                if !delay.is_zero() {
                                    actix_web::rt::time::sleep(delay).await;
                                }
                                HttpResponse::build(
                                    actix_web::http::StatusCode::from_u16(status).unwrap(),
                                )
                                .body("thanks")
                            }
                        },
                    ))
                })
                .workers(1)
                .bind(("127.0.0.1", 0))
                .expect("bind a receiver");
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).unwrap();
                let _ = server.await;
            });
        });
        let (addr, handle) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("receiver up");
        Self {
            url: format!("http://{addr}/hook"),
            got,
            handle,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (or panics after `timeout`), and returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} requests of the {n} expected in {timeout:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // The stop is sent at the call; its future only waits for the end.
        drop(self.handle.stop(false));
    }
}
