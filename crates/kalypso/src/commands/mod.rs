//! One module per subcommand: its clap arguments and its `run`.

pub mod canary;
pub mod check;
pub mod doctor;
pub mod down;
pub mod lint;
pub mod render;
pub mod status;
pub mod up;
pub mod verify;
