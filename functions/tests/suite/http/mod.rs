mod app;
mod handlers;
mod openapi;
mod router;
