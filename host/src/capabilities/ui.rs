//! The `ui` grant: the console slots a plugin may fill, and whether it may
//! add pages and theme tokens. The serve layer's `ui` module serves what
//! an active plugin contributes within it.

use crate::capabilities::capability::{Capability, missing, retain_declared};

/// The `ui` permission.
pub const CAPABILITY: Capability = Capability {
    permission: "ui",
    imports: &[],
    declared: |p| p.ui.is_some(),
    not_covered: |wanted, available| {
        let (wanted, available) = (
            wanted.ui.clone().unwrap_or_default(),
            available.ui.clone().unwrap_or_default(),
        );
        let flag = |name: &str, set: bool| {
            if set {
                vec![name.to_owned()]
            } else {
                Vec::new()
            }
        };
        let mut lacking = missing("ui slot", &wanted.slots, &available.slots);
        lacking.extend(missing(
            "ui",
            &flag("pages", wanted.pages),
            &flag("pages", available.pages),
        ));
        lacking.extend(missing(
            "ui",
            &flag("theme", wanted.theme),
            &flag("theme", available.theme),
        ));
        lacking
    },
    narrow: |granted, declared| {
        granted.ui = match (granted.ui.take(), &declared.ui) {
            (Some(mut ui), Some(offer)) => {
                retain_declared(&mut ui.slots, &offer.slots);
                ui.pages &= offer.pages;
                ui.theme &= offer.theme;
                Some(ui)
            }
            _ => None,
        };
    },
    forget: None,
};
