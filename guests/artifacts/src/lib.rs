//! The guest plugins of `guests/`, built into wasm32-wasip2 components by
//! this crate's build script. For each guest crate `foo-bar` there is
//! `FOO_BAR_COMPONENT` (the component's path) and `FOO_BAR_COMPONENT_BYTES`
//! (its contents); `ALL_COMPONENTS` lists them all, and `foreach_guest!`
//! invokes a macro once per guest.

#![deny(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/components.rs"));
