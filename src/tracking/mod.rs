//! Time tracking: what the desk did and when. Contacts made from calls
//! reach the store through the durable [`journal`]; manual contacts, tasks,
//! work plans and the week's schedule are the admin API's and the CLI's;
//! [`states`] holds the words their rows move through.

pub mod duty;
pub mod ics;
pub mod journal;
pub mod planning;
pub mod schedule;
pub mod service;
pub mod states;
pub mod when;
