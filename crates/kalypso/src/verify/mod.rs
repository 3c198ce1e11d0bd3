//! Proving the stack works: one module per signal, used by `verify` and `canary`.
