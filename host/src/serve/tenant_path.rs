//! Tenant routes: which plugin `/o/{org}/p/{plugin}/{rest…}` names, and
//! the path the plugin sees (`/{rest…}` plus the query string).

/// A parsed tenant route.
#[derive(Debug, PartialEq, Eq)]
pub struct TenantPath<'a> {
    /// The org segment.
    pub org: &'a str,
    /// The plugin segment.
    pub plugin: &'a str,
    /// What the plugin sees: `/rest…` with the original query, if any.
    pub plugin_path: String,
}

impl<'a> TenantPath<'a> {
    /// Parses `/o/{org}/p/{plugin}[/rest…]`; `None` when the path is not a tenant route.
    pub fn parse(path: &'a str, query: Option<&str>) -> Option<Self> {
        let rest = path.strip_prefix("/o/")?;
        let (org, rest) = rest.split_once('/')?;
        let rest = rest.strip_prefix("p/")?;
        let (plugin, rest) = match rest.split_once('/') {
            Some((plugin, rest)) => (plugin, rest),
            None => (rest, ""),
        };
        if org.is_empty() || plugin.is_empty() {
            return None;
        }
        let plugin_path = match query {
            Some(q) => format!("/{rest}?{q}"),
            None => format!("/{rest}"),
        };
        Some(Self {
            org,
            plugin,
            plugin_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TenantPath;

    #[test]
    fn splits_org_plugin_and_rest() {
        let p = TenantPath::parse("/o/demo/p/hello/echo/x", Some("a=1")).unwrap();
        assert_eq!(p.org, "demo");
        assert_eq!(p.plugin, "hello");
        assert_eq!(p.plugin_path, "/echo/x?a=1");
    }

    #[test]
    fn plugin_root_with_and_without_trailing_slash() {
        assert_eq!(
            TenantPath::parse("/o/demo/p/hello/", None)
                .unwrap()
                .plugin_path,
            "/"
        );
        assert_eq!(
            TenantPath::parse("/o/demo/p/hello", None)
                .unwrap()
                .plugin_path,
            "/"
        );
    }

    #[test]
    fn non_tenant_paths_do_not_parse() {
        for path in [
            "/",
            "/o/demo",
            "/o/demo/x/hello",
            "/o//p/hello",
            "/o/demo/p/",
            "/api/v1/orgs",
        ] {
            assert_eq!(TenantPath::parse(path, None), None, "{path}");
        }
    }
}
