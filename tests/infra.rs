//! The SAM template (`infra/template.yaml`) checked against the code it deploys: the
//! functions are the workspace's Lambda binaries, the table is `TABLE`, every function gets
//! the environment it reads at start (and would start with it), the sender's timeouts fit
//! its queue, schedules hand the jobs their instant, and the roles grant no wildcard.
//!
//! cfn-lint, `sam validate --lint` and checkov check the template as CloudFormation; this
//! test checks what they cannot know: that it matches this code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use outreach_core::jobs::SenderSettings;
use outreach_notify::{ChannelConfig, EmailChannelConfig, NotifyError, SmsChannelConfig};
use outreach_store::StoreUrl;
use outreach_store::dynamodb::table::TABLE;
use serde_yaml::Value;

/// The one workspace binary under `functions/` that is not a Lambda function.
const LOCAL_ONLY_BINARY: &str = "outreach";

/// The two files where the binaries read their environment (`Config::from_env`,
/// `ChannelConfig::from_vars`).
const CONFIG_SOURCES: &[&str] = &["shared/app/src/lib.rs", "shared/notify/src/config.rs"];

/// The Lambda functions, by binary.
const ALL: &[&str] = &["api", "planner", "dispatcher", "sender", "quarterly-summary"];

const SES_NOT_SMTP: &str = "Lambda sends email through SES, not SMTP";

/// What a variable the code reads means on Lambda.
enum Need {
    /// Set on these functions (an optional setting may be set to an empty parameter).
    On(&'static [&'static str]),
    /// Never set on Lambda, and why.
    Local(&'static str),
}

/// Every `OUTREACH_*` variable the code reads, decided once. A variable the code starts to
/// read fails the test until it is decided here.
const NEEDS: &[(&str, Need)] = &[
    ("OUTREACH_STORE", Need::On(ALL)),
    // Config::from_env reads the channel settings in every function (only the sender and
    // the quarterly summary build the adapters), and the default names the outbox, a
    // directory Lambda's read-only file system cannot hold.
    ("OUTREACH_EMAIL", Need::On(ALL)),
    ("OUTREACH_EMAIL_FROM", Need::On(ALL)),
    ("OUTREACH_SMS", Need::On(ALL)),
    (
        "OUTREACH_SES_CONFIGURATION_SET",
        Need::On(&["sender", "quarterly-summary"]),
    ),
    (
        "OUTREACH_CHANNEL_TIMEOUT_SECS",
        Need::On(&["sender", "quarterly-summary"]),
    ),
    ("OUTREACH_QUEUE_URL", Need::On(&["dispatcher"])),
    ("OUTREACH_SMS_SENDER_ID", Need::On(&["sender"])),
    ("OUTREACH_SMS_GATEWAY_URL", Need::On(&["sender"])),
    ("OUTREACH_SMS_GATEWAY_KEY", Need::On(&["sender"])),
    ("OUTREACH_SMS_GATEWAY_KEY_HEADER", Need::On(&["sender"])),
    ("OUTREACH_SMS_GATEWAY_BRANDNAME", Need::On(&["sender"])),
    ("OUTREACH_SMS_GATEWAY_ID_FIELD", Need::On(&["sender"])),
    ("OUTREACH_SMS_GATEWAY_DROPS_REPEATS", Need::On(&["sender"])),
    ("OUTREACH_AFTER_UNCERTAIN_SEND", Need::On(&["sender"])),
    // The sender costs each message; the api estimates a campaign's.
    ("OUTREACH_PRICES", Need::On(&["api", "sender"])),
    (
        "OUTREACH_PRICES_FILE",
        Need::Local("on Lambda the table is in OUTREACH_PRICES"),
    ),
    ("OUTREACH_JWT_SECRET", Need::On(&["api", "sender"])),
    ("OUTREACH_WEBHOOK_SECRET", Need::On(&["api"])),
    ("OUTREACH_JWKS", Need::On(&["api"])),
    (
        "OUTREACH_JWKS_FILE",
        Need::Local("on Lambda the document is in OUTREACH_JWKS"),
    ),
    ("OUTREACH_JWT_ISSUER", Need::On(&["api"])),
    ("OUTREACH_JWT_AUDIENCE", Need::On(&["api"])),
    ("OUTREACH_OIDC_CLIENT_ID", Need::On(&["api"])),
    ("OUTREACH_OIDC_CLIENT_SECRET", Need::On(&["api"])),
    ("OUTREACH_OIDC_SCOPES", Need::On(&["api"])),
    ("OUTREACH_OIDC_NAME", Need::On(&["api"])),
    // The api function's sign-in builds its callback URL from the request (the template
    // cannot name the API's URL in the function the API is built from).
    ("OUTREACH_PUBLIC_URL", Need::On(&["sender"])),
    ("OUTREACH_PLANNER_HORIZON_DAYS", Need::On(&["planner"])),
    ("OUTREACH_ANSWER_WINDOW_HOURS", Need::On(&["api"])),
    ("OUTREACH_DELIVERY_RETENTION_DAYS", Need::On(&["sender"])),
    ("OUTREACH_REPORT_ORGS", Need::On(&["quarterly-summary"])),
    ("OUTREACH_OUTBOX_DIR", Need::Local("the outbox is the laptop's channel")),
    (
        "OUTREACH_LOCAL_QUEUE_VISIBILITY_SECONDS",
        Need::Local("the local queue is the laptop's; on AWS, SQS's visibility timeout is the template's"),
    ),
    ("OUTREACH_SMTP_HOST", Need::Local(SES_NOT_SMTP)),
    ("OUTREACH_SMTP_PORT", Need::Local(SES_NOT_SMTP)),
    ("OUTREACH_SMTP_STARTTLS", Need::Local(SES_NOT_SMTP)),
    ("OUTREACH_SMTP_USERNAME", Need::Local(SES_NOT_SMTP)),
    ("OUTREACH_SMTP_PASSWORD", Need::Local(SES_NOT_SMTP)),
    // ZNS: the sender sends with the token the planner (the one refresher) keeps fresh.
    // The API verifies Zalo's OA webhook (ZNS receipts) with the app id and OA secret key.
    ("OUTREACH_ZNS_APP_ID", Need::On(&["api", "planner", "sender"])),
    (
        "OUTREACH_ZNS",
        Need::Local("on Lambda ZNS follows OUTREACH_ZNS_APP_ID: Zalo when set, off when empty"),
    ),
    ("OUTREACH_ZNS_OA_SECRET_KEY", Need::On(&["api"])),
    ("OUTREACH_ZNS_SECRET_KEY", Need::On(&["planner"])),
    ("OUTREACH_ZNS_REFRESH_TOKEN", Need::On(&["planner"])),
    (
        "OUTREACH_ZNS_API_URL",
        Need::Local("Lambda talks to Zalo's own endpoints (the default)"),
    ),
    (
        "OUTREACH_ZNS_OAUTH_URL",
        Need::Local("Lambda talks to Zalo's own endpoints (the default)"),
    ),
];

/// Secrets go only where they are needed.
const SECRETS: &[&str] = &[
    "OUTREACH_JWT_SECRET",
    "OUTREACH_WEBHOOK_SECRET",
    "OUTREACH_SMS_GATEWAY_KEY",
    "OUTREACH_OIDC_CLIENT_SECRET",
    "OUTREACH_ZNS_SECRET_KEY",
    "OUTREACH_ZNS_OA_SECRET_KEY",
    "OUTREACH_ZNS_REFRESH_TOKEN",
];

/// Actions without a resource ARN: the only ones a role may grant on `*`.
const STAR_RESOURCE_ACTIONS: &[&str] = &["sns:Publish", "xray:PutTraceSegments", "xray:PutTelemetryRecords"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

struct Template {
    doc: Value,
}

/// A Lambda function of the template.
struct Function<'a> {
    logical_id: &'a str,
    binary: String,
    properties: &'a Value,
}

/// An intrinsic function, short (`!Ref X`) or long (`{"Ref": X}`, `{"Fn::Sub": ...}`) form.
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string().trim_start_matches('!').to_string(), &t.value)),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next()?;
            let k = k.as_str()?;
            if k == "Ref" {
                Some(("Ref".into(), v))
            } else {
                k.strip_prefix("Fn::").map(|name| (name.to_string(), v))
            }
        }
        _ => None,
    }
}

/// A plain string, or panic naming what it is.
fn text<'v>(v: &'v Value, what: &str) -> &'v str {
    v.as_str().unwrap_or_else(|| panic!("{what} is not a string: {v:?}"))
}

fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

impl Template {
    fn load() -> Self {
        let path = root().join("infra/template.yaml");
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc = serde_yaml::from_str(&source).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self { doc }
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.doc["Resources"]
            .as_mapping()
            .expect("the template has Resources")
            .iter()
            .map(|(k, v)| (k.as_str().expect("logical ids are strings"), v))
    }

    fn resource(&self, logical_id: &str) -> &Value {
        let r = &self.doc["Resources"][logical_id];
        assert!(!r.is_null(), "the template has no resource {logical_id}");
        r
    }

    fn of_type(&self, kind: &str) -> Vec<(&str, &Value)> {
        self.resources().filter(|(_, r)| r["Type"] == kind).collect()
    }

    /// A property of every function: its own, or the Globals'.
    fn function_property<'a>(&'a self, f: &Function<'a>, name: &str) -> &'a Value {
        match &f.properties[name] {
            Value::Null => &self.doc["Globals"]["Function"][name],
            own => own,
        }
    }

    fn functions(&self) -> Vec<Function<'_>> {
        self.of_type("AWS::Serverless::Function")
            .into_iter()
            .map(|(id, r)| {
                let binary = r["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{id}: Metadata.BuildProperties.Binary names no binary"))
                    .to_string();
                Function {
                    logical_id: id,
                    binary,
                    properties: &r["Properties"],
                }
            })
            .collect()
    }

    fn function(&self, binary: &str) -> Function<'_> {
        self.functions()
            .into_iter()
            .find(|f| f.binary == binary)
            .unwrap_or_else(|| panic!("no function of the template builds {binary}"))
    }

    /// A function's environment as written: the Globals' variables, then its own.
    fn environment<'a>(&'a self, f: &Function<'a>) -> BTreeMap<String, &'a Value> {
        let mut vars = BTreeMap::new();
        for source in [
            &self.doc["Globals"]["Function"]["Environment"]["Variables"],
            &f.properties["Environment"]["Variables"],
        ] {
            if let Some(m) = source.as_mapping() {
                for (k, v) in m {
                    vars.insert(text(k, "a variable name").to_string(), v);
                }
            }
        }
        vars
    }

    /// The parameters' values: the defaults, then `given`.
    fn parameters(&self, given: &[(String, String)]) -> BTreeMap<String, String> {
        let mut values = BTreeMap::new();
        for (name, p) in self.doc["Parameters"]
            .as_mapping()
            .expect("the template has Parameters")
        {
            let name = text(name, "a parameter name");
            let value = match &p["Default"] {
                Value::Null => None,
                Value::Number(n) => Some(n.to_string()),
                other => Some(text(other, name).to_string()),
            };
            if let Some(v) = value {
                values.insert(name.to_string(), v);
            }
        }
        for (k, v) in given {
            assert!(
                !self.doc["Parameters"][k.as_str()].is_null(),
                "the template has no parameter {k}"
            );
            values.insert(k.clone(), v.clone());
        }
        values
    }
}

/// Evaluates intrinsic functions for given parameter values: resources become
/// placeholders (`<Table>`, `<Table.Arn>`).
struct Eval<'a> {
    template: &'a Template,
    params: BTreeMap<String, String>,
}

impl Eval<'_> {
    fn reference(&self, name: &str) -> Option<String> {
        match name {
            "AWS::NoValue" => None,
            "AWS::Region" => Some("ap-southeast-1".into()),
            "AWS::AccountId" => Some("123456789012".into()),
            "AWS::Partition" => Some("aws".into()),
            "AWS::URLSuffix" => Some("amazonaws.com".into()),
            "AWS::StackName" => Some("outreach-test".into()),
            _ if !self.template.doc["Parameters"][name].is_null() => Some(
                self.params
                    .get(name)
                    .unwrap_or_else(|| panic!("parameter {name} has no value in this test"))
                    .clone(),
            ),
            _ => {
                self.template.resource(name);
                Some(format!("<{name}>"))
            }
        }
    }

    fn sub(&self, pattern: &str, vars: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("an unclosed ${ in !Sub") + start;
            let name = &rest[start + 2..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(v) = vars.get(name) {
                out.push_str(v);
            } else if name.contains('.') && !name.starts_with("AWS::") {
                let (resource, _) = name.split_once('.').unwrap();
                self.template.resource(resource);
                out.push_str(&format!("<{name}>"));
            } else {
                out.push_str(&self.reference(name).unwrap_or_default());
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A value as a string; None for `AWS::NoValue`.
    fn value(&self, v: &Value) -> Option<String> {
        if let Some((name, arg)) = intrinsic(v) {
            return match name.as_str() {
                "Ref" => self.reference(text(arg, "!Ref")),
                "GetAtt" => Some(match arg {
                    Value::Sequence(parts) => {
                        format!("<{}.{}>", text(&parts[0], "!GetAtt"), text(&parts[1], "!GetAtt"))
                    }
                    other => format!("<{}>", text(other, "!GetAtt")),
                }),
                "Sub" => Some(match arg {
                    Value::Sequence(parts) => {
                        let vars = parts[1]
                            .as_mapping()
                            .expect("!Sub variables")
                            .iter()
                            .map(|(k, v)| (text(k, "!Sub variable").to_string(), self.value(v).unwrap_or_default()))
                            .collect();
                        self.sub(text(&parts[0], "!Sub"), &vars)
                    }
                    other => self.sub(text(other, "!Sub"), &BTreeMap::new()),
                }),
                "If" => {
                    let parts = list(arg);
                    let chosen = if self.condition(text(parts[0], "!If condition")) {
                        parts[1]
                    } else {
                        parts[2]
                    };
                    self.value(chosen)
                }
                other => panic!("this test does not evaluate !{other} (in {v:?})"),
            };
        }
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => panic!("not a scalar: {other:?}"),
        }
    }

    fn condition(&self, name: &str) -> bool {
        let c = &self.template.doc["Conditions"][name];
        assert!(!c.is_null(), "the template has no condition {name}");
        self.truth(c)
    }

    /// A condition or rule expression.
    fn truth(&self, v: &Value) -> bool {
        let (name, arg) = intrinsic(v).unwrap_or_else(|| panic!("not a condition: {v:?}"));
        let args = list(arg);
        match name.as_str() {
            "Equals" => self.value(args[0]) == self.value(args[1]),
            "Not" => !self.truth(args[0]),
            "And" => args.iter().all(|a| self.truth(a)),
            "Or" => args.iter().any(|a| self.truth(a)),
            "Condition" => self.condition(text(arg, "Condition")),
            other => panic!("this test does not evaluate !{other} in a condition"),
        }
    }

    /// The assertions of the template's Rules that fail for these parameters.
    fn failed_rules(&self) -> Vec<String> {
        let mut failed = Vec::new();
        let Some(rules) = self.template.doc["Rules"].as_mapping() else {
            return failed;
        };
        for (name, rule) in rules {
            let applies = match &rule["RuleCondition"] {
                Value::Null => true,
                c => self.truth(c),
            };
            if !applies {
                continue;
            }
            for a in list(&rule["Assertions"]) {
                if !self.truth(&a["Assert"]) {
                    failed.push(format!(
                        "{}: {}",
                        text(name, "rule"),
                        a["AssertDescription"].as_str().unwrap_or("")
                    ));
                }
            }
        }
        failed
    }

    /// A function's environment with these parameters (unset variables dropped).
    fn environment(&self, f: &Function<'_>) -> BTreeMap<String, String> {
        self.template
            .environment(f)
            .into_iter()
            .filter_map(|(k, v)| self.value(v).map(|v| (k, v)))
            .collect()
    }
}

/// What an operator gives `sam deploy --guided` for the parameters without a default.
const REQUIRED_PARAMETERS: &[(&str, &str)] = &[
    ("EmailIdentity", "example.gov.vn"),
    ("EmailFrom", "Đoàn Thanh niên tỉnh <noreply@example.gov.vn>"),
    (
        "JwtIssuer",
        "https://cognito-idp.ap-southeast-1.amazonaws.com/ap-southeast-1_example",
    ),
    ("JwtAudience", "example-client-id"),
    (
        "JwtJwks",
        r#"{"keys":[{"kty":"RSA","alg":"RS256","kid":"k1","n":"AQAB","e":"AQAB"}]}"#,
    ),
];

/// The `OUTREACH_*` variables the configuration code reads (string literals before its tests).
fn variables_in_code() -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    for file in CONFIG_SOURCES {
        let source = std::fs::read_to_string(root().join(file)).unwrap();
        let code = source.split("#[cfg(test)]").next().unwrap();
        for (i, _) in code.match_indices("\"OUTREACH_") {
            let name: String = code[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            vars.insert(name);
        }
    }
    vars
}

/// The binaries of the workspace packages under `functions/`, by package directory.
fn workspace_function_binaries() -> BTreeMap<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let functions_dir = root().join("functions");
    let mut binaries = BTreeMap::new();
    for package in meta["packages"].as_array().unwrap() {
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
        let dir = manifest.parent().unwrap();
        if dir.parent() != Some(functions_dir.as_path()) {
            continue;
        }
        let package_dir = dir.file_name().unwrap().to_string_lossy().to_string();
        for target in package["targets"].as_array().unwrap() {
            if target["kind"].as_array().unwrap().iter().any(|k| k == "bin") {
                let bin = target["name"].as_str().unwrap().to_string();
                assert!(
                    binaries.insert(bin.clone(), package_dir.clone()).is_none(),
                    "two packages build {bin}"
                );
            }
        }
    }
    binaries
}

#[test]
fn every_lambda_binary_is_a_function_of_the_template_and_back() {
    let template = Template::load();
    let mut binaries = workspace_function_binaries();
    assert!(
        binaries.remove(LOCAL_ONLY_BINARY).is_some(),
        "functions/{LOCAL_ONLY_BINARY} (the local command, not a Lambda) is gone: update LOCAL_ONLY_BINARY"
    );
    let in_template: BTreeSet<String> = template.functions().iter().map(|f| f.binary.clone()).collect();
    let in_workspace: BTreeSet<String> = binaries.keys().cloned().collect();
    let missing: Vec<_> = in_workspace.difference(&in_template).collect();
    let unknown: Vec<_> = in_template.difference(&in_workspace).collect();
    assert!(
        missing.is_empty(),
        "Lambda binaries the template does not deploy: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "template functions no workspace binary builds: {unknown:?}"
    );
    let decided: BTreeSet<String> = ALL.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        in_workspace, decided,
        "the Lambda binaries changed: update ALL and NEEDS (what each one reads)"
    );

    for f in template.functions() {
        let id = f.logical_id;
        let metadata = &template.resource(id)["Metadata"];
        assert_eq!(metadata["BuildMethod"], "rust-cargolambda", "{id}: BuildMethod");
        let code_uri = text(&f.properties["CodeUri"], "CodeUri");
        assert_eq!(
            code_uri,
            format!("../functions/{}", binaries[&f.binary]),
            "{id}: CodeUri must be the package that builds {}",
            f.binary
        );
        assert_eq!(
            template.function_property(&f, "Runtime"),
            "provided.al2023",
            "{id}: Runtime"
        );
        assert_eq!(template.function_property(&f, "Handler"), "bootstrap", "{id}: Handler");
        assert_eq!(
            list(template.function_property(&f, "Architectures")),
            vec![&Value::from("arm64")],
            "{id}: Architectures"
        );
        for key in ["MemorySize", "Timeout"] {
            assert!(f.properties[key].is_number(), "{id}: {key} is chosen per function");
        }
    }
}

#[test]
fn the_table_is_the_one_the_store_defines() {
    let template = Template::load();
    let tables = template.of_type("AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table");
    let table = &tables[0].1["Properties"];

    let keys = |schema: &Value| -> Vec<(String, String)> {
        list(schema)
            .into_iter()
            .map(|k| {
                (
                    text(&k["AttributeName"], "AttributeName").to_string(),
                    text(&k["KeyType"], "KeyType").to_string(),
                )
            })
            .collect()
    };
    let pair = |pk: &str, sk: &str| {
        vec![
            (pk.to_string(), "HASH".to_string()),
            (sk.to_string(), "RANGE".to_string()),
        ]
    };

    assert_eq!(
        keys(&table["KeySchema"]),
        pair(TABLE.partition_key, TABLE.sort_key),
        "KeySchema"
    );

    let attributes: BTreeMap<String, String> = list(&table["AttributeDefinitions"])
        .into_iter()
        .map(|a| {
            (
                text(&a["AttributeName"], "AttributeName").to_string(),
                text(&a["AttributeType"], "AttributeType").to_string(),
            )
        })
        .collect();
    let expected: BTreeMap<String, String> = TABLE
        .key_attributes()
        .into_iter()
        .map(|a| (a.to_string(), "S".to_string()))
        .collect();
    assert_eq!(
        attributes, expected,
        "AttributeDefinitions (every key attribute is a string)"
    );

    let indexes = list(&table["GlobalSecondaryIndexes"]);
    let names: Vec<&str> = indexes.iter().map(|i| text(&i["IndexName"], "IndexName")).collect();
    let expected_names: Vec<&str> = TABLE.indexes.iter().map(|i| i.name).collect();
    assert_eq!(names, expected_names, "GlobalSecondaryIndexes");
    for (index, def) in indexes.iter().zip(TABLE.indexes) {
        assert_eq!(
            keys(&index["KeySchema"]),
            pair(def.partition_key, def.sort_key),
            "{}: KeySchema",
            def.name
        );
        // create_table projects every attribute into every index.
        assert_eq!(index["Projection"]["ProjectionType"], "ALL", "{}: Projection", def.name);
    }
    assert!(
        table["LocalSecondaryIndexes"].is_null(),
        "the store defines no local index"
    );

    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"], TABLE.ttl_attribute,
        "TTL attribute"
    );
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true, "TTL is on");
    // create_table bills on demand.
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST", "BillingMode");
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
        "point-in-time recovery"
    );
    assert_eq!(table["DeletionProtectionEnabled"], true, "deletion protection");
    assert_eq!(table["SSESpecification"]["SSEType"], "KMS", "encryption with our key");
    assert!(
        intrinsic(&table["SSESpecification"]["KMSMasterKeyId"]).is_some(),
        "the table's key is the template's own (customer-managed) key"
    );
}

#[test]
fn every_function_gets_the_environment_it_reads_at_start() {
    let template = Template::load();
    let in_code = variables_in_code();
    let decided: BTreeSet<String> = NEEDS.iter().map(|(v, _)| v.to_string()).collect();
    let undecided: Vec<_> = in_code.difference(&decided).collect();
    let stale: Vec<_> = decided.difference(&in_code).collect();
    assert!(
        undecided.is_empty(),
        "the code reads {undecided:?}: decide in NEEDS which functions get it"
    );
    assert!(
        stale.is_empty(),
        "NEEDS lists {stale:?}, which the code no longer reads"
    );

    for f in template.functions() {
        let written = template.environment(&f);
        for (var, need) in NEEDS {
            match need {
                Need::On(functions) if functions.contains(&f.binary.as_str()) => assert!(
                    written.contains_key(*var),
                    "{} reads {var} but the template does not set it",
                    f.binary
                ),
                Need::On(_) if SECRETS.contains(var) => assert!(
                    !written.contains_key(*var),
                    "{} gets the secret {var}, which it does not use",
                    f.binary
                ),
                Need::Local(why) => assert!(
                    !written.contains_key(*var),
                    "{} sets {var}, which is not for Lambda: {why}",
                    f.binary
                ),
                Need::On(_) => {}
            }
        }
        for var in written.keys().filter(|v| v.starts_with("OUTREACH_")) {
            assert!(in_code.contains(var), "{} sets {var}, which no code reads", f.binary);
        }
    }
}

/// The channel settings a function starts with, or the variable at fault.
fn channels(env: &BTreeMap<String, String>) -> Result<ChannelConfig, &'static str> {
    ChannelConfig::from_vars(|name| env.get(name).cloned()).map_err(|e| match e {
        NotifyError::Config { var, .. } => var,
        other => panic!("not a configuration error: {other}"),
    })
}

#[test]
fn every_function_starts_with_the_deployed_settings() {
    let template = Template::load();
    let sender = template.function("sender");
    for provider in ["sns", "http"] {
        let mut given: Vec<(String, String)> = REQUIRED_PARAMETERS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        given.push(("SmsProvider".into(), provider.into()));
        // Fill in what the sender reports missing, one variable at a time: the template's
        // Rules must refuse every set of parameters the sender would not start with.
        let settings = loop {
            let eval = Eval {
                template: &template,
                params: template.parameters(&given),
            };
            let Err(var) = channels(&eval.environment(&sender)) else {
                let refused = eval.failed_rules();
                assert!(
                    refused.is_empty(),
                    "SmsProvider={provider}: valid settings refused: {refused:?}"
                );
                break eval;
            };
            assert!(
                !eval.failed_rules().is_empty(),
                "SmsProvider={provider}: the template accepts parameters the sender cannot start with \
                 ({var} is refused): add a Rule"
            );
            let parameter = match template.environment(&sender).get(var).and_then(|v| intrinsic(v)) {
                Some((name, arg)) if name == "Ref" => text(arg, "!Ref").to_string(),
                _ => panic!("the sender reads {var}, which is not set from a parameter"),
            };
            assert!(
                given.iter().all(|(p, _)| *p != parameter),
                "{var} is still refused with {parameter} set"
            );
            let value = sample(&parameter).to_string();
            given.push((parameter, value));
        };

        for f in template.functions() {
            let env = settings.environment(&f);
            let name = f.binary.as_str();
            let store: StoreUrl = env
                .get("OUTREACH_STORE")
                .unwrap_or_else(|| panic!("{name}: OUTREACH_STORE is not set"))
                .parse()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                matches!(store, StoreUrl::DynamoDb(_)),
                "{name}: OUTREACH_STORE is not dynamodb:TABLE"
            );
            let c = channels(&env).unwrap_or_else(|var| panic!("{name} would not start: {var}"));
            assert!(
                matches!(c.email, EmailChannelConfig::Ses(_)),
                "{name}: email through {} on Lambda",
                c.email.name()
            );
            assert!(
                !matches!(c.sms, SmsChannelConfig::Outbox(_)),
                "{name}: the outbox cannot start on Lambda"
            );
            if name == "sender" {
                assert_eq!(c.sms.name(), provider, "the sender sends SMS through SmsProvider");
            }
            for var in [
                "OUTREACH_PLANNER_HORIZON_DAYS",
                "OUTREACH_DELIVERY_RETENTION_DAYS",
                "OUTREACH_CHANNEL_TIMEOUT_SECS",
            ] {
                if let Some(v) = env.get(var) {
                    assert!(v.parse::<u32>().is_ok_and(|n| n > 0), "{name}: {var}={v:?}");
                }
            }
        }
        let dispatcher = settings.environment(&template.function("dispatcher"));
        assert_eq!(
            dispatcher.get("OUTREACH_QUEUE_URL").map(String::as_str),
            Some("<DeliveryQueue>"),
            "the dispatcher enqueues to DeliveryQueue"
        );
        let sender_env = settings.environment(&sender);
        let links = sender_env
            .get("OUTREACH_PUBLIC_URL")
            .expect("the sender signs unsubscribe links to OUTREACH_PUBLIC_URL");
        let api = links
            .split(['<', '>'])
            .nth(1)
            .expect("OUTREACH_PUBLIC_URL names the API");
        assert_eq!(
            template.resource(api)["Type"],
            "AWS::Serverless::HttpApi",
            "unsubscribe links point at the HTTP API"
        );
    }
}

/// A value an operator gives for a parameter with no usable default.
fn sample(parameter: &str) -> &'static str {
    match parameter {
        "SmsGatewayUrl" => "https://sms.example.vn/api/send",
        "SmsGatewayKey" => "gateway-key",
        "SmsGatewayBrandname" => "DOANTN",
        "SmsGatewayKeyHeader" => "X-Api-Key",
        "SmsGatewayIdField" => "data.id",
        other => panic!("no sample value for the parameter {other}: add one to this test"),
    }
}

#[test]
fn the_sender_fits_its_queue_and_its_providers() {
    let template = Template::load();
    let sender = template.function("sender");
    let eval = Eval {
        template: &template,
        params: template.parameters(
            &REQUIRED_PARAMETERS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        ),
    };
    let number = |v: &Value, what: &str| -> u64 {
        eval.value(v)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{what} is not a number: {v:?}"))
    };
    let events: Vec<&Value> = sender.properties["Events"]
        .as_mapping()
        .expect("the sender has events")
        .values()
        .collect();
    assert_eq!(events.len(), 1, "the sender is driven by the delivery queue only");
    let event = events[0];
    assert_eq!(event["Type"], "SQS");
    let source = &event["Properties"];
    assert_eq!(
        eval.value(&source["Queue"]).as_deref(),
        Some("<DeliveryQueue.Arn>"),
        "the sender reads DeliveryQueue"
    );
    assert_eq!(
        list(&source["FunctionResponseTypes"]),
        vec![&Value::from("ReportBatchItemFailures")],
        "handle_sqs answers batch_item_failures"
    );

    let batch = number(&source["BatchSize"], "BatchSize");
    let channel_timeout = number(
        template.environment(&sender)["OUTREACH_CHANNEL_TIMEOUT_SECS"],
        "OUTREACH_CHANNEL_TIMEOUT_SECS",
    );
    let timeout = number(&sender.properties["Timeout"], "Timeout");
    assert!(
        timeout > batch * channel_timeout,
        "a batch of {batch} sends, one after another, can take {}s: Timeout {timeout}s is too short",
        batch * channel_timeout
    );
    let queue = &template.resource("DeliveryQueue")["Properties"];
    let visibility = number(&queue["VisibilityTimeout"], "VisibilityTimeout");
    assert!(
        visibility >= 6 * timeout,
        "VisibilityTimeout {visibility}s: Lambda advises six times the sender's timeout ({timeout}s)"
    );
    let receives = number(&queue["RedrivePolicy"]["maxReceiveCount"], "maxReceiveCount");
    let attempts = u64::from(SenderSettings::default().max_attempts);
    assert!(
        receives > attempts,
        "maxReceiveCount {receives} would dead-letter a delivery before its {attempts} attempts"
    );
    assert_eq!(
        eval.value(&source["ScalingConfig"]["MaximumConcurrency"]),
        eval.value(&sender.properties["ReservedConcurrentExecutions"]),
        "the queue's maximum concurrency equals the sender's reserved concurrency (no throttled batches)"
    );
    let summary = template.function("quarterly-summary");
    assert!(
        summary.properties["ReservedConcurrentExecutions"].is_number(),
        "the quarterly summary sends through SES's rate limit: reserve its concurrency"
    );
}

#[test]
fn scheduled_jobs_run_in_local_time_and_get_their_instant() {
    let template = Template::load();
    let expected = [
        ("planner", "cron(0/15 * * * ? *)"),
        ("dispatcher", "cron(* * * * ? *)"),
        ("quarterly-summary", "cron(0 7 1 1,4,7,10 ? *)"),
    ];
    for (binary, expression) in expected {
        let f = template.function(binary);
        let events: Vec<&Value> = f.properties["Events"].as_mapping().unwrap().values().collect();
        assert_eq!(events.len(), 1, "{binary}: one schedule");
        assert_eq!(events[0]["Type"], "ScheduleV2", "{binary}: EventBridge Scheduler");
        let schedule = &events[0]["Properties"];
        assert_eq!(schedule["ScheduleExpression"], expression, "{binary}: schedule");
        assert_eq!(
            schedule["ScheduleExpressionTimezone"], "Asia/Ho_Chi_Minh",
            "{binary}: local time"
        );
        // The Scheduler replaces the placeholder with the scheduled instant; the job must
        // read it back as its `now`.
        let input = text(&schedule["Input"], "Input").replace("<aws.scheduler.scheduled-time>", "2026-10-01T00:00:00Z");
        let event: serde_json::Value = serde_json::from_str(&input).unwrap_or_else(|e| panic!("{binary}: Input: {e}"));
        assert_eq!(
            outreach_app::lambda::scheduled_time(&event).to_rfc3339(),
            "2026-10-01T00:00:00+00:00",
            "{binary}: the job does not read the scheduled time from its input"
        );
        assert!(
            !schedule["DeadLetterConfig"].is_null(),
            "{binary}: failed invocations are kept"
        );
    }
}

#[test]
fn only_health_openapi_and_webhooks_skip_the_jwt_authorizer() {
    let template = Template::load();
    let apis = template.of_type("AWS::Serverless::HttpApi");
    assert_eq!(apis.len(), 1, "one HTTP API");
    let auth = &apis[0].1["Properties"]["Auth"];
    let authorizer = text(&auth["DefaultAuthorizer"], "DefaultAuthorizer");
    let jwt = &auth["Authorizers"][authorizer]["JwtConfiguration"];
    assert_eq!(
        intrinsic(&jwt["issuer"]).map(|(n, _)| n).as_deref(),
        Some("Ref"),
        "issuer is a parameter"
    );
    assert!(!jwt["audience"].is_null(), "the authorizer checks the audience");

    let api = template.function("api");
    let mut open = BTreeSet::new();
    let mut guarded = BTreeSet::new();
    for event in api.properties["Events"].as_mapping().unwrap().values() {
        assert_eq!(event["Type"], "HttpApi");
        let p = &event["Properties"];
        let route = format!("{} {}", text(&p["Method"], "Method"), text(&p["Path"], "Path"));
        match &p["Auth"]["Authorizer"] {
            Value::Null => guarded.insert(route),
            a if a == "NONE" => open.insert(route),
            other => panic!("{route}: unexpected authorizer {other:?}"),
        };
    }
    assert_eq!(
        guarded,
        BTreeSet::from(["ANY /v1/{proxy+}".to_string()]),
        "planners' routes"
    );
    let expected: BTreeSet<String> = [
        "GET /healthz",
        "GET /openapi.json",
        "ANY /ui/{proxy+}",
        "GET /ui",
        "POST /v1/inbound/sms",
        "POST /v1/inbound/email-events",
        "POST /v1/inbound/zns-events",
        "GET /v1/inbound/unsubscribe",
        "POST /v1/inbound/unsubscribe",
    ]
    .map(String::from)
    .into();
    assert_eq!(open, expected, "routes that authenticate themselves (or need nothing)");
}

#[test]
fn each_function_has_its_own_role_without_wildcards() {
    let template = Template::load();
    let mut roles = BTreeSet::new();
    for f in template.functions() {
        let role = match intrinsic(&f.properties["Role"]) {
            Some((name, arg)) if name == "GetAtt" => text(arg, "!GetAtt").trim_end_matches(".Arn").to_string(),
            _ => panic!("{}: Role must be !GetAtt of a role of this template", f.binary),
        };
        assert_eq!(template.resource(&role)["Type"], "AWS::IAM::Role", "{}: Role", f.binary);
        assert!(
            roles.insert(role.clone()),
            "{}: shares {role} with another function",
            f.binary
        );
    }
    for (id, role) in template.of_type("AWS::IAM::Role") {
        assert!(
            role["Properties"]["ManagedPolicyArns"].is_null(),
            "{id}: managed policies grant `*`"
        );
        for policy in list(&role["Properties"]["Policies"]) {
            for statement in list(&policy["PolicyDocument"]["Statement"]) {
                if statement["Effect"] != "Allow" {
                    continue;
                }
                let sid = statement["Sid"].as_str().unwrap_or("?");
                let actions: Vec<&str> = list(&statement["Action"])
                    .into_iter()
                    .map(|a| text(a, "Action"))
                    .collect();
                for a in &actions {
                    assert!(!a.contains('*'), "{id}/{sid}: wildcard action {a}");
                }
                for r in list(&statement["Resource"]) {
                    if r == "*" {
                        let without_arn = actions.iter().all(|a| STAR_RESOURCE_ACTIONS.contains(a));
                        assert!(
                            without_arn,
                            "{id}/{sid}: {actions:?} on `*`, but they have resource ARNs"
                        );
                    }
                }
            }
        }
    }
}
