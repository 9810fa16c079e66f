//! Every guest in `guests/` has an end-to-end test. `foreach_guest!` names
//! each guest the build step found, and `tested_by` maps it to the test
//! that installs it and checks what it does, so a new guest without a
//! test here fails to compile (the pattern of wasmtime's test-programs).

/// Each guest's test, under the guest's name.
mod tested_by {
    pub(crate) use crate::console::hostile_plugins_get_nothing_of_the_consoles_powers_in_a_browser as hostile_widget;
    pub(crate) use crate::faults::many_spinning_requests_of_one_org_leave_the_other_org_served as faults;
    pub(crate) use crate::files::a_plugin_cannot_leave_its_directories_or_write_a_read_only_one as sandbox;
    pub(crate) use crate::hooks::a_hooks_plugin_transforms_vetoes_and_registers_a_module_while_active as contact_rules;
    pub(crate) use crate::integrations::the_webhook_connector_delivers_contacts_and_runs_actions_with_its_secret as webhook;
    pub(crate) use crate::isolation::plugin_responses_are_sandboxed_and_cannot_set_state_on_the_origin as hostile_page;
    pub(crate) use crate::kv::calls_outside_the_grant_are_denied_and_touch_nothing as kvprobe;
    pub(crate) use crate::python::the_python_guest_serves_routes_and_logs_like_a_rust_one as py_hello;
    pub(crate) use crate::records::a_plugin_reads_and_writes_records_within_its_grant_its_org_and_the_hooks as recprobe;
    pub(crate) use crate::serve::a_javascript_plugin_is_packed_installed_and_served_like_a_rust_one as js_hello;
    pub(crate) use crate::serve::demo_org_serves_hello_greeting_and_echoes_path_parameter as hello;
    pub(crate) use crate::serve::trapping_plugin_fails_its_request_and_the_server_keeps_serving as trap;
    pub(crate) use crate::slow_activation::a_slow_on_activate_holds_up_no_other_org as gate;
    pub(crate) use crate::ui::assets_are_served_with_types_etags_and_a_strict_policy as sales_widget;
    pub(crate) use crate::ui::the_merged_manifest_follows_activations_grants_and_the_theme_rule as dark_theme;
}

/// Requires `tested_by::$guest` to exist.
macro_rules! assert_guest_has_test {
    ($guest:ident) => {
        #[allow(unused_imports)]
        use tested_by::$guest as _;
    };
}

berth_guests::foreach_guest!(assert_guest_has_test);
