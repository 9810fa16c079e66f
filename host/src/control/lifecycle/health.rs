//! Health checks: before an upgrade of an active plugin switches, a fresh
//! instance of the new version — with the grant it will serve with,
//! admitted at the org's front door like a request — answers the route its
//! manifest names as `health`. Anything but 2xx, a trap or a timeout
//! refuses the upgrade, and the old version keeps serving.

use super::activation::{Starting, block_on};
use super::{Lifecycle, LifecycleError, granted_permissions, stored_manifest};
use crate::capabilities::routes::route_granted;
use bytes::Bytes;
use http_body_util::Empty;

impl Lifecycle {
    /// Calls `started`'s health route, if its manifest names one.
    pub(super) fn check_health(&self, started: &Starting) -> Result<(), LifecycleError> {
        let installation = &started.installation;
        let (Some(path), Some(plugin)) = (stored_manifest(installation)?.health, &started.plugin)
        else {
            return Ok(());
        };
        let failed = |reason: String| LifecycleError::HealthCheckFailed {
            plugin: installation.name.clone(),
            version: installation.version.clone(),
            reason,
        };
        let grants = granted_permissions(installation)?;
        if !route_granted(&grants.routes, &path) {
            return Err(failed(format!(
                "`{path}` is not a canonical path within its granted routes"
            )));
        }
        let (org, name) = (&installation.org, &installation.name);
        let mounted = (self.live.routes).detached(org, name, plugin.clone(), grants);
        let admitted = self
            .live
            .front_door
            .admit(org)
            .map_err(|refusal| LifecycleError::Busy {
                plugin: name.clone(),
                refusal,
            })?;
        let request = http::Request::get(format!("http://localhost{path}"))
            .body(Empty::<Bytes>::new())
            .map_err(|e| failed(format!("`{path}` is not a request path: {e}")))?;
        let response = block_on(self.live.runtime.handle(&mounted, request, admitted))
            .map_err(|e| failed(format!("`GET {path}` failed: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(failed(format!("`GET {path}` answered {status}")))
        }
    }
}
