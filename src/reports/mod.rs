//! Managers' figures: the weekly report (computed from the store, rendered
//! as JSON, CSV, XLSX and HTML) and its arithmetic (the accounting rule
//! that counts a minute of a consultant's time once, Erlang C for the
//! phone line, deadlines measured in business time).

pub mod accounting;
pub mod business_time;
pub mod duty;
pub mod erlang;
pub mod mail;
pub mod model;
pub mod render;
pub mod svg;
pub mod weekly;
