//! The closed sets of words a task, a contact and a call-back move
//! through (status, source, channel, direction, kind). Rows store them as
//! text and the API shows them as strings; everywhere in between they are
//! these enums, so the rules match on variants instead of literals.

mod callback;
mod contact;
mod task;

pub use callback::*;
pub use contact::*;
pub use task::*;
