//! Server-rendered HTML: the partner dashboard and the small notice pages
//! (unknown/revoked link, unsubscribe). minijinja auto-escapes every value
//! in `.html` templates, so partner and user names are inert text.

use std::sync::LazyLock;

use minijinja::{context, Environment};
use portal_core::reports::dashboard::DashboardView;

pub const STYLE: &str = r#"
:root{--ok:#1b7f3b;--bad:#b3261e;--warn:#8a5a00;--muted:#5f6368;--line:#e0e0e0}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#202124;background:#f6f7f9}
main{max-width:960px;margin:0 auto;padding:16px}
header.card{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center}
h1{font-size:1.5rem;margin:0}
h2{font-size:1.15rem;margin:0 0 8px}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px;margin:0 0 16px}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:.85rem;font-weight:600;background:#e8eaed}
.tier-Premier{background:#2d2a6e;color:#fff}.tier-Select{background:#1a73e8;color:#fff}
.tier-Registered{background:#e8f0fe;color:#174ea6}.tier-Certified{background:#e6f4ea;color:#137333}
.met{color:var(--ok);font-weight:700}.notmet{color:var(--bad);font-weight:700}
.bar{height:14px;background:#e8eaed;border-radius:7px;overflow:hidden;margin:8px 0}
.bar>span{display:block;height:100%;background:var(--ok)}
.bar.below>span{background:var(--warn)}
.numbers{font-size:1.25rem}
.muted{color:var(--muted);font-size:.9rem}
.cats{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:8px}
.cat{border:1px solid var(--line);border-radius:8px;padding:8px}
table{width:100%;border-collapse:collapse;font-size:.92rem}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
tr.expiring{background:#fff4e0}
tr.expired td{color:var(--muted)}
.status{font-weight:600;text-transform:capitalize}
button{font:inherit;padding:8px 18px;border-radius:8px;border:1px solid #174ea6;background:#1a73e8;color:#fff;cursor:pointer}
button:focus-visible{outline:3px solid #202124;outline-offset:2px}
@media (max-width:640px){
 thead{display:none}
 table,tbody,tr,td{display:block;width:100%}
 tr{border:1px solid var(--line);border-radius:8px;margin:0 0 8px;padding:4px}
 td{border:0;padding:2px 6px}
 td::before{content:attr(data-label)": ";font-weight:600;color:var(--muted)}
}
"#;

const DASHBOARD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow">
<title>{{ d.name }} — certification status</title>
<style>{{ style|safe }}</style></head>
<body><main>
<header class="card">
 <h1 id="partner-name">{{ d.name }}</h1>
 {% if d.tier %}<span class="badge tier-{{ d.tier|replace(" ", "-") }}" id="tier">{{ d.tier }}</span>{% else %}<span class="badge" id="tier">No tier</span>{% endif %}
 {% if d.owner_name %}<span class="muted">Partner manager: {{ d.owner_name }}{% if d.owner_email %} &lt;{{ d.owner_email }}&gt;{% endif %}</span>{% endif %}
</header>
<section class="card" aria-labelledby="standing">
 <h2 id="standing">Certification standing</h2>
 {% if d.standing == "tier not configured" %}
 <div class="numbers"><strong id="npcu">{{ d.npcu }}</strong> NPCU — <span class="notmet" id="met">Tier not configured</span></div>
 <p class="muted" id="not-configured">No NPCU requirement is configured for the tier {{ d.tier }}, so it is neither met nor missed.
  {{ d.certified_users }} certified {{ "user" if d.certified_users == 1 else "users" }} · {{ d.certifications }} active certifications{% if d.expiring %} · <strong>{{ d.expiring }} expiring soon</strong>{% endif %}</p>
 {% else %}
 <div class="numbers"><strong id="npcu">{{ d.npcu }}</strong> of <strong id="required">{{ d.required_npcu }}</strong> NPCU required
  — {% if d.meets_requirement %}<span class="met" id="met">Met</span>{% else %}<span class="notmet" id="met">Not met</span>{% endif %}</div>
 <div class="bar{% if not d.meets_requirement %} below{% endif %}" role="progressbar" id="progress"
  aria-valuemin="0" aria-valuemax="100" aria-valuenow="{{ d.progress_percent }}" aria-label="NPCU progress">
  <span style="width:{{ d.progress_percent }}%"></span></div>
 <div class="muted"><span id="progress-text">{{ d.progress_percent }}%</span> of requirement ·
  {{ d.certified_users }} certified {{ "user" if d.certified_users == 1 else "users" }} ·
  {{ d.certifications }} active certifications{% if d.expiring %} · <strong>{{ d.expiring }} expiring soon</strong>{% endif %}{% if not d.meets_requirement %} · {{ d.gap }} NPCU short{% endif %}</div>
 {% endif %}
</section>
{% include "forecast_chart.html" %}
{% if downloads %}<section class="card" aria-labelledby="downloads-h"><h2 id="downloads-h">Your certification list</h2>
<p>Every certification line of {{ d.name }}: <a href="{{ downloads }}.csv" id="download-csv" download>Download CSV</a> · <a href="{{ downloads }}.xlsx" id="download-xlsx" download>Download Excel</a></p></section>{% endif %}
{% if d.categories %}
<section class="card"><h2>By product category</h2><div class="cats">
{% for c in d.categories %}<div class="cat"><strong>{{ c.category }}</strong><br>
 <span class="muted">{{ c.users }} certified {{ "user" if c.users == 1 else "users" }} · {{ c.npcu }} NPCU</span></div>{% endfor %}
</div></section>
{% for c in d.categories %}{% if c.rows %}
<section class="card"><h2>{{ c.category }}</h2>
<table><thead><tr><th>User</th><th>Course</th><th>Completed</th><th>Expires</th><th>NPCU</th><th>Status</th></tr></thead><tbody>
{% for r in c.rows %}<tr class="{{ r.status }}">
 <td data-label="User">{{ r.user_name }}</td><td data-label="Course">{{ r.course_name }}</td>
 <td data-label="Completed">{{ r.completed_on or "—" }}</td><td data-label="Expires">{{ r.expires_on or "—" }}</td>
 <td data-label="NPCU">{{ r.npcu }}</td><td data-label="Status" class="status">{{ r.status|replace("_", " ") }}</td></tr>
{% endfor %}</tbody></table></section>
{% endif %}{% endfor %}
{% if d.rows_shown < d.rows_total or d.next_cursor %}<nav class="card" aria-label="Certification lines" id="lines-nav"><p>Showing {{ d.rows_shown }} of {{ d.rows_total }} certification lines.
 {% if d.next_cursor %}<a href="?cursor={{ d.next_cursor }}" id="next-lines">Next lines</a> · {% endif %}<a href="?" id="first-lines">First lines</a></p></nav>{% endif %}
{% else %}
<section class="card"><p>No certifications recorded yet.</p></section>
{% endif %}
{% if d.org_certifications %}
<section class="card"><h2>Organisation certifications</h2>
<table><thead><tr><th>Name</th><th>Category</th><th>From</th><th>Until</th><th>NPCU</th><th>Status</th></tr></thead><tbody>
{% for o in d.org_certifications %}<tr class="{{ o.status }}"><td data-label="Name">{{ o.name }}</td><td data-label="Category">{{ o.category or "—" }}</td>
<td data-label="From">{{ o.starts_on }}</td><td data-label="Until">{{ o.ends_on }}</td><td data-label="NPCU">{{ o.npcu }}</td>
<td data-label="Status" class="status">{{ o.status|replace("_", " ") }}</td></tr>{% endfor %}
</tbody></table></section>
{% endif %}
<p class="muted">{% if d.computed_at %}Data as of {{ d.computed_at[:16]|replace("T", " ") }} UTC. {% endif %}This is a private page: do not share its address.</p>
</main></body></html>
"#;

const NOTICE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow">
<title>{{ title }}</title><style>{{ style|safe }}</style></head>
<body><main><section class="card"><h1>{{ title }}</h1><p>{{ message }}</p></section></main></body></html>
"#;

const UNSUBSCRIBE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow">
<title>{{ title }}</title><style>{{ style|safe }}</style></head>
<body><main><section class="card"><h1>{{ title }}</h1><p id="message">{{ message }}</p>
<form method="post" action="{{ action }}"><button type="submit" id="action">{{ button }}</button></form>
</section></main></body></html>
"#;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Names ending in .html get HTML auto-escaping (minijinja's default
    // callback); a template failing to parse is a bug the tests catch.
    env.add_template("dashboard.html", DASHBOARD)
        .expect("dashboard template parses");
    env.add_template(
        "forecast_chart.html",
        include_str!("../templates/forecast_chart.html"),
    )
    .expect("chart template parses");
    env.add_template("notice.html", NOTICE)
        .expect("notice template parses");
    env.add_template("unsubscribe.html", UNSUBSCRIBE)
        .expect("unsubscribe template parses");
    env
});

/// The NPCU chart of a dashboard whose page holds every certification
/// line (its past and forecast are drawn from each line's dates); a
/// partner with more lines than a page gets none on the page, and its
/// forecast from `GET /api/partners/{id}/forecast`, which reads them all.
fn chart(
    d: &DashboardView,
    history: &[portal_core::rules::history::HistoryPoint],
) -> Option<crate::chart::Chart> {
    (d.next_cursor.is_none() && d.rows_shown >= d.rows_total)
        .then(|| crate::chart::dashboard_chart_with_history(d, d.generated_at, history))
        .flatten()
}

pub fn dashboard(d: &DashboardView) -> Result<String, minijinja::Error> {
    dashboard_with(d, None, &[])
}

/// The dashboard with links to download its certification list
/// (`downloads` + `.csv` / `.xlsx`, relative to the page's address) and
/// the partner's stored history points for the chart's past.
pub fn dashboard_with(
    d: &DashboardView,
    downloads: Option<&str>,
    history: &[portal_core::rules::history::HistoryPoint],
) -> Result<String, minijinja::Error> {
    ENV.get_template("dashboard.html")?.render(
        context! { d => d, style => STYLE, chart => chart(d, history), downloads => downloads },
    )
}

/// A short page with a title and one sentence (both escaped).
pub fn notice(title: &str, message: &str) -> String {
    ENV.get_template("notice.html")
        .and_then(|t| t.render(context! { title => title, message => message, style => STYLE }))
        .unwrap_or_else(|_| {
            "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
        })
}

/// Where a person is in the unsubscribe flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsubscribeStep {
    /// Opened the link (`GET`): asked, nothing changed yet.
    Confirm,
    /// Unsubscribed (`POST`): offered the way back.
    Done,
    /// Subscribed again.
    Resubscribed,
}

/// `a•••@example.com`: enough for a person to recognise their address,
/// not a copy of it for whoever sees the screen.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "your address".into(),
    }
}

/// The page of one unsubscribe step, with the one button that moves on.
/// Form actions are relative (the token is URL-safe base64), so they work
/// under any base path (an API Gateway stage).
pub fn unsubscribe_page(step: UnsubscribeStep, email: &str, token: &str) -> String {
    let who = mask_email(email);
    let (title, message, action, button) = match step {
        UnsubscribeStep::Confirm => (
            "Stop certification reminders?",
            format!("Press the button to stop certification expiry reminders to {who}."),
            String::new(),
            "Unsubscribe",
        ),
        UnsubscribeStep::Done => (
            "You are unsubscribed",
            format!(
                "{who} will no longer receive certification expiry reminders. Changed your mind?"
            ),
            format!("{token}/resubscribe"),
            "Subscribe again",
        ),
        UnsubscribeStep::Resubscribed => (
            "You are subscribed again",
            format!("{who} will receive certification expiry reminders again."),
            format!("../{token}"),
            "Unsubscribe",
        ),
    };
    ENV.get_template("unsubscribe.html")
        .and_then(|t| {
            t.render(context! { title => title, message => message, action => action, button => button, style => STYLE })
        })
        .unwrap_or_else(|_| {
            "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn names_are_escaped() {
        let d = DashboardView {
            partner_id: "p".into(),
            name: "<script>alert(1)</script>".into(),
            tier: Some("Select".into()),
            region: None,
            country: None,
            owner_name: Some("\"><img src=x onerror=alert(1)>".into()),
            owner_email: None,
            npcu: 3,
            required_npcu: Some(10),
            gap: Some(7),
            meets_requirement: false,
            standing: portal_core::model::Standing::Below,
            progress_percent: 30,
            certified_users: 1,
            certifications: 2,
            expiring: 0,
            categories: vec![],
            rows_total: 0,
            rows_shown: 0,
            next_cursor: None,
            org_certifications: vec![],
            computed_at: Some(Utc::now()),
            generated_at: Utc::now(),
        };
        let html = dashboard(&d).unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<img src=x"));
        assert!(html.contains(r#"aria-valuenow="30""#));
        assert!(html.contains("Not met"));
        let u = unsubscribe_page(UnsubscribeStep::Done, "ann@example.com", "TOK_en-1");
        assert!(u.contains(r#"action="TOK_en-1&#x2f;resubscribe""#), "{u}");
        assert!(u.contains("a•••@example.com") && !u.contains("ann@"), "{u}");
        let other = DashboardView {
            tier: Some("Distributor <b>".into()),
            required_npcu: None,
            gap: None,
            standing: portal_core::model::Standing::TierNotConfigured,
            progress_percent: 0,
            ..d
        };
        let html = dashboard(&other).unwrap();
        assert!(html.contains("Tier not configured"), "{html}");
        assert!(
            !html.contains("Not met") && !html.contains(">Met<"),
            "{html}"
        );
        assert!(!html.contains(r#"id="required""#), "{html}");
        assert!(html.contains("tier Distributor &lt;b&gt;"), "{html}");
        // A page of a large partner's lines links to the next.
        let paged = DashboardView {
            categories: vec![portal_core::reports::dashboard::CategoryBlock {
                category: "K2".into(),
                users: 1,
                npcu: 2,
                certifications: 1,
                rows: vec![],
            }],
            rows_total: 30_000,
            rows_shown: 500,
            next_cursor: Some("eyJQSyI6IlAiLCJTSyI6IkMifQ".into()),
            ..other
        };
        let html = dashboard(&paged).unwrap();
        assert!(
            html.contains("Showing 500 of 30000 certification lines"),
            "{html}"
        );
        assert!(
            html.contains(r#"href="?cursor=eyJQSyI6IlAiLCJTSyI6IkMifQ" id="next-lines""#),
            "{html}"
        );
        let n = notice("<b>", "<i>");
        assert!(n.contains("&lt;b&gt;") && !n.contains("<i>"));
    }
}
