//! The integrity audit job: its checks (`checks`), the SQL they generate
//! from the deletion plan (`sql`), and one invocation of the function, which
//! resumes the open run and compares the chain with its anchor outside the
//! database (`invocation`).

pub mod checks;
pub mod invocation;
pub mod sql;
