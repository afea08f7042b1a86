//! The end-to-end comparison catches a wrong rule: the product is run with
//! rules changed through its configuration (a 23-month validity instead of
//! the documented 24, and a legal-form list that knows only "Inc" and
//! "Ltd"), and the comparison with the reference model must report
//! differences of exactly those kinds — then none once the reference model
//! is given the same changed rules, so the differences are the rules' and
//! not noise.

use portal_e2e::reference::Rules;
use portal_e2e::{TestEnv, TestEnvOptions, INTERNAL_DOMAIN};
use portal_sync::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_rule_makes_the_reference_comparison_fail() {
    let env = TestEnv::start(TestEnvOptions {
        env: vec![
            ("PORTAL_DEFAULT_VALIDITY_MONTHS".into(), "23".into()),
            ("PORTAL_LEGAL_FORMS".into(), "Inc,Ltd".into()),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    env.sync_all(Mode::Full).await;

    let diffs = env.reference_diffs().await;
    let of_kind = |kind: &str| diffs.iter().filter(|d| d.starts_with(kind)).count();
    assert!(
        of_kind("row status") > 0,
        "a shorter validity expires certifications earlier: {diffs:#?}"
    );
    assert!(of_kind("numbers of partner") > 0, "{diffs:#?}");
    assert!(
        of_kind("partner (tracked, group)") > 0,
        "a partner named with another legal form loses its group: {diffs:#?}"
    );

    let mut same_rules = Rules::defaults(&[INTERNAL_DOMAIN]);
    same_rules.validity_months = 23;
    same_rules.legal_forms = vec!["Inc".into(), "Ltd".into()];
    let diffs = env.diffs_against(&env.reference_with(&same_rules)).await;
    assert!(diffs.is_empty(), "{diffs:#?}");
}
