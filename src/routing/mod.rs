//! Routing the desk's calls: who is calling, and where the dialplan sends
//! the call. Reads only in-memory state: the directory
//! snapshot and the registrar's bindings; never the database.

pub mod busy;
pub mod caller;
pub mod desk;
pub mod dialplan;
pub mod note;
