//! The password policy, after NIST SP 800-63B rev. 4 §3.1.1.2 (password verifiers).
//!
//! What it asks for: length, not composition. No "one digit, one symbol" rules (§3.1.1.2 forbids them: they
//! make passwords harder to remember without making them harder to guess), no periodic expiry. What it
//! refuses: passwords that are too short or too long, known common or breached ones, ones built from the
//! account's own name or email, and ones `zxcvbn` estimates an attacker guesses quickly. All Unicode is
//! allowed; passwords are NFKC-normalised before they are checked or hashed (§3.1.1.2: "SHOULD apply the
//! Normalization Process for Stabilized Strings using NFKC") so the same password typed on two keyboards
//! or input methods matches.

use unicode_normalization::UnicodeNormalization as _;

use crate::account::{email_local_part, normalize_username};

mod common;

pub use common::{common_list_len, is_common};

/// The floor below which no configuration may go: §3.1.1.2 requires at least 8 characters even where a
/// password is only one factor of several.
pub const MIN_LENGTH_FLOOR: usize = 8;

/// The longest maximum no configuration may go below: §3.1.1.2 requires allowing at least 64 characters.
pub const MAX_LENGTH_FLOOR: usize = 64;

/// Usernames and email local parts shorter than this are not searched for in the password: "jo" or "al"
/// occur inside too many unrelated words to be a useful signal.
const CONTEXT_MIN: usize = 3;

/// Service-specific words an attacker tries first against this service (§3.1.1.2: "context-specific
/// words, such as the name of the service"); passed to zxcvbn as user inputs.
const SERVICE_WORDS: &[&str] = &["latchkey"];

/// Lengths are counted in Unicode scalar values after NFKC, so "é" typed precomposed or as e + combining
/// accent counts the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Shortest accepted password. Values below [`MIN_LENGTH_FLOOR`] are treated as the floor.
    pub min_length: usize,
    /// Longest accepted password: the bound exists only to cap hashing work per request. Values below
    /// [`MAX_LENGTH_FLOOR`] are treated as that floor.
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    /// 15 characters: §3.1.1.2's minimum for a password used as a single factor, which is how most sign-ins
    /// here use it. 256: generous for passphrases and password managers, small enough that Argon2 input
    /// size never matters.
    fn default() -> Self {
        Self { min_length: 15, max_length: 256 }
    }
}

/// Why a password was refused. `Display` is the message for the person choosing the password: what is
/// wrong and what to do instead. `code()` is stable, for APIs, templates and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("Use at least {min} characters; a few unrelated words make a long password that is easy to remember.")]
    TooShort { min: usize },
    #[error("Use at most {max} characters; a passphrase of a few unrelated words is long enough.")]
    TooLong { max: usize },
    #[error(
        "This password is on a list of commonly used or breached passwords; choose something less predictable, \
         such as a few unrelated words."
    )]
    Common,
    #[error("Your password must not contain your username; choose something unrelated to your account.")]
    ContainsUsername,
    #[error("Your password must not contain your email address; choose something unrelated to your account.")]
    ContainsEmail,
    /// `feedback` is zxcvbn's warning and suggestions, always ending with at least one suggestion.
    #[error("This password is easy to guess: {feedback}")]
    Weak { feedback: String },
}

impl PasswordProblem {
    /// A stable identifier that does not change when the wording does.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::Common => "common",
            Self::ContainsUsername => "contains_username",
            Self::ContainsEmail => "contains_email",
            Self::Weak { .. } => "weak",
        }
    }
}

/// NFKC: the form a password is checked and hashed in. Nothing is trimmed or case-folded: spaces and case
/// are part of the password (§3.1.1.2 allows spaces and all printing characters).
pub fn normalize_password(raw: &str) -> String {
    raw.nfkc().collect()
}

/// The case-insensitive comparison form: NFKC, lowercase, NFKC again (lowercasing can produce sequences
/// that NFKC composes differently). The common-password list is stored in this form.
fn fold(s: &str) -> String {
    s.nfkc().flat_map(char::to_lowercase).collect::<String>().nfkc().collect()
}

impl PasswordPolicy {
    /// The bounds actually enforced: a misconfigured policy can never go below the floors.
    pub fn effective_bounds(&self) -> (usize, usize) {
        (self.min_length.max(MIN_LENGTH_FLOOR), self.max_length.max(MAX_LENGTH_FLOOR))
    }

    /// Checks a new password for an account; `password` may be raw input (it is normalised here).
    /// Rules run cheapest first and the first failure is returned, so the message names one thing to fix.
    pub fn check(&self, password: &str, username: &str, email: &str) -> Result<(), PasswordProblem> {
        let password = normalize_password(password);
        let (min, max) = self.effective_bounds();
        let len = password.chars().count();
        if len < min {
            return Err(PasswordProblem::TooShort { min });
        }
        // Checked before any further work so an oversized input costs no more than counting its characters.
        if len > max {
            return Err(PasswordProblem::TooLong { max });
        }
        if is_common(&password) {
            return Err(PasswordProblem::Common);
        }

        let folded = fold(&password);
        let username = normalize_username(username);
        if username.chars().count() >= CONTEXT_MIN && folded.contains(&username) {
            return Err(PasswordProblem::ContainsUsername);
        }
        let email = email.trim();
        let local = fold(email_local_part(email));
        if local.chars().count() >= CONTEXT_MIN && folded.contains(&local) {
            return Err(PasswordProblem::ContainsEmail);
        }

        // zxcvbn only looks at the first 100 characters, which bounds its cost for long inputs; a password
        // whose first 100 characters are strong is strong.
        let mut inputs: Vec<&str> = SERVICE_WORDS.to_vec();
        inputs.extend([username.as_str(), email, local.as_str()].into_iter().filter(|s| !s.is_empty()));
        let estimate = zxcvbn::zxcvbn(&password, &inputs);
        if u8::from(estimate.score()) < 3 {
            return Err(PasswordProblem::Weak { feedback: weak_feedback(estimate.feedback()) });
        }
        Ok(())
    }
}

/// zxcvbn's warning and suggestions as one sentence-separated string. zxcvbn sometimes gives a warning
/// with no suggestion; the message must always say how to fix the password, so a default one is added.
fn weak_feedback(feedback: Option<&zxcvbn::feedback::Feedback>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(feedback) = feedback {
        parts.extend(feedback.warning().map(|w| w.to_string()));
        parts.extend(feedback.suggestions().iter().map(ToString::to_string));
    }
    if feedback.is_none_or(|f| f.suggestions().is_empty()) {
        parts.push("Add another word or two; uncommon words are better.".to_owned());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "alice";
    const EMAIL: &str = "wonderland.rabbit@example.com";

    fn check(password: &str) -> Result<(), &'static str> {
        PasswordPolicy::default().check(password, USER, EMAIL).map_err(|p| p.code())
    }

    /// A passphrase of unrelated words: long, not on the list, strong by zxcvbn.
    const GOOD: &str = "correct horse battery staple";

    #[test]
    fn policy_defaults() {
        let policy = PasswordPolicy::default();
        assert_eq!((policy.min_length, policy.max_length), (15, 256));
        assert_eq!(policy.effective_bounds(), (15, 256));
    }

    #[test]
    fn floors_cannot_be_configured_away() {
        let lax = PasswordPolicy { min_length: 4, max_length: 20 };
        assert_eq!(lax.effective_bounds(), (8, 64));
        assert_eq!(lax.check("tr0mb-quiz", USER, EMAIL).map_err(|p| p.code()), Ok(()));
        assert_eq!(lax.check("Zq9!x", USER, EMAIL), Err(PasswordProblem::TooShort { min: 8 }));
        // 64 characters must be accepted even though max_length says 20.
        let sixty_four = "gravel kestrel umbrella nitrogen saffron hollow peninsula tundra";
        assert_eq!(sixty_four.chars().count(), 64);
        assert_eq!(lax.check(sixty_four, USER, EMAIL).map_err(|p| p.code()), Ok(()));
    }

    #[test]
    fn rules_table() {
        let long = |n: usize| "kestrel umbrella saffron ".chars().cycle().take(n).collect::<String>();
        let cases: Vec<(String, Result<(), &str>)> = vec![
            // length
            ("".into(), Err("too_short")),
            ("short one".into(), Err("too_short")),
            ("Tr0mbone-quiz!".into(), Err("too_short")), // 14
            ("Tr0mbone-quiz!x".into(), Ok(())),          // exactly 15
            (long(256), Ok(())),
            (long(257), Err("too_long")),
            (long(10_000), Err("too_long")),
            // common / breached, case-insensitive, before zxcvbn
            ("passwordpassword".into(), Err("common")),
            ("PasswordPassword".into(), Err("common")),
            ("1qaz2wsx3edc4rfv".into(), Err("common")),
            ("123456789987654321".into(), Err("common")),
            ("Hd764nW5d7E1vb1".into(), Err("common")), // random-looking, zxcvbn alone would pass it
            // weak but long
            ("aaaaaaaaaaaaaaaa".into(), Err("common")),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(), Err("weak")),
            ("abcdefghijklmnopqrstuvwxyz".into(), Err("common")),
            ("abcdefghijklmnopqrstuvwxyz0123456789".into(), Err("weak")),
            ("qwertyuiop1234567890".into(), Err("weak")),
            // context: username and email local part, case-insensitive
            ("my name is alice and i like tea".into(), Err("contains_username")),
            ("my name is ALICE and i like tea".into(), Err("contains_username")),
            ("Wonderland.Rabbit went down a hole".into(), Err("contains_email")),
            ("latchkeylatchkey2024".into(), Err("weak")), // the service's name is a user input to zxcvbn
            // strong
            (GOOD.into(), Ok(())),
            ("correcthorsebatterystaple".into(), Ok(())),
            ("Bleak-Sparrow-Orbit-Mustard-41".into(), Ok(())),
        ];
        for (password, want) in &cases {
            assert_eq!(check(password), *want, "{password:?}");
        }
    }

    #[test]
    fn rules_run_in_order() {
        // Too short wins over common; common wins over containing the username; username over email.
        let policy = PasswordPolicy::default();
        assert_eq!(check("password"), Err("too_short"));
        assert_eq!(policy.check("passwordpassword", "password", EMAIL).map_err(|p| p.code()), Err("common"));
        let both = "alice and the white rabbit went down";
        assert_eq!(policy.check(both, "alice", "rabbit@example.com").map_err(|p| p.code()), Err("contains_username"));
        assert_eq!(policy.check(both, "bob", "rabbit@example.com").map_err(|p| p.code()), Err("contains_email"));
    }

    #[test]
    fn short_usernames_and_local_parts_are_not_searched() {
        let policy = PasswordPolicy::default();
        // "al" and "ra" occur in the passphrase, but are below 3 characters.
        assert_eq!(policy.check("several rabbits sprawl quietly", "al", "ra@example.com"), Ok(()));
        assert_eq!(policy.check(GOOD, "", ""), Ok(()));
    }

    #[test]
    fn usernames_are_normalised_before_the_containment_check() {
        let policy = PasswordPolicy::default();
        // A fullwidth username and a padded one are the same account name.
        for username in ["ＡＬＩＣＥ", "  Alice  ", "alice"] {
            let got = policy.check("my name is alice and i like tea", username, EMAIL);
            assert_eq!(got, Err(PasswordProblem::ContainsUsername), "{username:?}");
        }
        // And a fullwidth password contains the ASCII username.
        let got = policy.check("ｍｙ ｎａｍｅ ｉｓ ａｌｉｃｅ ａｎｄ ｉ ｌｉｋｅ ｔｅａ", "alice", EMAIL);
        assert_eq!(got, Err(PasswordProblem::ContainsUsername));
    }

    #[test]
    fn unicode_is_normalised_with_nfkc() {
        assert_eq!(normalize_password("ｐａｓｓｗｏｒｄ"), "password");
        // Precomposed é and e + COMBINING ACUTE ACCENT are the same password.
        assert_eq!(normalize_password("caf\u{e9}"), normalize_password("cafe\u{301}"));
        // Case and spaces are kept.
        assert_eq!(normalize_password(" Pass Word "), " Pass Word ");
        // A fullwidth password is treated exactly as its ASCII form.
        assert_eq!(check("Ｈｄ７６４ｎＷ５ｄ７Ｅ１ｖｂ１"), Err("common"));
        assert_eq!(check("ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ ｓｔａｐｌｅ"), check(GOOD));
        assert!(is_common("ＰＡＳＳＷＯＲＤ"));
    }

    #[test]
    fn length_is_counted_in_scalar_values_after_normalisation() {
        // 15 non-ASCII characters (45 bytes in UTF-8) meet a 15-character minimum.
        let kana = "ひみつのあいことばはさくらもち";
        assert_eq!(kana.chars().count(), 15);
        assert_ne!(check(kana), Err("too_short"));
        // Counted after NFKC: "e" + COMBINING ACUTE ACCENT is one character, so 14 + "é" is 15, not 16.
        let decomposed = "zebra-quartz-me\u{301}";
        assert_eq!(decomposed.chars().count(), 16);
        assert_eq!(normalize_password(decomposed).chars().count(), 15);
        // The ligature "ﬁ" becomes "fi": 14 characters as typed, 15 after NFKC, so long enough.
        let ligature = "ﬁbrous-quartz!";
        assert_eq!(ligature.chars().count(), 14);
        assert_ne!(check(ligature), Err("too_short"));
    }

    #[test]
    fn random_64_character_passphrase_is_accepted() {
        let pw = "vR7#kq2Lp9!xZm4Tb8@wN3sHd6^yF1cJg5&uQ0eAo2*iK7rVt9$nM4lBz8%hXw3P";
        assert_eq!(pw.chars().count(), 64);
        assert_eq!(check(pw), Ok(()));
    }

    #[test]
    fn every_message_says_how_to_fix_it() {
        let weak = PasswordPolicy::default().check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", USER, EMAIL);
        assert!(matches!(weak, Err(PasswordProblem::Weak { .. })), "{weak:?}");
        let problems = [
            PasswordProblem::TooShort { min: 15 },
            PasswordProblem::TooLong { max: 256 },
            PasswordProblem::Common,
            PasswordProblem::ContainsUsername,
            PasswordProblem::ContainsEmail,
            weak.err().unwrap_or(PasswordProblem::Common),
        ];
        let fixes = ["use ", "choose ", "add "];
        for problem in &problems {
            let message = problem.to_string().to_lowercase();
            assert!(fixes.iter().any(|f| message.contains(f)), "{}: {message}", problem.code());
        }
        assert!(problems[0].to_string().contains("15"));
        assert!(problems[1].to_string().contains("256"));
    }

    #[test]
    fn weak_feedback_always_has_a_suggestion() {
        assert_eq!(weak_feedback(None), "Add another word or two; uncommon words are better.");
        let estimate = zxcvbn::zxcvbn("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &[]);
        let text = weak_feedback(estimate.feedback());
        assert!(text.contains("Repeats"), "{text}");
    }

    #[test]
    fn codes_are_stable() {
        let codes: Vec<&str> = [
            PasswordProblem::TooShort { min: 15 },
            PasswordProblem::TooLong { max: 256 },
            PasswordProblem::Common,
            PasswordProblem::ContainsUsername,
            PasswordProblem::ContainsEmail,
            PasswordProblem::Weak { feedback: String::new() },
        ]
        .iter()
        .map(PasswordProblem::code)
        .collect();
        assert_eq!(codes, ["too_short", "too_long", "common", "contains_username", "contains_email", "weak"]);
    }

    /// Load and check timings; run in release:
    /// `cargo test -p latchkey-core --release --lib -- --ignored --nocapture password::tests::timings`
    #[test]
    #[ignore = "timing report, not a test"]
    fn timings() {
        use std::time::Instant;
        let t = Instant::now();
        let n = common_list_len();
        println!("common list: {n} entries loaded in {:?}", t.elapsed());
        let t = Instant::now();
        let rounds = 100_000u32;
        let mut hits = 0;
        for i in 0..rounds {
            hits += usize::from(is_common(if i % 2 == 0 { "qwerty123" } else { "correct horse battery staple" }));
        }
        println!("is_common: {:?} per call ({hits} hits)", t.elapsed() / rounds);
        let policy = PasswordPolicy::default();
        for pw in [GOOD, "Bleak-Sparrow-Orbit-Mustard-41", "passwordpassword", &"kestrel umbrella ".repeat(15)] {
            let rounds = 200u32;
            let t = Instant::now();
            for _ in 0..rounds {
                let _ = policy.check(pw, USER, EMAIL);
            }
            println!("check({:.20}.. {} chars): {:?} per call", pw, pw.chars().count(), t.elapsed() / rounds);
        }
    }
}
