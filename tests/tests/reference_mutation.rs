//! The end-to-end comparison catches a wrong rule: the product is run with
//! a rule changed through its configuration (a 23-month validity instead of
//! the documented 24), and the comparison with the reference model must
//! report differences — then none once the reference model is given the
//! same changed rule, so the differences are the rule's and not noise.
//! (Name matching is mutated in `rules::matching`'s own tests: the `small`
//! data set's groups all match within the old legal-form list.)

use portal_e2e::reference::Rules;
use portal_e2e::{TestEnv, TestEnvOptions, INTERNAL_DOMAIN};
use portal_sync::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_rule_makes_the_reference_comparison_fail() {
    let env = TestEnv::start(TestEnvOptions {
        env: vec![("PORTAL_DEFAULT_VALIDITY_MONTHS".into(), "23".into())],
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
    assert_eq!(of_kind("partner (tracked, group)"), 0, "{diffs:#?}");

    let mut same_rules = Rules::defaults(&[INTERNAL_DOMAIN]);
    same_rules.validity_months = 23;
    let diffs = env.diffs_against(&env.reference_with(&same_rules)).await;
    assert!(diffs.is_empty(), "{diffs:#?}");
}
