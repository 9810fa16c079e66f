//! The embedded default: org `demo` with the example plugins built into the
//! binary, so `berth serve` with no arguments answers at once.

/// The demo org's name.
pub const ORG: &str = "demo";

/// An example plugin compiled into the binary.
pub struct EmbeddedPlugin {
    /// Its name under `/o/demo/p/{name}/`.
    pub name: &'static str,
    /// The component bytes.
    pub bytes: &'static [u8],
}

/// The plugins the demo org serves.
pub const PLUGINS: &[EmbeddedPlugin] = &[EmbeddedPlugin {
    name: "hello",
    bytes: berth_guests::HELLO_COMPONENT_BYTES,
}];
