//! The plugin author's toolchain behind `berth keygen`, `berth wit` and
//! `berth plugin new|build|pack|sign|verify`: project templates
//! ([`scaffold`], Python ones in [`python`]); building components; minisign
//! key pairs; packing, signing and verifying a package ZIP with exactly the
//! checks the server runs (the same package parser, permission check and
//! [`signing`](crate::package::signing) code); the WIT files the server supports.

pub mod python;
pub mod scaffold;

use scaffold::{Language, TemplateKind};
#[path = "../../../guests/artifacts/toolchain.rs"]
mod toolchain;

use crate::common::settings::PackageLimits;
use crate::package::signing::{self, LIST_PATH, SIGNATURE_PATH, key_id, parse_public_key};
use crate::package::{ApiVersion, Package, build_zip};
use anyhow::{Context, bail};
use minisign::{KeyPair, SecretKey, SecretKeyBox};
use std::path::{Path, PathBuf};

/// The file names `keygen` writes.
pub const PUBLIC_KEY_FILE: &str = "berth.pub";
/// The secret key file `keygen` writes (unencrypted: keep it private).
pub const SECRET_KEY_FILE: &str = "berth.key";

/// Creates a key pair in `dir`; returns the key id and the two paths.
/// Refuses to overwrite an existing secret key.
pub fn keygen(dir: &Path, comment: &str) -> anyhow::Result<(String, PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (public, secret) = (dir.join(PUBLIC_KEY_FILE), dir.join(SECRET_KEY_FILE));
    if secret.exists() {
        bail!("{} exists; not overwriting a secret key", secret.display());
    }
    let KeyPair { pk, sk } = KeyPair::generate_unencrypted_keypair()?;
    let id = key_id(&pk);
    let public_text = format!(
        "untrusted comment: berth plugin signing key {id} {comment}\n{}\n",
        pk.to_base64()
    );
    let secret_text = sk
        .to_box(Some(&format!("berth plugin signing secret key {id}")))?
        .into_string();
    std::fs::write(&public, public_text)
        .with_context(|| format!("writing {}", public.display()))?;
    write_private(&secret, secret_text.as_bytes())?;
    Ok((id, public, secret))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(std::fs::write(path, bytes)?)
}

fn read_package(zip: &[u8], file: &Path) -> anyhow::Result<Package> {
    Package::parse(zip, &PackageLimits::default())
        .with_context(|| format!("{} is not a valid plugin package", file.display()))
}

/// Signs the package `input` with the secret key file `key` and writes the
/// signed package to `output` (replacing any earlier signature). Returns
/// the key id and `name@version`.
pub fn sign(input: &Path, key: &Path, output: &Path) -> anyhow::Result<(String, String)> {
    let zip = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let mut package = read_package(&zip, input)?;
    let key_text =
        std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    let secret = SecretKey::from_unencrypted_box(SecretKeyBox::from_string(&key_text)?)
        .with_context(|| {
            format!(
                "{} is not an unencrypted minisign secret key",
                key.display()
            )
        })?;
    let manifest = &package.manifest;
    let (name, version) = (manifest.name.clone(), manifest.version.to_string());
    package.files.remove(LIST_PATH);
    package.files.remove(SIGNATURE_PATH);
    let (list, signature) =
        signing::sign(&package.files, &name, &version, &secret).map_err(anyhow::Error::msg)?;
    package.files.insert(LIST_PATH.to_owned(), list);
    package
        .files
        .insert(SIGNATURE_PATH.to_owned(), signature.into_bytes());
    let signed = build_zip(
        package
            .files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice())),
    );
    std::fs::write(output, signed).with_context(|| format!("writing {}", output.display()))?;
    let id = minisign::PublicKey::from_secret_key(&secret).map(|pk| key_id(&pk))?;
    Ok((id, format!("{name}@{version}")))
}

/// Verifies the package `file` against the public key file `key`; returns
/// the key id and `name@version`. An unsigned package is an error.
pub fn verify(file: &Path, key: &Path) -> anyhow::Result<(String, String)> {
    let zip = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let package = read_package(&zip, file)?;
    let key_text =
        std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    let public = parse_public_key(&key_text).map_err(anyhow::Error::msg)?;
    let manifest = &package.manifest;
    let version = manifest.version.to_string();
    match signing::verify(&package.files, &manifest.name, &version, &[public])? {
        Some(id) => Ok((id, format!("{}@{version}", manifest.name))),
        None => bail!("{} is not signed", file.display()),
    }
}

/// `berth plugin new`: creates the project `parent/name` of `kind` in
/// `language`; returns its folder.
pub fn new(
    parent: &Path,
    name: &str,
    kind: TemplateKind,
    language: Language,
) -> anyhow::Result<PathBuf> {
    crate::common::ids::validate(name).map_err(|e| anyhow::anyhow!("plugin name {e}"))?;
    match language {
        Language::Rust => scaffold::new_rust(parent, name, kind),
        Language::Js => scaffold::new_js(parent, name, kind),
        Language::Python => python::new(parent, name, kind),
    }
}

/// Builds the plugin project in `dir`: JavaScript ones with their npm
/// build (see `build_js`), Python ones with componentize-py (see
/// [`python::build`]), both into `dir`; Rust ones for wasm32-wasip2 (the rustup
/// target, or Debian's rustc-web with `-Zbuild-std` where rustup lacks it)
/// into `target_dir` (default `dir/target`); returns the folder holding the
/// component — by default `dir/target/wasm32-wasip2/release/`, where `pack`
/// finds it.
pub fn build(dir: &Path, target_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    if dir.join("package.json").is_file() {
        return build_js(dir);
    }
    if dir.join(python::APP).is_file() {
        let (_, manifest) = project_manifest(dir)?;
        let Some(component) = manifest["component"].as_str() else {
            bail!("{}'s manifest names no component", dir.display());
        };
        return python::build(dir, component);
    }
    // cargo runs inside `dir`, so a relative target folder would land
    // under `dir/dir/target`, where `pack` would not look.
    let dir = std::path::absolute(dir).context("resolving the project folder")?;
    let toolchain = toolchain::Toolchain::detect().map_err(anyhow::Error::msg)?;
    let target = match target_dir {
        Some(target) => std::path::absolute(target).context("resolving the target folder")?,
        None => dir.join("target"),
    };
    let status = toolchain
        .cargo_build(&dir, &target)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo could not build {}", dir.display());
    }
    Ok(target.join(toolchain::TARGET).join("release"))
}

/// Builds a JavaScript plugin project (`package.json`): `npm install` when
/// it has no `node_modules`, then its `npm run build` (componentize-js),
/// which writes the component into `dir`.
fn build_js(dir: &Path) -> anyhow::Result<PathBuf> {
    let npm = |args: &[&str]| -> anyhow::Result<()> {
        let status = std::process::Command::new("npm")
            .args(args)
            .current_dir(dir)
            .status()
            .context("running npm (JavaScript plugins need Node.js and npm)")?;
        if !status.success() {
            bail!("npm {} failed in {}", args.join(" "), dir.display());
        }
        Ok(())
    };
    if !dir.join("node_modules").is_dir() {
        npm(&["install", "--no-audit", "--no-fund"])?;
    }
    npm(&["run", "build"])?;
    Ok(dir.to_path_buf())
}

/// The WIT files of API version `api` as this binary serves it: its
/// `berth:plugin` package (the newest lives in `wit/`, older ones in
/// `wit/versions/{api}/`), the WASI deps, the manifest schema and README;
/// as (path inside the written `wit/`, contents).
pub fn wit_files(api: ApiVersion) -> Vec<(&'static str, &'static str)> {
    let older = format!("versions/{api}/");
    crate::wit_files::WIT_FILES
        .iter()
        .filter_map(|&(path, text)| {
            if path.starts_with("versions/") {
                return path.strip_prefix(older.as_str()).map(|own| (own, text));
            }
            let own_package = path.ends_with(".wit") && !path.starts_with("deps/");
            (!own_package || api == ApiVersion::NEWEST).then_some((path, text))
        })
        .collect()
}

/// The WIT files of API version `api` (`berth:plugin@{api}` and its WASI
/// deps): written under `out`, or (without `out`) the package's `.wit`
/// files concatenated for reading.
pub fn wit(api: ApiVersion, out: Option<&Path>) -> anyhow::Result<String> {
    let files = wit_files(api);
    match out {
        Some(dir) => {
            for (path, text) in &files {
                let target = dir.join(path);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&target, text)
                    .with_context(|| format!("writing {}", target.display()))?;
            }
            Ok(format!("wrote {} files to {}", files.len(), dir.display()))
        }
        None => Ok(files
            .iter()
            .filter(|(path, _)| path.ends_with(".wit") && !path.starts_with("deps/"))
            .map(|(path, text)| format!("// ---- wit/{path}\n{text}"))
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// The project's `manifest.json` in `dir`: its bytes and its JSON.
fn project_manifest(dir: &Path) -> anyhow::Result<(Vec<u8>, serde_json::Value)> {
    let path = dir.join(crate::package::MANIFEST_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    Ok((bytes, manifest))
}

/// Packs the plugin project in `dir` into a deterministic ZIP (same input,
/// same bytes): `manifest.json`, the component and the `assets` folder the
/// manifest names. The component is `component` if given, else the
/// manifest's `component` path in `dir`, else cargo's
/// `target/wasm32-wasip2/release/` output of that name. The result is
/// checked like an upload — schema, files, imports against permissions —
/// before it is written to `out` (default `NAME-VERSION.zip` in `dir`).
pub fn pack(
    dir: &Path,
    component: Option<&Path>,
    out: Option<&Path>,
) -> anyhow::Result<(String, PathBuf)> {
    let (manifest_bytes, manifest) = project_manifest(dir)?;
    let mut files: Vec<(String, Vec<u8>)> = vec![(
        crate::package::MANIFEST_FILE.to_owned(),
        manifest_bytes.clone(),
    )];
    if let Some(name) = manifest["component"].as_str() {
        let built = dir.join("target/wasm32-wasip2/release").join(name);
        let source = match component {
            Some(path) => path.to_path_buf(),
            None if dir.join(name).is_file() => dir.join(name),
            None => built,
        };
        let bytes = std::fs::read(&source).with_context(|| {
            format!(
                "reading the component {} (build it first)",
                source.display()
            )
        })?;
        files.push((name.to_owned(), bytes));
    }
    if let Some(assets) = manifest["assets"].as_str() {
        collect_files(&dir.join(assets), assets, &mut files)?;
    }
    let zip = build_zip(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    let package = read_package(&zip, dir)?;
    let missing = crate::capabilities::gates::package_missing_permissions(&package);
    if !missing.is_empty() {
        bail!("{}", crate::capabilities::gates::describe_missing(&missing));
    }
    if package
        .component()
        .is_some_and(|bytes| !wasmtime::wasmparser::Parser::is_component(bytes))
    {
        bail!("the component is not a WebAssembly component (build for wasm32-wasip2)");
    }
    let label = format!("{}-{}", package.manifest.name, package.manifest.version);
    let out = out.map_or_else(|| dir.join(format!("{label}.zip")), Path::to_path_buf);
    std::fs::write(&out, zip).with_context(|| format!("writing {}", out.display()))?;
    Ok((label, out))
}

/// Every file under `dir`, as (`prefix/relative path`, bytes).
fn collect_files(
    dir: &Path,
    prefix: &str,
    files: &mut Vec<(String, Vec<u8>)>,
) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let inner = format!("{prefix}/{name}");
        if entry.file_type()?.is_dir() {
            collect_files(&path, &inner, files)?;
        } else {
            files.push((inner, std::fs::read(&path)?));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_sign_and_verify_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (id, public, secret) = keygen(dir.path(), "test").unwrap();
        assert!(keygen(dir.path(), "again").is_err(), "keeps the secret key");
        let manifest = include_str!("../../../guests/hello/manifest.json");
        let zip = build_zip([
            ("manifest.json", manifest.as_bytes()),
            ("hello.wasm", berth_guests::HELLO_COMPONENT_BYTES),
        ]);
        let unsigned = dir.path().join("hello.zip");
        std::fs::write(&unsigned, &zip).unwrap();
        assert!(verify(&unsigned, &public).is_err());

        let signed = dir.path().join("hello-signed.zip");
        assert_eq!(
            sign(&unsigned, &secret, &signed).unwrap(),
            (id.clone(), "hello@0.1.0".into())
        );
        assert_eq!(
            verify(&signed, &public).unwrap(),
            (id, "hello@0.1.0".into())
        );
        // Signing again replaces the signature; the result verifies too.
        let resigned = dir.path().join("hello-resigned.zip");
        sign(&signed, &secret, &resigned).unwrap();
        assert!(verify(&resigned, &public).is_ok());
    }

    #[test]
    fn pack_is_deterministic_and_checks_like_an_upload() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path();
        let manifest = include_str!("../../../guests/sales-widget/manifest.json");
        std::fs::write(project.join("manifest.json"), manifest).unwrap();
        std::fs::create_dir_all(project.join("assets/img")).unwrap();
        std::fs::write(project.join("assets/widget.js"), "export default () => {};").unwrap();
        std::fs::write(project.join("assets/img/logo.svg"), "<svg/>").unwrap();
        let component = project.join("built.wasm");
        std::fs::write(&component, berth_guests::SALES_WIDGET_COMPONENT_BYTES).unwrap();

        let (label, first) = pack(project, Some(&component), None).unwrap();
        assert_eq!(label, "sales-widget-0.1.0");
        let bytes = std::fs::read(&first).unwrap();
        let again = project.join("again.zip");
        pack(project, Some(&component), Some(&again)).unwrap();
        assert_eq!(
            std::fs::read(&again).unwrap(),
            bytes,
            "same input, same bytes"
        );
        let package = read_package(&bytes, &first).unwrap();
        assert!(package.files.contains_key("assets/img/logo.svg"));
        assert!(package.files.contains_key("sales_widget.wasm"));

        // The same checks as an upload: an entry missing from the assets.
        std::fs::remove_file(project.join("assets/widget.js")).unwrap();
        let refused = pack(project, Some(&component), None).unwrap_err();
        assert!(format!("{refused:#}").contains("widget.js"), "{refused:#}");
    }

    #[test]
    fn wit_writes_each_released_version_whole() {
        for api in ApiVersion::ALL {
            let text = wit(api, None).unwrap();
            assert!(
                text.contains(&format!("package berth:plugin@{api};")),
                "{api}"
            );
            assert!(text.contains("world route-plugin"), "{api}");
            let others = ApiVersion::ALL.into_iter().filter(|v| *v != api);
            for other in others {
                assert!(
                    !text.contains(&format!("berth:plugin@{other};")),
                    "{api} holds {other}"
                );
            }
            let dir = tempfile::tempdir().unwrap();
            wit(api, Some(dir.path())).unwrap();
            for file in [
                "worlds.wit",
                "host.wit",
                "deps/http/http.wit",
                "manifest.schema.json",
            ] {
                assert!(dir.path().join(file).is_file(), "{api}: {file}");
            }
            assert!(!dir.path().join("versions").exists(), "{api}");
        }
        let newest = wit(ApiVersion::NEWEST, None).unwrap();
        assert!(newest.contains("on-deactivate"));
        assert!(
            !wit(ApiVersion::V0_1_0, None)
                .unwrap()
                .contains("on-deactivate")
        );
    }
}
