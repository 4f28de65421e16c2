//! The engine's integration tests, one binary (each file a module): the engine end to end over the
//! in-process memory cloud (`engine`, `fence`, `temp_files`), the plan text of the example stacks
//! (`plan_text`) and as a pull-request comment (`plan_markdown`), the stack parser under generated input (`stack_fuzz`), and the generated docs
//! checked against the kind declarations (`docs`; `EMPI_BLESS=1` rewrites them).

mod docs;
mod engine;
mod fence;
mod kind_names;
mod layers;
mod plan_markdown;
mod plan_text;
mod stack_fuzz;
mod temp_files;
