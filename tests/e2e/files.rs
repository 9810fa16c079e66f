//! The `filesystem` permission through the real `sandbox` guest: a plugin
//! sees only its granted directories under
//! `{data}/orgs/{org}/plugins/{plugin}/`, cannot leave them by `..`,
//! absolute paths or symlinks, cannot write to a read-only one, and never
//! sees another org's files.

use crate::support::{Server, files_under, guest_package, query_value};
use serde_json::json;
use std::path::Path;

const SECRET: &str = "outside the sandbox";

fn read(server: &Server, org: &str, path: &str) -> crate::support::Reply {
    server.get(&format!(
        "/o/{org}/p/sandbox/fs/read?path={}",
        query_value(path)
    ))
}

fn write(server: &Server, org: &str, path: &str, content: &str) -> crate::support::Reply {
    server.get(&format!(
        "/o/{org}/p/sandbox/fs/write?path={}&content={}",
        query_value(path),
        query_value(content)
    ))
}

#[test]
pub(crate) fn a_plugin_cannot_leave_its_directories_or_write_a_read_only_one() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("sandbox"));
    let plugin_dir = server.data.join("orgs/acme/plugins/sandbox");
    let outside = server.data.join("outside.txt");
    std::fs::write(&outside, SECRET).unwrap();
    std::fs::create_dir_all(plugin_dir.join("shared")).unwrap();
    std::fs::create_dir_all(plugin_dir.join("files")).unwrap();
    std::fs::write(plugin_dir.join("sibling.txt"), SECRET).unwrap();
    std::fs::write(plugin_dir.join("shared/readme.txt"), "shared text").unwrap();
    let link = |name: &str, target: &Path| {
        std::os::unix::fs::symlink(target, plugin_dir.join("files").join(name)).unwrap();
    };
    link("absolute-link", &outside);
    link("relative-link", Path::new("../../../../../outside.txt"));
    link("dir-link", &server.data);

    // What it is granted works.
    assert_eq!(
        write(&server, "acme", "/files/note.txt", "mine").status,
        204
    );
    let note = read(&server, "acme", "/files/note.txt");
    assert_eq!((note.status, note.body.as_str()), (200, "mine"));
    let shared = read(&server, "acme", "/shared/readme.txt");
    assert_eq!((shared.status, shared.body.as_str()), (200, "shared text"));

    // Reading anything outside is refused.
    let data = server.data.display().to_string();
    for path in [
        "/files/../sibling.txt".to_owned(),
        "/files/../../../../../outside.txt".to_owned(),
        "../sibling.txt".to_owned(),
        "/shared/../files/../../sibling.txt".to_owned(),
        format!("{data}/outside.txt"),
        "/etc/passwd".to_owned(),
        "/files/absolute-link".to_owned(),
        "/files/relative-link".to_owned(),
        "/files/dir-link/outside.txt".to_owned(),
    ] {
        let refused = read(&server, "acme", &path);
        assert_ne!(refused.status, 200, "{path}: {refused:?}");
        assert!(!refused.body.contains(SECRET), "{path} leaked: {refused:?}");
        assert!(!refused.header("x-error").is_empty(), "{path}: {refused:?}");
    }

    // Writing outside, through a link, or into the read-only directory is refused.
    for path in [
        "/files/../escaped.txt".to_owned(),
        format!("{data}/escaped.txt"),
        "/files/absolute-link".to_owned(),
        "/files/dir-link/escaped.txt".to_owned(),
        "/escaped.txt".to_owned(),
    ] {
        let refused = write(&server, "acme", &path, "overwritten");
        assert_ne!(refused.status, 204, "{path}: {refused:?}");
    }
    let read_only = write(&server, "acme", "/shared/new.txt", "x");
    assert_eq!(read_only.status, 403, "{read_only:?}");

    // Nothing outside the granted directory changed.
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), SECRET);
    assert!(
        !files_under(&server.data)
            .iter()
            .any(|f| f.contains("escaped"))
    );
    assert_eq!(
        files_under(&plugin_dir),
        [
            "files/absolute-link",
            "files/dir-link",
            "files/note.txt",
            "files/relative-link",
            "shared/readme.txt",
            "sibling.txt",
        ]
    );
}

#[test]
fn directories_are_per_org_as_granted_and_removed_with_the_plugin() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
        server.install_active(org, &guest_package("sandbox"));
    }
    assert_eq!(
        write(&server, "acme", "/files/note.txt", "acme's").status,
        204
    );
    assert_eq!(read(&server, "beta", "/files/note.txt").status, 404);
    let listing = server.get("/o/beta/p/sandbox/fs/list?path=%2Ffiles");
    assert_eq!((listing.status, listing.body.as_str()), (200, ""));

    // A read-only grant of `files`: reads work, writes are refused.
    let activate = |grant: serde_json::Value| {
        let reply = server.post_json(
            "/api/v1/orgs/acme/plugins/sandbox/activate",
            json!({ "grant": grant }),
        );
        assert_eq!(reply.status, 200, "{reply:?}");
    };
    activate(json!({ "routes": ["/"], "filesystem": [{ "name": "files", "mode": "ro" }] }));
    assert_eq!(read(&server, "acme", "/files/note.txt").body, "acme's");
    assert_eq!(
        write(&server, "acme", "/files/note.txt", "changed").status,
        403
    );
    // No filesystem grant: the plugin sees no directory at all.
    activate(json!({ "routes": ["/"] }));
    assert_ne!(read(&server, "acme", "/files/note.txt").status, 200);
    let acme_dir = server.data.join("orgs/acme/plugins/sandbox");
    assert_eq!(
        std::fs::read_to_string(acme_dir.join("files/note.txt")).unwrap(),
        "acme's"
    );

    let uninstall = server.delete("/api/v1/orgs/acme/plugins/sandbox?force=true");
    assert_eq!(uninstall.status, 200, "{uninstall:?}");
    assert!(!acme_dir.exists());
    assert!(server.data.join("orgs/beta/plugins/sandbox/files").is_dir());
}
