//! CSV import of people over HTTP: every row checked first, errors by line, all or nothing.

use reqwest::Method;

use crate::{on_both_backends, TestApp};

on_both_backends!(
    bad_and_duplicate_rows_are_all_reported_and_nothing_is_written,
    skip_invalid_writes_only_the_valid_rows,
    header_problems_and_wrong_content_type
);

async fn import(app: &TestApp, query: &str, csv: String) -> crate::Reply {
    app.raw(Method::POST, &format!("/api/v1/people/import{query}"), Some("acme"), "text/csv", csv).await
}

fn file(unit: &str) -> String {
    format!(
        "kind,first_name,last_name,email,unit_id,metadata\n\
         resident,Ana,Souza,ana@example.com,{unit},\"{{\"\"car\"\": \"\"ABC1234\"\"}}\"\n\
         resident,Bo,,bo@example,,\n\
         resident,Cy,Lima,ana@example.com,,\n\
         alien,Di,Rocha,di@example.com,,\n\
         resident,Ana,Souza,ana@example.com,{unit},\"{{\"\"car\"\": \"\"ABC1234\"\"}}\"\n\
         resident,Ed,Costa,ed@example.com,01890a5d-ac96-774b-bcce-b302099a8057,\n\
         visitor,Flo,Martins,flo@example.com,,\n"
    )
}

async fn bad_and_duplicate_rows_are_all_reported_and_nothing_is_written(app: TestApp) {
    let f = app.populated_tenant("acme").await;
    let reply = import(&app, "", file(&f.unit)).await;
    let problem = reply.problem(422, "csv_invalid");
    let errors: Vec<(u64, Option<&str>)> =
        problem["errors"].as_array().unwrap().iter().map(|e| (e["line"].as_u64().unwrap(), e["field"].as_str())).collect();
    assert_eq!(errors, vec![(3, Some("email")), (4, Some("email")), (5, Some("kind")), (6, None), (7, Some("unit_id"))]);
    let people = app.get("/api/v1/people", Some("acme")).await;
    assert_eq!(people.ids(), vec![f.person.clone()], "nothing was written");
}

async fn skip_invalid_writes_only_the_valid_rows(app: TestApp) {
    let f = app.populated_tenant("acme").await;
    let reply = import(&app, "?skip_invalid=true", file(&f.unit)).await;
    let report = reply.ok();
    assert_eq!(report["total_rows"], 7);
    assert_eq!(report["imported"], 2);
    assert_eq!(report["skipped"], 5);
    assert_eq!(report["errors"].as_array().unwrap().len(), 5);
    let ana = app.get("/api/v1/people?email=ana@example.com", Some("acme")).await;
    let ana = &ana.ok()["items"][0];
    assert_eq!(ana["unit_id"], f.unit.as_str());
    assert_eq!(ana["metadata"]["car"], "ABC1234");
    assert_eq!(app.get("/api/v1/people?email=flo@example.com", Some("acme")).await.ok()["items"][0]["kind"], "visitor");
    // Importing the same file again: those two now collide with existing people.
    let again = import(&app, "", file(&f.unit)).await;
    let lines: Vec<u64> =
        again.problem(422, "csv_invalid")["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert!(lines.contains(&2) && lines.contains(&8), "{lines:?}");
}

async fn header_problems_and_wrong_content_type(app: TestApp) {
    app.populated_tenant("acme").await;
    let unknown = import(&app, "?skip_invalid=true", "kind,first_name,shoe_size\nresident,Al,44\n".into()).await;
    let problem = unknown.problem(422, "csv_invalid");
    assert_eq!(problem["errors"][0]["line"], 1);
    assert_eq!(problem["errors"][0]["field"], "shoe_size");
    import(&app, "", String::new()).await.problem(422, "csv_invalid");
    let as_json = app.raw(Method::POST, "/api/v1/people/import", Some("acme"), "application/json", "{}").await;
    as_json.problem(415, "unsupported_media_type");
    import(&app, "?skip_invalid=maybe", "kind,first_name\n".into()).await.problem(400, "invalid_query");
    assert_eq!(app.get("/api/v1/people", Some("acme")).await.ids().len(), 1);
}
