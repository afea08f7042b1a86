//! Mail templates (minijinja): subject, HTML and plain text of the expiry
//! reminder and the PAM digest. HTML templates autoescape everything they
//! print, because names, course titles and partner names come from the
//! sources and may contain markup; the text parts are not escaped (a `&` in
//! a course name must stay a `&` there).

use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::MailError;

/// One certification line of a reminder.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ReminderLine {
    pub partner: String,
    pub course: String,
    pub npcu: u8,
    /// `YYYY-MM-DD` (UTC).
    pub expires_on: String,
    pub days_left: i64,
    /// True for the optional "expired today" notice.
    pub expired: bool,
    /// Recertification link (the course's LMS permalink).
    pub link: Option<String>,
    /// `YYYY-MM-DD`: the date the partner falls below its tier requirement
    /// when nobody renews, if this certification's expiry is part of it
    /// (it expires on or before that date). `None`: the partner keeps its
    /// tier, is below it already, or its tier has no requirement.
    #[serde(default)]
    pub drops_below_on: Option<String>,
    /// The partner `drops_below_on` is about (the first of `partner`'s).
    #[serde(default)]
    pub at_risk_partner: Option<String>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ReminderMail {
    pub user_name: String,
    pub items: Vec<ReminderLine>,
    pub unsubscribe_url: Option<String>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct DigestCert {
    pub user_name: String,
    pub email: String,
    pub course: String,
    pub npcu: u8,
    pub expires_on: String,
    pub days_left: i64,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct DigestPartner {
    pub name: String,
    pub tier: Option<String>,
    pub npcu: u32,
    pub required: u32,
    pub gap: u32,
    pub below_tier: bool,
    /// `YYYY-MM-DD`: meets its tier now but falls below it on this date
    /// within the at-risk window, nobody renewing.
    pub drops_below_on: Option<String>,
    /// The fewest renewals that keep it in tier over that window.
    pub renewals_needed: u32,
    pub certs: Vec<DigestCert>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct DigestMail {
    pub pam_name: String,
    pub window_days: u32,
    pub partners: Vec<DigestPartner>,
    pub unsubscribe_url: Option<String>,
}

/// Rendered parts of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Decided by name, not left to minijinja's default, so a renamed
        // file can never silently lose escaping.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_trim_blocks(true);
        let templates: [(&str, &str); 6] = [
            (
                "reminder.subject.txt",
                include_str!("templates/reminder.subject.txt"),
            ),
            ("reminder.html", include_str!("templates/reminder.html")),
            ("reminder.txt", include_str!("templates/reminder.txt")),
            (
                "digest.subject.txt",
                include_str!("templates/digest.subject.txt"),
            ),
            ("digest.html", include_str!("templates/digest.html")),
            ("digest.txt", include_str!("templates/digest.txt")),
        ];
        for (name, src) in templates {
            // The sources are compiled in; a syntax error is caught by the
            // unit tests below, never at run time in production.
            if let Err(e) = env.add_template(name, src) {
                tracing::error!(template = name, error = %e, "mail template does not parse");
            }
        }
        env
    })
}

fn render_one<S: Serialize>(name: &str, ctx: &S) -> Result<String, MailError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| MailError::Template {
            name: name.to_string(),
            message: e.to_string(),
        })
}

fn render<S: Serialize>(base: &str, ctx: &S) -> Result<Rendered, MailError> {
    Ok(Rendered {
        // Subjects are one line; template whitespace must not leak in.
        subject: render_one(&format!("{base}.subject.txt"), ctx)?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        html: render_one(&format!("{base}.html"), ctx)?,
        text: render_one(&format!("{base}.txt"), ctx)?,
    })
}

pub fn render_reminder(mail: &ReminderMail) -> Result<Rendered, MailError> {
    render("reminder", mail)
}

pub fn render_digest(mail: &DigestMail) -> Result<Rendered, MailError> {
    render("digest", mail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(course: &str, days: i64) -> ReminderLine {
        ReminderLine {
            partner: "Acme & Sons".into(),
            course: course.into(),
            npcu: 2,
            expires_on: "2027-02-21".into(),
            days_left: days,
            expired: false,
            link: Some("https://lms.example/c/1?a=1&b=2".into()),
            drops_below_on: None,
            at_risk_partner: None,
        }
    }

    #[test]
    fn reminder_says_when_the_expiry_drops_the_partner_below_tier() {
        let mut l = line("K2", 60);
        l.drops_below_on = Some("2027-02-21".into());
        l.at_risk_partner = Some("Acme & Sons".into());
        let r = render_reminder(&ReminderMail {
            user_name: "Ann".into(),
            items: vec![l, line("RPA", 60)],
            unsubscribe_url: None,
        })
        .unwrap();
        let said =
            "Unless renewed, Acme & Sons falls below its partner tier requirement on 2027-02-21.";
        assert_eq!(r.text.matches(said).count(), 1, "{}", r.text);
        assert!(r
            .html
            .contains("Unless renewed, Acme &amp; Sons falls below its partner tier requirement on 2027-02-21."));
    }

    #[test]
    fn reminder_escapes_html_but_not_text() {
        let r = render_reminder(&ReminderMail {
            user_name: "<script>alert(1)</script>".into(),
            items: vec![line("K2 <Advanced>", 90)],
            unsubscribe_url: Some("https://p.example/unsubscribe/t".into()),
        })
        .unwrap();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.html.contains("Acme &amp; Sons"));
        assert!(r.html.contains("K2 &lt;Advanced&gt;"));
        assert!(r.text.contains("<script>alert(1)</script>"));
        assert!(r.text.contains("Acme & Sons"));
        assert!(r.text.contains("90 days left"));
        assert!(r
            .text
            .contains("Recertify: https://lms.example/c/1?a=1&b=2"));
        assert!(r.text.contains("https://p.example/unsubscribe/t"));
        assert_eq!(
            r.subject,
            "Your K2 <Advanced> certification expires in 90 days"
        );
    }

    #[test]
    fn several_items_and_expired_notice() {
        let mut expired = line("RPA", 0);
        expired.expired = true;
        let r = render_reminder(&ReminderMail {
            user_name: "Ann".into(),
            items: vec![line("K2", 30), expired.clone()],
            unsubscribe_url: None,
        })
        .unwrap();
        assert_eq!(r.subject, "2 of your certifications need renewal");
        assert!(r.text.contains("(expired)"));
        assert!(!r.text.contains("Unsubscribe"));
        let one = render_reminder(&ReminderMail {
            user_name: "Ann".into(),
            items: vec![expired],
            unsubscribe_url: None,
        })
        .unwrap();
        assert_eq!(one.subject, "Your RPA certification expired");
    }

    #[test]
    fn digest_lists_partners_and_certs() {
        let r = render_digest(&DigestMail {
            pam_name: "Pat".into(),
            window_days: 90,
            partners: vec![
                DigestPartner {
                    name: "Beta <Ltd>".into(),
                    tier: Some("Select".into()),
                    npcu: 4,
                    required: 10,
                    gap: 6,
                    below_tier: true,
                    drops_below_on: None,
                    renewals_needed: 0,
                    certs: vec![],
                },
                DigestPartner {
                    name: "Gamma".into(),
                    tier: None,
                    npcu: 3,
                    required: 0,
                    gap: 0,
                    below_tier: false,
                    drops_below_on: Some("2027-01-01".into()),
                    renewals_needed: 1,
                    certs: vec![DigestCert {
                        user_name: "Bo".into(),
                        email: "bo@g.example".into(),
                        course: "K2".into(),
                        npcu: 1,
                        expires_on: "2027-01-01".into(),
                        days_left: 39,
                    }],
                },
            ],
            unsubscribe_url: None,
        })
        .unwrap();
        assert_eq!(
            r.subject,
            "Partner certification digest: 2 partners need attention"
        );
        assert!(r.html.contains("Beta &lt;Ltd&gt;"));
        assert!(r.text.contains("below tier by 6"));
        assert!(r.text.contains(
            "at risk: falls below tier on 2027-01-01 unless 1 certification(s) are renewed"
        ));
        assert!(r.html.contains("falls below tier on 2027-01-01"));
        assert!(r
            .text
            .contains("Bo <bo@g.example>: K2 (1 NPCU), expires 2027-01-01 (39 days left)"));
    }
}
