//! Settings come from a TOML file under the LRS_ variables and the flags.

mod common;

use std::io::Write;

use common::Lrs;

#[test]
fn a_settings_file_sets_what_flags_and_variables_do_not() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lrs.toml");
    let mut file = std::fs::File::create(&config).unwrap();
    writeln!(file, "listen = \"127.0.0.1:{port}\"\nverdict_deadline_ms = 5000").unwrap();
    let data = dir.path().join("data");
    let args = ["serve".to_owned(), "--config".to_owned(), config.display().to_string(), "--data-dir".to_owned()];
    let lrs = Lrs::start_with(&args, &data, "secret", &[]);
    assert_eq!(lrs.endpoint, format!("http://127.0.0.1:{port}/xapi"), "listen came from the file");
    let (status, _, _) = lrs.get("/xapi/about");
    assert_eq!(status, 200);
}
