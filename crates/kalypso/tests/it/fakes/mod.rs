//! Fakes, each in its own module, for what a real server cannot do on demand: a Kubernetes
//! API that times out, refuses or replays a crash-looping pod ([`api`], [`k8s`]), a helm that
//! hangs or fails ([`deploy`], and the `fake-helm` example built from `fake_helm_bin.rs`), and
//! wire-format fakes of the backends `verify` talks to ([`backends`]).

pub mod api;
pub mod backends;
pub mod deploy;
pub mod k8s;
