mod app;
mod handlers;
mod inputs;
mod invocation;
mod openapi;
mod refusals;
mod router;
