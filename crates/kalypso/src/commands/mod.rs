//! One module per subcommand: its clap arguments and its `run`.

pub(crate) mod canary;
pub mod check;
pub(crate) mod diff;
pub(crate) mod doctor;
pub(crate) mod down;
pub(crate) mod lint;
pub(crate) mod render;
pub(crate) mod status;
pub(crate) mod up;
pub(crate) mod verify;
