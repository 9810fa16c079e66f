//! `sales-widget`: an example UI plugin. Its manifest puts the `sales`
//! component (`assets/widget.js`) in the console's `dashboard.widgets`
//! slot; its `berth:plugin/ui` export adds a report page at activation.
//! Both fetch their figures from the plugin's own route:
//!
//! - `GET /summary` → `{"title","total","currency","deals"}` (JSON).

wit_bindgen::generate!({
    path: "../../wit",
    inline: "
        package example:sales-widget;

        world sales-widget {
            include berth:plugin/route-plugin@0.2.0;
            export berth:plugin/ui@0.2.0;
        }
    ",
    world: "example:sales-widget/sales-widget",
    generate_all,
});

use exports::berth::plugin::ui::{self, Page, UiContributions};
use exports::wasi::http::incoming_handler;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

/// The figures the widget shows.
const SUMMARY: &str =
    r#"{"title":"Sales this month","total":48250,"currency":"EUR","deals":17}"#;

struct SalesWidget;

impl incoming_handler::Guest for SalesWidget {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (status, body) = match path.split('?').next() {
            Some("/summary") => (200, SUMMARY),
            _ => (404, r#"{"error":"not found"}"#),
        };
        let headers = Fields::from_list(&[(
            "content-type".to_owned(),
            b"application/json".to_vec(),
        )])
        .expect("valid header");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).expect("valid status");
        let outgoing = response.body().expect("a body");
        ResponseOutparam::set(response_out, Ok(response));
        let stream = outgoing.write().expect("a stream");
        stream
            .blocking_write_and_flush(body.as_bytes())
            .expect("writing the body");
        drop(stream);
        OutgoingBody::finish(outgoing, None).expect("finishing the body");
    }
}

impl ui::Guest for SalesWidget {
    fn contributions() -> UiContributions {
        UiContributions {
            pages: vec![Page {
                route: "/report".into(),
                title: "Sales report".into(),
                entry: "report.js".into(),
            }],
            components: Vec::new(),
            theme: Vec::new(),
        }
    }
}

export!(SalesWidget);
