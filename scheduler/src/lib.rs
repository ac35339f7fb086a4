//! The collection service: schedules, runs and delivery.

pub mod schedule;
