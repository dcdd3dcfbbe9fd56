mod checks;
mod invocation;
