//! kalypso's integration tests, one binary (one link) as ripgrep keeps them.

mod controlplane;
mod support;
mod up_controlplane;
