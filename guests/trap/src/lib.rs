//! `trap`: a test route plugin whose handler traps on every request, to show
//! that a failing plugin fails only its own request.

wit_bindgen::generate!({
    path: "../../wit",
    world: "berth:plugin/route-plugin",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Trap;

impl Guest for Trap {
    fn handle(_request: IncomingRequest, _response_out: ResponseOutparam) {
        // With `panic = "abort"` this is a wasm `unreachable` trap.
        panic!("the trap plugin traps on every request");
    }
}

export!(Trap);
