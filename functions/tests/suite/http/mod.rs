mod app;
mod handlers;
mod invocation;
mod openapi;
mod router;
