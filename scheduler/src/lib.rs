//! The collection service: cron schedules ([`schedule`]), one run of a pull stream
//! ([`runner`]: windows → pages → parse → batch → sinks → checkpoint), batching ([`batch`]),
//! sinks ([`sink`]), metrics ([`metrics`]), and the daemon with its admin API ([`service`],
//! [`admin`]).
//!
//! Invariant: a stream's checkpoint moves only after every sink routed for it has acknowledged
//! the batch that reaches it.

pub mod audit;
pub mod batch;
pub mod enrich;
pub mod evidence;
pub mod hunt;
pub mod metrics;
pub mod push;
pub mod runner;
pub mod schedule;
pub mod sink;
pub mod service;
pub mod admin;
