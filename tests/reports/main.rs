//! Integration tests of the weekly report, its rules and the holiday
//! calendar: one test binary, so the support code is compiled and the
//! binary linked once for all of them.

#[macro_use]
#[path = "../support/mod.rs"]
mod support;
mod report_checks;

mod holidays;
mod report_rules;
mod report_weekly;
