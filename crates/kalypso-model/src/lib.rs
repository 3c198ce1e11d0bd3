//! The Kalypso stack as data, the bottom layer every other crate reads: the component list
//! and its waves ([`stack`]), the contract of wires between the charts ([`contract`]), chart
//! metadata ([`chart`]), what decides a release's values ([`release`]), rendered objects parsed
//! and indexed ([`manifest`]), what a rule or check reports ([`finding`], [`outcome`]) and the
//! exit codes ([`error`]).
#![warn(unreachable_pub)]

pub mod chart;
pub mod contract;
pub mod error;
pub mod finding;
pub mod manifest;
pub mod outcome;
pub mod release;
pub mod stack;
