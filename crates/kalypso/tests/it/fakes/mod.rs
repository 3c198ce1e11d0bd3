//! Fakes, each in its own module, for what a real server cannot do on demand: a Kubernetes
//! API that times out, refuses or replays a crash-looping pod ([`api`], [`k8s`]), a helm that
//! hangs or fails ([`deploy`], and the `fake-helm` example built from `fake_helm_bin.rs`), and
//! wire-format fakes of the backends `verify` talks to ([`backends`]).

pub mod api;
pub mod backends;
pub mod deploy;
pub mod k8s;

use std::net::SocketAddr;

/// Serves `router` on a free loopback port (for the life of the test's runtime); its address.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}
