//! The deployment files in `deploy/`, checked without a container engine: compose.yaml, every
//! Kubernetes manifest, the Dockerfile and the systemd unit are parsed; their probes must name real
//! routes (read from crates/server/src/http/paths.rs), their ports must match the listen address
//! they configure, the settings they pass must load with the real `latchkey config check`, pods
//! must run locked down, and nothing in `deploy/` may hold a real secret.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use latchkey_tests::{Db, Server, latchkey_command};
use serde_norway::Value;

/// A valid key-encryption key for `config check` runs (base64 of 32 zero bytes: not a secret).
const TEST_KEK: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
/// `http.shutdown_grace` when a file does not set it (config.rs's default).
const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `NAME -> "/path"` for every `pub const NAME: &str = "/path";` in paths.rs, so a renamed route
/// fails here instead of in production probes.
fn routes() -> BTreeMap<String, String> {
    let source = read("crates/server/src/http/paths.rs");
    let mut routes = BTreeMap::new();
    for line in source.lines() {
        let Some(rest) = line.trim().strip_prefix("pub const ") else { continue };
        let Some((name, value)) = rest.split_once(": &str = ") else { continue };
        let value = value.trim().trim_end_matches(';').trim_matches('"');
        routes.insert(name.trim().to_owned(), value.to_owned());
    }
    assert!(routes.contains_key("HEALTHZ") && routes.contains_key("READYZ"), "paths.rs: {routes:?}");
    routes
}

fn route(name: &str) -> String {
    routes().remove(name).unwrap()
}

fn s<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for key in path.split('.') {
        cur = match key.parse::<usize>() {
            Ok(i) => cur.get(i),
            Err(_) => cur.get(key),
        }
        .unwrap_or_else(|| panic!("missing `{path}` (at `{key}`) in {v:?}"));
    }
    cur
}

fn text<'a>(v: &'a Value, path: &str) -> &'a str {
    s(v, path).as_str().unwrap_or_else(|| panic!("`{path}` is not a string"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|x| match x {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("not a scalar: {other:?}"),
        })
        .collect()
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or_else(|| panic!("no port in {addr:?}"))
}

/// `"40s"`, `"1m"` or a bare number of seconds.
fn seconds(v: &str) -> u64 {
    let v = v.trim();
    if let Some(n) = v.strip_suffix('s') {
        n.parse().unwrap()
    } else if let Some(n) = v.strip_suffix('m') {
        n.parse::<u64>().unwrap() * 60
    } else {
        v.parse().unwrap()
    }
}

/// Kubernetes memory quantity in MiB (`32Mi`, `1Gi`).
fn mebibytes(q: &str) -> u64 {
    if let Some(n) = q.strip_suffix("Mi") {
        n.parse().unwrap()
    } else if let Some(n) = q.strip_suffix("Gi") {
        n.parse::<u64>().unwrap() * 1024
    } else {
        panic!("unexpected memory quantity {q:?}")
    }
}

/// `http://host:port/path` -> (port, path).
fn url_port_path(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("not an http URL: {url}"));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    (port_of(authority), path.to_owned())
}

/// Runs `latchkey config check` with exactly these `LATCHKEY_*` settings (and an optional file),
/// and returns the effective configuration it prints, failing the test with its errors otherwise.
fn config_check(env: &[(String, String)], file: Option<&Path>) -> toml::Table {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = latchkey_command(dir.path(), &Db::Sqlite);
    // Only what the deployment file sets: drop the harness's test settings.
    for name in ["LATCHKEY_DATA_DIR", "LATCHKEY_LOG__LEVEL", "LATCHKEY_PASSWORDS__ARGON2_MEMORY_KIB"] {
        cmd.env_remove(name);
    }
    cmd.env_remove("LATCHKEY_PASSWORDS__ARGON2_ITERATIONS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["config", "check"]);
    if let Some(file) = file {
        cmd.arg("--config").arg(file);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "latchkey config check rejected {env:?} {file:?}:\n{stderr}");
    stdout.parse::<toml::Table>().unwrap_or_else(|e| panic!("config check printed invalid TOML: {e}\n{stdout}"))
}

/// Replaces placeholders in an example secret with values that pass validation.
fn fill_placeholder(name: &str, value: &str) -> String {
    match name {
        "LATCHKEY_KEYS__ENCRYPTION_KEY" => TEST_KEK.to_owned(),
        _ => value.replace("REPLACE_ME", "test-only-password"),
    }
}

/// `KEY=value` lines of an env file, comments and blanks skipped.
fn env_file(rel: &str) -> Vec<(String, String)> {
    read(rel)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{rel}: bad line {l:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Compose's `${VAR:-default}` with nothing set: the default.
fn compose_default(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let inner = &rest[start + 2..end];
        out.push_str(inner.split_once(":-").map_or("", |(_, d)| d));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn mapping_env(v: &Value) -> Vec<(String, String)> {
    v.as_mapping()
        .unwrap_or_else(|| panic!("environment must be a mapping: {v:?}"))
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => panic!("environment value {other:?}"),
            };
            (k.as_str().unwrap().to_owned(), compose_default(&v))
        })
        .collect()
}

fn get_env<'a>(env: &'a [(String, String)], name: &str) -> &'a str {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("{name} not set"))
}

#[test]
fn compose_runs_two_nodes_on_one_postgres_behind_a_tls_proxy() {
    let compose: Value = serde_norway::from_str(&read("deploy/compose.yaml")).unwrap();
    let services = s(&compose, "services");
    for name in ["postgres", "migrate", "latchkey-1", "latchkey-2", "latchkey-demo-rp", "proxy"] {
        assert!(services.get(name).is_some(), "compose.yaml: no service {name}");
    }
    let readyz = route("READYZ");
    let proxy_ip = text(services, "proxy.networks.edge.ipv4_address").to_owned();
    let caddyfile = read("deploy/caddy/Caddyfile");
    let mut env_files = Vec::new();

    for node in ["latchkey-1", "latchkey-2"] {
        let svc = s(services, node);
        assert_eq!(text(svc, "image"), text(services, "migrate.image"), "{node} runs the migrated image");
        assert_eq!(strings(s(svc, "command")), ["serve"]);
        let env = mapping_env(s(svc, "environment"));
        for (k, _) in &env {
            assert!(
                !k.contains("ENCRYPTION_KEY") && !k.contains("DATABASE__URL"),
                "{node}: secret {k} must come from the env file, not compose.yaml"
            );
        }
        let port = port_of(get_env(&env, "LATCHKEY_LISTEN"));
        assert!(get_env(&env, "LATCHKEY_LISTEN").starts_with("0.0.0.0:"), "{node} must listen on all interfaces");
        assert!(strings(s(svc, "expose")).contains(&port.to_string()), "{node} exposes its listen port");
        assert!(caddyfile.contains(&format!("{node}:{port}")), "Caddyfile proxies to {node}:{port}");

        let probe = strings(s(svc, "healthcheck.test"));
        assert_eq!(probe[..3], ["CMD", "/usr/local/bin/latchkey", "probe"], "{node} healthcheck: {probe:?}");
        assert_eq!(url_port_path(&probe[3]), (port, readyz.clone()), "{node} healthcheck probes /readyz on its port");

        let trusted = get_env(&env, "LATCHKEY_TRUSTED_PROXIES");
        assert!(
            trusted.split(',').any(|t| t.trim() == proxy_ip || t.trim() == format!("{proxy_ip}/32")),
            "{node} trusts exactly the proxy ({proxy_ip}), got {trusted}"
        );
        assert!(get_env(&env, "LATCHKEY_ISSUER").starts_with("https://"), "{node}: the issuer is the TLS proxy");
        assert!(
            seconds(text(svc, "stop_grace_period")) > DEFAULT_SHUTDOWN_GRACE_SECS,
            "{node}: docker must wait longer than http.shutdown_grace before SIGKILL"
        );
        assert_eq!(s(svc, "read_only"), &Value::Bool(true), "{node}: read-only root filesystem");
        assert_eq!(strings(s(svc, "cap_drop")), ["ALL"]);
        let networks: Vec<String> =
            s(svc, "networks").as_sequence().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect();
        assert!(networks.contains(&"db".to_owned()) && networks.contains(&"edge".to_owned()), "{node}: {networks:?}");
        env_files.push(strings(s(svc, "env_file")));

        // The settings the node gets must load: env names and values are the real configuration.
        let mut all = env.clone();
        for (k, v) in env_file("deploy/latchkey.env.example") {
            let filled = fill_placeholder(&k, &v);
            all.push((k, filled));
        }
        let effective = config_check(&all, None);
        assert_eq!(effective["listen"].as_str().unwrap(), get_env(&env, "LATCHKEY_LISTEN"));
        assert_eq!(effective["log"]["format"].as_str().unwrap(), "json");
        assert_eq!(effective["keys"]["encryption_key"].as_str().unwrap(), "[redacted]");
    }
    // One database and one key-encryption key for both nodes: the same env file.
    assert_eq!(env_files[0], env_files[1]);
    assert_eq!(env_files[0], strings(s(services, "migrate.env_file")));
    assert_eq!(strings(s(services, "migrate.command")), ["migrate"]);
    assert_eq!(text(services, "latchkey-1.depends_on.migrate.condition"), "service_completed_successfully");
    assert!(
        get_env(&env_file("deploy/latchkey.env.example"), "LATCHKEY_DATABASE__URL").starts_with("postgres://"),
        "nodes share PostgreSQL"
    );

    // Caddy's address is inside the edge network, which is the only one the proxy is on.
    let subnet = text(&compose, "networks.edge.ipam.config.0.subnet");
    let prefix = subnet.rsplit_once('.').unwrap().0;
    assert!(proxy_ip.starts_with(&format!("{prefix}.")) && subnet.ends_with("/24"), "{proxy_ip} in {subnet}");
    assert!(caddyfile.contains(&format!("health_uri {readyz}")), "Caddy's active health check uses /readyz");
    assert!(caddyfile.contains("tls "), "Caddy terminates TLS");
    let ports = strings(s(services, "proxy.ports"));
    assert!(ports.iter().any(|p| p.ends_with(":443")), "the proxy publishes 443: {ports:?}");
    for svc in ["latchkey-1", "latchkey-2", "postgres", "migrate", "latchkey-demo-rp"] {
        assert!(services.get(svc).unwrap().get("ports").is_none(), "{svc} must be reachable only through the proxy");
    }

    // PostgreSQL: only on the internal network, password from a file secret.
    assert_eq!(s(&compose, "networks.db.internal"), &Value::Bool(true));
    assert_eq!(strings(s(services, "postgres.networks")), ["db"]);
    assert!(text(services, "postgres.environment.POSTGRES_PASSWORD_FILE").starts_with("/run/secrets/"));
    assert!(text(&compose, "secrets.postgres_password.file").starts_with("./secrets/"));

    // The demo RP: its own binary, listening where Caddy sends its traffic.
    let rp = s(services, "latchkey-demo-rp");
    assert_eq!(strings(s(rp, "entrypoint")), ["/usr/local/bin/latchkey-demo-rp"]);
    let rp_env = mapping_env(s(rp, "environment"));
    let rp_port = port_of(get_env(&rp_env, "LATCHKEY_DEMO_RP__LISTEN"));
    assert!(caddyfile.contains(&format!("latchkey-demo-rp:{rp_port}")));
    assert_eq!(rp_port, 8081);
    assert!(rp_env.iter().all(|(k, _)| k.starts_with("LATCHKEY_DEMO_RP__")), "{rp_env:?}");
    assert!(rp_env.iter().all(|(k, _)| !k.ends_with("SECRET")), "the RP's secret comes from its env file");
    let bin = read("crates/demo-rp/Cargo.toml");
    assert!(bin.contains("name = \"latchkey-demo-rp\""), "the image's demo RP binary is built by crates/demo-rp");
}

/// Every YAML document in deploy/kubernetes, by kind.
fn kubernetes() -> BTreeMap<String, Vec<(String, Value)>> {
    let dir = repo().join("deploy/kubernetes");
    let mut by_kind: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for path in files {
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("yaml"), "{}: use .yaml", path.display());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        // Documents are separated by a `---` line (none of ours uses `---` inside a block scalar).
        for part in source.split("\n---") {
            let doc: Value = serde_norway::from_str(part).unwrap_or_else(|e| panic!("{name}: {e}"));
            if doc.is_null() {
                continue;
            }
            let kind = text(&doc, "kind").to_owned();
            assert!(text(&doc, "apiVersion").contains('v'), "{name}: apiVersion");
            if kind != "Kustomization" {
                assert!(!text(&doc, "metadata.name").is_empty(), "{name}: metadata.name");
            }
            by_kind.entry(kind).or_default().push((name.clone(), doc));
        }
    }
    by_kind
}

fn one<'a>(k8s: &'a BTreeMap<String, Vec<(String, Value)>>, kind: &str) -> &'a Value {
    let docs = k8s.get(kind).unwrap_or_else(|| panic!("deploy/kubernetes: no {kind}"));
    assert_eq!(docs.len(), 1, "one {kind}");
    &docs[0].1
}

/// The rules every Latchkey pod follows, in the Deployment and in the migration Job.
fn assert_locked_down(what: &str, pod: &Value) {
    let pod_ctx = s(pod, "securityContext");
    assert_eq!(s(pod_ctx, "runAsNonRoot"), &Value::Bool(true), "{what}: pod runAsNonRoot");
    assert_ne!(s(pod_ctx, "runAsUser").as_u64(), Some(0), "{what}: not uid 0");
    assert_eq!(s(pod, "automountServiceAccountToken"), &Value::Bool(false), "{what}: no API token");
    for c in s(pod, "containers").as_sequence().unwrap() {
        let name = text(c, "name");
        let ctx = s(c, "securityContext");
        assert_eq!(s(ctx, "runAsNonRoot"), &Value::Bool(true), "{what}/{name}: runAsNonRoot");
        assert_eq!(s(ctx, "readOnlyRootFilesystem"), &Value::Bool(true), "{what}/{name}: readOnlyRootFilesystem");
        assert_eq!(s(ctx, "allowPrivilegeEscalation"), &Value::Bool(false), "{what}/{name}: allowPrivilegeEscalation");
        assert_ne!(ctx.get("privileged"), Some(&Value::Bool(true)), "{what}/{name}: privileged");
        assert_eq!(strings(s(ctx, "capabilities.drop")), ["ALL"], "{what}/{name}: drop ALL capabilities");
        assert!(s(ctx, "capabilities").get("add").is_none(), "{what}/{name}: no added capabilities");
        let seccomp = ctx.get("seccompProfile").or_else(|| pod_ctx.get("seccompProfile")).unwrap();
        assert_eq!(text(seccomp, "type"), "RuntimeDefault", "{what}/{name}: seccomp");
        assert_eq!(text(s(pod, "securityContext.seccompProfile"), "type"), "RuntimeDefault");
        let requests = s(c, "resources.requests");
        let limits = s(c, "resources.limits");
        let (req, lim) = (mebibytes(text(requests, "memory")), mebibytes(text(limits, "memory")));
        // Idle RSS is 10-20 MiB; Argon2id takes about 19 MiB per concurrent hash (two allowed).
        assert!((16..=64).contains(&req) && (64..=256).contains(&lim) && req <= lim, "{what}/{name}: {req}/{lim} MiB");
        assert!(text(requests, "cpu").ends_with('m'), "{what}/{name}: cpu request in millicores");
    }
}

#[test]
fn kubernetes_manifests_are_complete_consistent_and_locked_down() {
    let k8s = kubernetes();
    for kind in ["Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "Job", "Kustomization"] {
        assert!(k8s.contains_key(kind), "deploy/kubernetes has no {kind}");
    }
    let deployment = one(&k8s, "Deployment");
    let config_map = one(&k8s, "ConfigMap");
    let secret = one(&k8s, "Secret");
    let job = one(&k8s, "Job");

    // The configuration the pods mount.
    let toml_text = s(config_map, "data").get("latchkey.toml").and_then(Value::as_str).expect("data.latchkey.toml");
    let toml: toml::Table = toml_text.parse().expect("the ConfigMap's latchkey.toml is valid TOML");
    let listen = toml["listen"].as_str().unwrap();
    let port = port_of(listen);
    let grace = toml
        .get("http")
        .and_then(|h| h.get("shutdown_grace"))
        .map_or(DEFAULT_SHUTDOWN_GRACE_SECS, |g| seconds(g.as_str().unwrap()));
    assert!(listen.starts_with("0.0.0.0:"), "listen on the pod IP: {listen}");
    assert!(toml["issuer"].as_str().unwrap().starts_with("https://"));
    assert!(!toml_text.contains("encryption_key =") && !toml_text.contains("url ="), "no secrets in the ConfigMap");
    assert!(toml.get("clients").is_none(), "no demo client in production");

    // ...loads with the real binary, with the Secret's variables (placeholders filled in).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latchkey.toml");
    std::fs::write(&file, toml_text).unwrap();
    let secret_env: Vec<(String, String)> = s(secret, "stringData")
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let k = k.as_str().unwrap();
            (k.to_owned(), fill_placeholder(k, v.as_str().unwrap()))
        })
        .collect();
    let effective = config_check(&secret_env, Some(&file));
    assert_eq!(effective["listen"].as_str().unwrap(), listen);
    assert_eq!(effective["database"]["url"].as_str().unwrap(), "[redacted]");
    assert_eq!(effective["passwords"]["max_concurrent_hashes"].as_integer(), Some(2), "Argon2 memory bounded");

    // Deployment.
    assert!(s(deployment, "spec.replicas").as_u64().unwrap() >= 2, "2+ replicas");
    let labels = s(deployment, "spec.template.metadata.labels").as_mapping().unwrap();
    let selector = s(deployment, "spec.selector.matchLabels").as_mapping().unwrap();
    assert!(selector.iter().all(|(k, v)| labels.get(k) == Some(v)), "selector matches the pod labels");
    let pod = s(deployment, "spec.template.spec");
    assert_locked_down("Deployment", pod);
    let containers = s(pod, "containers").as_sequence().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let ports = s(c, "ports").as_sequence().unwrap();
    let http = ports.iter().find(|p| text(p, "name") == "http").expect("a port named http");
    assert_eq!(s(http, "containerPort").as_u64(), Some(u64::from(port)), "containerPort is the listen port");
    let check_probe = |probe: &str, route_name: &str| {
        let get = s(c, &format!("{probe}.httpGet"));
        assert_eq!(text(get, "path"), route(route_name), "{probe} path");
        match s(get, "port") {
            Value::String(name) => assert_eq!(name, "http", "{probe} port"),
            Value::Number(n) => assert_eq!(n.as_u64(), Some(u64::from(port)), "{probe} port"),
            other => panic!("{probe} port {other:?}"),
        }
    };
    check_probe("readinessProbe", "READYZ");
    check_probe("livenessProbe", "HEALTHZ");
    if c.get("startupProbe").is_some() {
        check_probe("startupProbe", "HEALTHZ");
    }
    let args = strings(s(c, "args"));
    assert_eq!(args[0], "serve");
    let config_path = &args[args.iter().position(|a| a == "--config").unwrap() + 1];
    let mounts = s(c, "volumeMounts").as_sequence().unwrap();
    let config_mount = mounts.iter().find(|m| text(m, "name") == "config").unwrap();
    assert_eq!(config_path, &format!("{}/latchkey.toml", text(config_mount, "mountPath")));
    let volumes = s(pod, "volumes").as_sequence().unwrap();
    let config_volume = volumes.iter().find(|v| text(v, "name") == "config").unwrap();
    assert_eq!(text(config_volume, "configMap.name"), text(config_map, "metadata.name"));
    assert_eq!(text(c, "envFrom.0.secretRef.name"), text(secret, "metadata.name"));
    let pre_stop = c.get("lifecycle").and_then(|l| l.get("preStop")).and_then(|p| p.get("sleep"));
    let pre_stop = pre_stop.map_or(0, |p| s(p, "seconds").as_u64().unwrap());
    let termination = s(pod, "terminationGracePeriodSeconds").as_u64().unwrap();
    assert!(termination > pre_stop + grace, "terminationGracePeriodSeconds {termination} <= {pre_stop} + {grace}");
    let data_mount = mounts.iter().find(|m| text(m, "mountPath") == toml["data_dir"].as_str().unwrap());
    assert!(data_mount.is_some(), "data_dir is a writable volume (the root filesystem is read-only)");

    // Service and PodDisruptionBudget select the Deployment's pods.
    let service = one(&k8s, "Service");
    let svc_selector = s(service, "spec.selector").as_mapping().unwrap();
    assert!(svc_selector.iter().all(|(k, v)| labels.get(k) == Some(v)), "Service selects the pods");
    let target = s(service, "spec.ports.0.targetPort");
    assert!(target == &Value::String("http".into()) || target.as_u64() == Some(u64::from(port)));
    let pdb = one(&k8s, "PodDisruptionBudget");
    assert_eq!(text(pdb, "apiVersion"), "policy/v1");
    let pdb_selector = s(pdb, "spec.selector.matchLabels").as_mapping().unwrap();
    assert!(pdb_selector.iter().all(|(k, v)| labels.get(k) == Some(v)), "PDB selects the pods");
    assert!(s(pdb, "spec.minAvailable").as_u64().unwrap() < s(deployment, "spec.replicas").as_u64().unwrap());

    // The migration Job: same image, same configuration, `latchkey migrate`.
    let job_pod = s(job, "spec.template.spec");
    assert_locked_down("Job", job_pod);
    let jc = s(job_pod, "containers.0");
    assert_eq!(strings(s(jc, "args"))[0], "migrate");
    assert_eq!(text(jc, "image"), text(c, "image"));
    assert_eq!(text(jc, "envFrom.0.secretRef.name"), text(secret, "metadata.name"));
    assert!(["Never", "OnFailure"].contains(&text(job_pod, "restartPolicy")));

    // Kustomization: lists files that exist, never the example Secret or the Job.
    let kustomization = one(&k8s, "Kustomization");
    let resources = strings(s(kustomization, "resources"));
    for r in &resources {
        assert!(repo().join("deploy/kubernetes").join(r).exists(), "kustomization lists missing {r}");
    }
    assert!(!resources.iter().any(|r| r.contains("secret") || r.contains("job")), "{resources:?}");
}

/// Values that look like real secrets anywhere in `deploy/`: only placeholders may be committed.
#[test]
fn deploy_files_hold_placeholders_not_secrets() {
    let k8s = kubernetes();
    let secret = one(&k8s, "Secret");
    assert!(secret.get("data").is_none(), "the example Secret uses readable stringData placeholders");
    for (k, v) in s(secret, "stringData").as_mapping().unwrap() {
        assert!(v.as_str().unwrap().contains("REPLACE_ME"), "{k:?} is not a placeholder");
    }
    for (k, v) in env_file("deploy/latchkey.env.example").into_iter().chain(env_file("deploy/demo-rp.env.example")) {
        assert!(v.contains("REPLACE_ME"), "{k} in an example env file is not a placeholder");
    }

    let mut files = Vec::new();
    let mut stack = vec![repo().join("deploy")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let tracked = std::process::Command::new("git")
        .args(["ls-files", "deploy"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    for path in files {
        let rel = path.strip_prefix(repo()).unwrap().to_string_lossy().into_owned();
        // Real secret files an operator creates locally are git-ignored; they must never be tracked.
        let local_secret = rel.ends_with(".env") || rel.contains("/secrets/");
        if local_secret {
            if let Some(tracked) = &tracked {
                assert!(!tracked.lines().any(|l| l == rel), "{rel} holds real secrets and must not be committed");
            }
            continue;
        }
        let Ok(body) = std::fs::read_to_string(&path) else { continue };
        assert!(!body.contains("PRIVATE KEY-----"), "{rel}: a private key");
        for line in body.lines() {
            // postgres://user:password@host: the password must be a placeholder.
            if let Some(i) = line.find("postgres://") {
                let rest = &line[i + "postgres://".len()..];
                if let Some((userinfo, _)) = rest.split_once('@')
                    && let Some((_, password)) = userinfo.split_once(':')
                {
                    assert!(
                        password.contains("REPLACE_ME") || password.starts_with('<') || password == "…",
                        "{rel}: a database password in {line:?}"
                    );
                }
            }
            // A base64 run as long as a 32-byte key (43+ characters) with mixed case and digits.
            for token in line.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-".contains(c))) {
                let suspicious = token.len() >= 40
                    && token.chars().any(|c| c.is_ascii_digit())
                    && token.chars().any(|c| c.is_ascii_lowercase())
                    && token.chars().any(|c| c.is_ascii_uppercase())
                    && !token.contains("REPLACE_ME");
                assert!(!suspicious, "{rel}: {token:?} looks like a committed key or secret");
            }
            for key in ["ENCRYPTION_KEY", "CLIENT_SECRET", "PASSWORD"] {
                if let Some((name, value)) = line.split_once('=')
                    && name.trim().ends_with(key)
                    && !line.trim_start().starts_with('#')
                {
                    let value = value.trim().trim_matches('"');
                    assert!(value.contains("REPLACE_ME") || value.is_empty(), "{rel}: {name} = {value:?}");
                }
            }
        }
    }
}

/// The Dockerfile: non-root, the image's port and listen address agree, the HEALTHCHECK probes a
/// real route with a command the binary has, and the data volume is the data directory.
#[test]
fn dockerfile_is_multi_stage_non_root_and_probes_readyz() {
    let dockerfile = read("deploy/Dockerfile");
    // Join continuation lines so each instruction is one line.
    let joined = dockerfile.replace("\\\n", " ");
    let instructions: Vec<(String, String)> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (op, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (op.to_ascii_uppercase(), rest.trim().to_owned())
        })
        .collect();
    let all = |op: &str| instructions.iter().filter(|(o, _)| o == op).map(|(_, r)| r.as_str()).collect::<Vec<_>>();
    assert!(all("FROM").len() >= 2, "multi-stage");
    let runtime = *all("FROM").last().unwrap();
    assert!(runtime.contains("distroless") || runtime.contains("slim"), "small runtime image: {runtime}");
    let build = all("RUN").join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(build.contains("cargo build --release --locked"), "reproducible release build");
    // The server in a cargo command of its own: naming the demo too would unify its features with
    // the server's and rename the functions crates/server/link-order.txt lists.
    let server_alone = "cargo build --release --locked -p latchkey-server &&";
    let demo_alone = "cargo build --release --locked -p latchkey-demo-rp &&";
    let commands: Vec<&str> = build.split("cargo build").skip(1).collect();
    assert!(build.contains(server_alone) && build.contains(demo_alone), "one build each: {build}");
    assert!(commands.iter().all(|c| c.matches("-p ").count() == 1), "each cargo build names one package: {build}");
    let check = read("deploy/check.sh");
    assert!(
        check.contains("  cargo build --release --locked -p latchkey-server\n")
            && check.contains("  cargo build --release --locked -p latchkey-demo-rp\n"),
        "check.sh mirrors it"
    );
    assert!(check.contains("bench_link_order_counts"), "check.sh checks the code order of the release binary");

    let user = *all("USER").last().expect("USER");
    assert!(!["root", "0", "0:0"].contains(&user), "runs as non-root: {user}");
    let env: Vec<(String, String)> = all("ENV")
        .iter()
        .flat_map(|e| e.split_whitespace())
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let listen = get_env(&env, "LATCHKEY_LISTEN");
    assert_eq!(listen, "0.0.0.0:8080");
    assert_eq!(all("EXPOSE"), [port_of(listen).to_string()], "EXPOSE matches LATCHKEY_LISTEN");
    assert_eq!(get_env(&env, "LATCHKEY_DATA_DIR"), "/var/lib/latchkey");
    assert!(all("VOLUME").join(" ").contains("/var/lib/latchkey"), "the data directory is a volume");
    assert_eq!(get_env(&env, "LATCHKEY_LOG__FORMAT"), "json");

    let healthcheck = *all("HEALTHCHECK").first().expect("HEALTHCHECK");
    let cmd_json = healthcheck.split_once("CMD ").unwrap().1;
    let cmd: Vec<String> =
        serde_json::from_str(cmd_json).expect("HEALTHCHECK CMD in exec form (no shell in distroless)");
    assert_eq!(cmd[..2], ["/usr/local/bin/latchkey", "probe"]);
    assert_eq!(url_port_path(&cmd[2]), (port_of(listen), route("READYZ")));
    // The image's settings load.
    config_check(&env, None);
}

/// `latchkey probe`, the HEALTHCHECK command: 0 on a 2xx answer, non-zero on anything else.
#[test]
fn probe_command_reports_readiness_by_exit_status() {
    let server = Server::start(Db::Sqlite, &[]).unwrap();
    let probe = |path: &str| {
        let mut cmd = latchkey_command(server.data_dir(), &Db::Sqlite);
        // Settings the probe never reads must not break it (a health check that fails on a config typo
        // would restart a healthy container).
        cmd.env("LATCHKEY_NO_SUCH_SETTING", "1");
        cmd.args(["probe", &server.url(path)]).stdin(Stdio::null()).output().unwrap()
    };
    let ok = probe(&route("READYZ"));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let missing = probe("/no/such/route");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));
    let stopped = server.stop().unwrap();
    let mut cmd = latchkey_command(stopped.path(), &Db::Sqlite);
    let started = std::time::Instant::now();
    let refused = cmd.args(["probe", "http://127.0.0.1:9/readyz"]).stdin(Stdio::null()).output().unwrap();
    assert!(!refused.status.success());
    assert!(started.elapsed() < Duration::from_secs(5), "bounded");
}

/// The systemd unit: hardened, state in /var/lib/latchkey, stop timeout above the shutdown grace,
/// and its environment loads. (`systemd-analyze verify` runs in deploy/check.sh.)
#[test]
fn systemd_unit_is_hardened_and_consistent() {
    let unit = read("deploy/systemd/latchkey.service");
    let mut directives: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with('[') || line.is_empty() {
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("bad line {line:?}"));
        directives.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    let one = |k: &str| directives.get(k).and_then(|v| v.last()).map_or("", String::as_str);
    assert_eq!(one("ExecStart"), "/usr/local/bin/latchkey serve --config /etc/latchkey/latchkey.toml");
    assert!(one("DynamicUser") == "yes" || !one("User").is_empty(), "a non-root user");
    for (k, v) in [
        ("StateDirectory", "latchkey"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
        ("KillSignal", "SIGTERM"),
        ("WorkingDirectory", "/var/lib/latchkey"),
    ] {
        assert_eq!(one(k), v, "{k}");
    }
    assert!(directives.contains_key("CapabilityBoundingSet"), "an empty capability bounding set");
    assert!(one("RestrictAddressFamilies").contains("AF_INET"));
    assert!(directives["SystemCallFilter"].iter().any(|f| f == "@system-service"));
    assert!(seconds(one("TimeoutStopSec")) > DEFAULT_SHUTDOWN_GRACE_SECS, "systemd waits out the shutdown grace");
    let env: Vec<(String, String)> = directives["Environment"]
        .iter()
        .map(|e| {
            let (k, v) = e.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_eq!(get_env(&env, "LATCHKEY_DATA_DIR"), "/var/lib/latchkey", "data in the StateDirectory");
    config_check(&env, None);
}
