//! Code signing end to end: keys made and packages signed with the real
//! `berth` CLI (and checked by the stock `minisign` tool), trusted per org,
//! and an org that requires signatures refusing — with nothing written —
//! unsigned packages, untrusted signers, changed, added or removed files,
//! a signature for another version, and a malformed signature; accepting
//! and recording the signer of a good one, also when installed by range
//! from its registry.

use crate::support::{Server, admin_secret, berth_cli, files_under, guest_package};
use berth::common::settings::PackageLimits;
use berth::package::{Files, Package, build_zip};
use std::path::Path;
use std::process::Command;

fn files_of(zip: &[u8]) -> Files {
    Package::parse(zip, &PackageLimits::default())
        .unwrap()
        .files
}

fn zip_of(files: &Files) -> Vec<u8> {
    build_zip(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())))
}

/// Keys in `dir` made by `berth keygen`; returns the key id.
fn keygen(dir: &Path) -> String {
    let out = berth_cli(&[
        "keygen",
        "--out",
        dir.to_str().unwrap(),
        "--comment",
        "test",
    ]);
    out.lines()
        .next()
        .unwrap()
        .strip_prefix("key ")
        .unwrap()
        .to_owned()
}

/// `zip` signed by `berth plugin sign` with the key in `keys`.
fn signed(zip: &[u8], keys: &Path, work: &Path) -> Vec<u8> {
    let (input, output) = (work.join("in.zip"), work.join("out.zip"));
    std::fs::write(&input, zip).unwrap();
    let key = keys.join("berth.key");
    berth_cli(&[
        "plugin",
        "sign",
        input.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        output.to_str().unwrap(),
    ]);
    std::fs::read(output).unwrap()
}

#[test]
fn an_org_requiring_signatures_installs_only_intact_packages_from_trusted_keys() {
    let work = tempfile::tempdir().unwrap();
    let (trusted_dir, other_dir) = (work.path().join("trusted"), work.path().join("other"));
    let key_id = keygen(&trusted_dir);
    keygen(&other_dir);
    let mut base = files_of(&guest_package("hello"));
    base.insert("README.md".into(), b"# hello\n".to_vec());
    let hello = zip_of(&base);
    let good = signed(&hello, &trusted_dir, work.path());

    // The CLI verifies it, and so does the stock minisign tool.
    let good_path = work.path().join("good.zip");
    std::fs::write(&good_path, &good).unwrap();
    let public = trusted_dir.join("berth.pub");
    let verified = berth_cli(&[
        "plugin",
        "verify",
        good_path.to_str().unwrap(),
        "--key",
        public.to_str().unwrap(),
    ]);
    assert!(
        verified.contains(&format!("hello@0.1.0, signed by key {key_id}")),
        "{verified}"
    );
    let files = files_of(&good);
    let (list, sig) = (
        work.path().join("files.json"),
        work.path().join("files.json.minisig"),
    );
    std::fs::write(&list, &files["signature/files.json"]).unwrap();
    std::fs::write(&sig, &files["signature/files.json.minisig"]).unwrap();
    let minisign = Command::new("minisign")
        .args([
            "-V",
            "-p",
            public.to_str().unwrap(),
            "-m",
            list.to_str().unwrap(),
            "-x",
            sig.to_str().unwrap(),
        ])
        .output()
        .expect("minisign is installed by scripts/setup.sh");
    assert!(
        minisign.status.success(),
        "{}",
        String::from_utf8_lossy(&minisign.stderr)
    );

    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let key = std::fs::read_to_string(&public).unwrap();
    let trusted = server.post_json(
        "/api/v1/orgs/acme/trusted-keys",
        serde_json::json!({ "key": key, "comment": "release key" }),
    );
    assert_eq!(trusted.status, 201, "{trusted:?}");
    assert_eq!(trusted.json()["id"], key_id.as_str());
    let policy = server.put_json(
        "/api/v1/orgs/acme/signature-policy",
        serde_json::json!({ "require-signature": true }),
    );
    assert_eq!(policy.json()["require_signature"], true, "{policy:?}");

    let mut changed = files_of(&good);
    changed.get_mut("hello.wasm").unwrap()[100] ^= 1;
    let mut added = files_of(&good);
    added.insert("extra.txt".into(), b"sneaked in".to_vec());
    let mut removed = files_of(&good);
    removed.remove("README.md");
    let mut other_version = files_of(&good);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&other_version["manifest.json"]).unwrap();
    manifest["version"] = serde_json::json!("0.2.0");
    other_version.insert(
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    );
    let mut malformed = files_of(&good);
    malformed.insert(
        "signature/files.json.minisig".into(),
        b"untrusted comment: x\nnot base64\n".to_vec(),
    );
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("unsigned", hello.clone(), 422, "signature_required"),
        (
            "untrusted signer",
            signed(&hello, &other_dir, work.path()),
            422,
            "untrusted_signer",
        ),
        (
            "one byte changed",
            zip_of(&changed),
            422,
            "signature_mismatch",
        ),
        ("a file added", zip_of(&added), 422, "signature_mismatch"),
        (
            "a file removed",
            zip_of(&removed),
            422,
            "signature_mismatch",
        ),
        (
            "another version",
            zip_of(&other_version),
            422,
            "signature_wrong_plugin",
        ),
        (
            "malformed signature",
            zip_of(&malformed),
            400,
            "invalid_signature",
        ),
    ];
    for (case, zip, status, code) in cases {
        let reply = server.install("acme", &zip);
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (status, code),
            "{case}: {reply:?}"
        );
        assert_eq!(
            server.get("/api/v1/orgs/acme/plugins").json(),
            serde_json::json!([]),
            "{case}"
        );
        assert!(
            files_under(&server.data.join("packages")).is_empty(),
            "{case}"
        );
        assert!(
            files_under(&server.data.join("artifacts")).is_empty(),
            "{case}: nothing compiled"
        );
    }

    // A good package installs, and records who signed it.
    let installed = server.install("acme", &good);
    assert_eq!(installed.status, 201, "{installed:?}");
    assert_eq!(installed.json()["signed_by"], key_id.as_str());
    assert_eq!(
        server.get("/api/v1/orgs/acme/plugins/hello").json()["signed_by"],
        key_id.as_str()
    );

    // Installing by range from the registry checks the signature too.
    server.create_org("beta");
    let trust = serde_json::json!({ "key": key });
    assert_eq!(
        server
            .post_json("/api/v1/orgs/beta/trusted-keys", trust)
            .status,
        201
    );
    let required = serde_json::json!({ "require-signature": true });
    assert_eq!(
        server
            .put_json("/api/v1/orgs/beta/signature-policy", required)
            .status,
        200
    );
    let kv = guest_package("kvprobe");
    assert_eq!(
        server
            .post_bytes("/api/v1/orgs/beta/registry", "application/zip", &kv)
            .status,
        201
    );
    let unsigned = server.post_json(
        "/api/v1/orgs/beta/plugins",
        serde_json::json!({ "name": "kvprobe", "version": "^0.1" }),
    );
    assert_eq!(unsigned.error_code(), "signature_required", "{unsigned:?}");
    // Published with the CLI, as an author would, with beta's admin token.
    let token = admin_secret(&server, "beta");
    let published = berth_cli(&[
        "registry",
        "publish",
        good_path.to_str().unwrap(),
        "--org",
        "beta",
        "--server",
        &server.base,
        "--token",
        &token,
    ]);
    assert_eq!(published, "published hello 0.1.0\n");
    let by_range = server.post_json(
        "/api/v1/orgs/beta/plugins",
        serde_json::json!({ "name": "hello", "version": "^0.1" }),
    );
    assert_eq!(by_range.status, 201, "{by_range:?}");
    assert_eq!(
        by_range.json()["installed"][0]["signed_by"],
        key_id.as_str()
    );

    // Removing the key: the next install of a package it signed is refused.
    let removed = server.delete(&format!("/api/v1/orgs/acme/trusted-keys/{key_id}"));
    assert_eq!(removed.status, 200, "{removed:?}");
    let after = server.post_bytes("/api/v1/orgs/acme/plugins?force", "application/zip", &good);
    assert_eq!(after.error_code(), "untrusted_signer");
}

#[test]
fn an_org_admin_cannot_relax_a_signature_policy_the_operator_set() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let token = admin_secret(&server, "acme");
    let admin = server.client(Some(&token));
    let policy = |client: &crate::support::Client, body: serde_json::Value| {
        client.put_json("/api/v1/orgs/acme/signature-policy", body)
    };

    // Unlocked, the org admin sets it, and the API says so.
    let set = policy(&admin, serde_json::json!({ "require-signature": true }));
    assert_eq!(
        (set.json()["set_by"].clone(), set.json()["locked"].clone()),
        ("org-admin".into(), false.into())
    );

    // The operator locks it on; the admin can neither relax nor unlock it.
    let locked = policy(
        &server,
        serde_json::json!({ "require-signature": true, "locked": true }),
    );
    assert_eq!(
        (
            locked.json()["set_by"].clone(),
            locked.json()["locked"].clone()
        ),
        ("operator".into(), true.into())
    );
    let audit_before = server.get("/api/v1/orgs/acme/audit").json();
    for body in [
        serde_json::json!({ "require-signature": false }),
        serde_json::json!({ "require-signature": false, "locked": false }),
    ] {
        let refused = policy(&admin, body);
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (403, "policy_locked")
        );
    }
    // Nor trust a key of its own, which would let it sign anything.
    let keys = tempfile::tempdir().unwrap();
    keygen(keys.path());
    let own_key = std::fs::read_to_string(keys.path().join("berth.pub")).unwrap();
    let trust = serde_json::json!({ "key": own_key });
    let refused = admin.post_json("/api/v1/orgs/acme/trusted-keys", trust.clone());
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (403, "policy_locked")
    );
    assert_eq!(server.get("/api/v1/orgs/acme/audit").json(), audit_before);
    let shown = server.get("/api/v1/orgs/acme/trusted-keys").json();
    assert_eq!(shown["keys"], serde_json::json!([]), "{shown}");
    let unsigned = admin.install("acme", &guest_package("hello"));
    assert_eq!(unsigned.error_code(), "signature_required");

    // The operator unlocks it: it is the admin's again.
    policy(
        &server,
        serde_json::json!({ "require-signature": true, "locked": false }),
    );
    let relaxed = policy(&admin, serde_json::json!({ "require-signature": false }));
    assert_eq!(relaxed.status, 200, "{relaxed:?}");
    let trusted = admin.post_json("/api/v1/orgs/acme/trusted-keys", trust);
    assert_eq!(trusted.status, 201, "{trusted:?}");
    assert_eq!(admin.install("acme", &guest_package("hello")).status, 201);
}

#[test]
fn the_servers_require_signature_setting_binds_every_org() {
    let server = Server::start(&["--no-demo", "--require-signature"]);
    server.create_org("acme");
    let shown = server.get("/api/v1/orgs/acme/trusted-keys").json();
    assert_eq!(
        (shown["require_signature"].clone(), shown["set_by"].clone()),
        (true.into(), "server-setting".into())
    );
    let refused = server.put_json(
        "/api/v1/orgs/acme/signature-policy",
        serde_json::json!({ "require-signature": false }),
    );
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (403, "policy_locked")
    );
    let unsigned = server.install("acme", &guest_package("hello"));
    assert_eq!(unsigned.error_code(), "signature_required");
    // An org admin trusts no key of its own; the operator still may.
    let keys = tempfile::tempdir().unwrap();
    keygen(keys.path());
    let key = std::fs::read_to_string(keys.path().join("berth.pub")).unwrap();
    let trust = serde_json::json!({ "key": key });
    let admin = server.client(Some(&admin_secret(&server, "acme")));
    let refused = admin.post_json("/api/v1/orgs/acme/trusted-keys", trust.clone());
    assert_eq!(refused.error_code(), "policy_locked", "{refused:?}");
    let trusted = server.post_json("/api/v1/orgs/acme/trusted-keys", trust);
    assert_eq!(trusted.status, 201, "{trusted:?}");
    assert!(files_under(&server.data.join("packages")).is_empty());
}

crate::support::also_on_postgres!(
    an_org_requiring_signatures_installs_only_intact_packages_from_trusted_keys,
    an_org_admin_cannot_relax_a_signature_policy_the_operator_set,
    the_servers_require_signature_setting_binds_every_org,
);
