//! The one rule for giving componentize-js berth's WASI WIT: its engine
//! (componentize-js 0.23, StarlingMonkey) implements wasi 0.2.10, berth
//! vendors 0.2.12 and links any 0.2.x, so JavaScript plugins build against
//! berth's files relabelled 0.2.10. Shared, as a source file, by the guests'
//! build step and `berth plugin new --lang js`.

/// `wit` with WASI 0.2.11 and 0.2.12 versions relabelled 0.2.10.
pub fn relabel_for_componentize_js(wit: &str) -> String {
    wit.replace("0.2.12", "0.2.10").replace("0.2.11", "0.2.10")
}
