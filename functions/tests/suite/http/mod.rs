mod app;
mod handlers;
mod inputs;
mod invocation;
mod openapi;
mod pool_of_one;
mod refusals;
mod router;
