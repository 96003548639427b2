//! Managers' figures: the arithmetic of the weekly report (Erlang C for the
//! phone line, deadlines measured in business time) and, later, the report
//! itself.

pub mod business_time;
pub mod erlang;
