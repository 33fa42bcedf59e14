//! Settings come from a TOML file under the LRS_ variables and the flags:
//! flag > environment > file > default, each layer checked by what the
//! running server does with it.

mod common;

use std::io::Write;
use std::path::Path;

use common::Lrs;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `lrs serve --config FILE` (with `flags` before `--data-dir`) and `env`.
fn serve(dir: &Path, file_text: &str, flags: &[String], env: &[(&str, &str)]) -> Lrs {
    let config = dir.join("lrs.toml");
    let mut file = std::fs::File::create(&config).unwrap();
    file.write_all(file_text.as_bytes()).unwrap();
    let mut args = vec!["serve".to_owned(), "--config".to_owned(), config.display().to_string()];
    args.extend_from_slice(flags);
    args.push("--data-dir".to_owned());
    let env: Vec<(String, String)> = env.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    Lrs::start_with(&args, &dir.join("data"), "secret", &env)
}

/// The status of the operator API's tenant list with `token`.
fn operator_status(lrs: &Lrs, token: &str) -> u16 {
    lrs.client.get(lrs.url("/admin/tenants")).bearer_auth(token).send().unwrap().status().as_u16()
}

#[test]
fn a_settings_file_sets_what_flags_and_variables_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // bootstrap_secret is read beside clap, not by it: a file may name it too
    // (here the environment sets it as well, and wins).
    let text = format!(
        "listen = \"127.0.0.1:{port}\"\noperator_token = \"token-from-the-file\"\nbootstrap_secret = \"ignored\"\n"
    );
    let lrs = serve(dir.path(), &text, &[], &[]);
    assert_eq!(lrs.endpoint, format!("http://127.0.0.1:{port}/xapi"), "listen came from the file");
    assert_eq!(lrs.get("/xapi/about").0, 200);
    assert_eq!(operator_status(&lrs, "token-from-the-file"), 200, "the operator token came from the file");
    assert_eq!(operator_status(&lrs, "another-token"), 401);
}

#[test]
fn the_environment_wins_over_the_file_and_a_flag_over_both() {
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let text = format!("listen = \"127.0.0.1:{file_port}\"\noperator_token = \"token-from-the-file\"\n");
    let env_listen = format!("127.0.0.1:{env_port}");
    let env = [("LRS_LISTEN", env_listen.as_str()), ("LRS_OPERATOR_TOKEN", "token-from-the-environment")];

    let dir = tempfile::tempdir().unwrap();
    let lrs = serve(dir.path(), &text, &[], &env);
    assert_eq!(lrs.endpoint, format!("http://127.0.0.1:{env_port}/xapi"), "LRS_LISTEN over the file");
    assert_eq!(operator_status(&lrs, "token-from-the-environment"), 200, "LRS_OPERATOR_TOKEN over the file");
    assert_eq!(operator_status(&lrs, "token-from-the-file"), 401);
    drop(lrs);

    let dir = tempfile::tempdir().unwrap();
    let flags = ["--listen".to_owned(), format!("127.0.0.1:{flag_port}")];
    let lrs = serve(dir.path(), &text, &flags, &env);
    assert_eq!(lrs.endpoint, format!("http://127.0.0.1:{flag_port}/xapi"), "--listen over LRS_LISTEN and the file");
    assert_eq!(operator_status(&lrs, "token-from-the-environment"), 200, "what no flag sets still layers");
}

#[test]
fn a_setting_the_file_misspells_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lrs.toml");
    std::fs::write(&config, "listn = \"127.0.0.1:1\"\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lrs"))
        .args(["serve", "--config", &config.display().to_string(), "--data-dir", &dir.path().display().to_string()])
        .env_remove("LRS_LISTN")
        .output()
        .unwrap();
    assert!(!output.status.success(), "an unknown setting does not start the LRS");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`listn` is not a setting"), "the message names it: {stderr}");
}
