//! Installing the stack wave by wave with health gates: `up`, `down`, `status`, `doctor`.
