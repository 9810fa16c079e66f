//! `sales-widget`: an example UI plugin. Its manifest puts the `sales`
//! component (`assets/widget.js`) in the console's `dashboard.widgets`
//! slot; its `berth:plugin/ui` export adds a report page at activation.
//! Both fetch their figures from the plugin's own route:
//!
//! - `GET /summary` → `{"title","total","currency","deals"}` (JSON): the
//!   sum and number of the org's EUR invoices, read page by page through
//!   `berth:plugin/records` (permission `database: read invoices`).

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

use berth::plugin::records::{Comparison, Filter, RecordQuery, query};

/// The figures the widget shows: the org's EUR invoices, summed.
fn summary() -> Result<String, String> {
    let (mut total, mut deals, mut after) = (0.0, 0u64, None);
    loop {
        let euros = Filter {
            field: "currency".into(),
            comparison: Comparison::Eq,
            value: r#""EUR""#.into(),
        };
        let wanted = RecordQuery { filters: vec![euros], newest_first: false, after, limit: 1000 };
        let page = query("invoices", &wanted).map_err(|e| format!("{e:?}"))?;
        for invoice in &page.records {
            let data: serde_json::Value = serde_json::from_str(&invoice.data).map_err(|e| e.to_string())?;
            total += data["amount"].as_f64().unwrap_or(0.0);
            deals += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let summary = serde_json::json!({ "title": "Sales", "total": total, "currency": "EUR", "deals": deals });
    Ok(summary.to_string())
}

struct SalesWidget;

impl incoming_handler::Guest for SalesWidget {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (status, body) = match path.split('?').next() {
            Some("/summary") => match summary() {
                Ok(summary) => (200, summary),
                Err(why) => (500, serde_json::json!({ "error": why }).to_string()),
            },
            _ => (404, r#"{"error":"not found"}"#.to_owned()),
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
