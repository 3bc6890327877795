//! Usernames and email addresses: how they are normalised, and which are acceptable.

use unicode_normalization::UnicodeNormalization as _;

/// Names nobody may sign up with: they impersonate the service or its operators.
/// An administrator can still create them through the CLI or the admin console.
pub const RESERVED_USERNAMES: &[&str] = &[
    "admin",
    "administrator",
    "root",
    "system",
    "sysadmin",
    "superuser",
    "latchkey",
    "support",
    "help",
    "security",
    "postmaster",
    "hostmaster",
    "webmaster",
    "abuse",
    "noreply",
    "no-reply",
    "info",
    "owner",
    "operator",
    "moderator",
    "staff",
    "official",
    "account",
    "accounts",
    "login",
    "logout",
    "signup",
    "signin",
    "oauth",
    "openid",
    "api",
    "null",
    "undefined",
    "anonymous",
    "guest",
    "test",
    "user",
    "users",
    "me",
    "self",
];

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const EMAIL_MAX: usize = 254;

/// NFKC then lowercase: the form usernames are stored, compared and looked up in.
pub fn normalize_username(raw: &str) -> String {
    raw.trim().nfkc().flat_map(char::to_lowercase).collect::<String>().nfkc().collect()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("username must be at least {USERNAME_MIN} characters")]
    TooShort,
    #[error("username must be at most {USERNAME_MAX} characters")]
    TooLong,
    #[error("username may contain only letters, digits, '.', '_' and '-'")]
    InvalidCharacter,
    #[error("username must start and end with a letter or digit")]
    BadEdge,
    #[error("username mixes letters from different scripts")]
    MixedScripts,
    #[error("that username cannot be used")]
    Reserved,
}

/// Normalises and validates a username; returns the stored form.
pub fn validate_username(raw: &str) -> Result<String, UsernameError> {
    let name = normalize_username(raw);
    let len = name.chars().count();
    if len < USERNAME_MIN {
        return Err(UsernameError::TooShort);
    }
    if len > USERNAME_MAX {
        return Err(UsernameError::TooLong);
    }
    if !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Err(UsernameError::InvalidCharacter);
    }
    let first = name.chars().next().unwrap_or('.');
    let last = name.chars().last().unwrap_or('.');
    if !first.is_alphanumeric() || !last.is_alphanumeric() {
        return Err(UsernameError::BadEdge);
    }
    // A Latin name with one Cyrillic or Greek look-alike letter ("pаypal") is the classic confusable.
    // Letters must come from one script family; digits and punctuation go with any.
    if mixed_scripts(&name) {
        return Err(UsernameError::MixedScripts);
    }
    Ok(name)
}

/// Validation for self-service sign-up: the general rules plus the reserved names.
pub fn validate_signup_username(raw: &str) -> Result<String, UsernameError> {
    let name = validate_username(raw)?;
    let folded: String = name.chars().filter(|c| c.is_alphanumeric()).collect();
    if RESERVED_USERNAMES.iter().any(|r| *r == name || r.replace('-', "") == folded) {
        return Err(UsernameError::Reserved);
    }
    Ok(name)
}

/// Coarse script classes by code point block; enough to refuse names that mix the scripts
/// most often used for look-alike letters.
fn script_of(c: char) -> Option<u8> {
    if !c.is_alphabetic() {
        return None;
    }
    Some(match u32::from(c) {
        0x0000..=0x024F | 0x1E00..=0x1EFF => 0,                   // Latin
        0x0370..=0x03FF | 0x1F00..=0x1FFF => 1,                   // Greek
        0x0400..=0x052F => 2,                                     // Cyrillic
        0x0530..=0x058F => 3,                                     // Armenian
        0x0590..=0x05FF => 4,                                     // Hebrew
        0x0600..=0x06FF | 0x0750..=0x077F => 5,                   // Arabic
        0x0900..=0x0DFF => 6,                                     // Indic
        0x0E00..=0x0EFF => 7,                                     // Thai, Lao
        0x10A0..=0x10FF => 8,                                     // Georgian
        0x3040..=0x30FF | 0x4E00..=0x9FFF | 0x3400..=0x4DBF => 9, // Han, Kana: used together
        0xAC00..=0xD7AF | 0x1100..=0x11FF => 10,                  // Hangul
        _ => 11,
    })
}

fn mixed_scripts(name: &str) -> bool {
    let mut seen = None;
    for script in name.chars().filter_map(script_of) {
        match seen {
            None => seen = Some(script),
            Some(s) if s != script => return true,
            _ => {}
        }
    }
    false
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email address is required")]
    Empty,
    #[error("email address must be at most {EMAIL_MAX} characters")]
    TooLong,
    #[error("that does not look like an email address (expected name@example.com)")]
    Invalid,
}

/// Trims and checks an email address for the common syntax (`local@domain.tld`, RFC 5321
/// lengths). Quoted local parts and address literals are refused: real mailboxes do not need them.
pub fn validate_email(raw: &str) -> Result<String, EmailError> {
    let email = raw.trim();
    if email.is_empty() {
        return Err(EmailError::Empty);
    }
    if email.chars().count() > EMAIL_MAX {
        return Err(EmailError::TooLong);
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(EmailError::Invalid);
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().count() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok { Ok(email.to_owned()) } else { Err(EmailError::Invalid) }
}

/// The form emails are compared in (uniqueness is case-insensitive).
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The local part, for the password rule that a password must not contain it.
pub fn email_local_part(email: &str) -> &str {
    email.rsplit_once('@').map_or(email, |(l, _)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_nfkc_lowercased() {
        assert_eq!(normalize_username("  Alice "), "alice");
        // FULLWIDTH LATIN CAPITAL LETTER A..: NFKC folds them to ASCII.
        assert_eq!(normalize_username("ＡＬＩＣＥ"), "alice");
        assert_eq!(validate_username("Bob.Smith-2").as_deref(), Ok("bob.smith-2"));
    }

    #[test]
    fn username_rules() {
        let cases: &[(&str, Result<&str, UsernameError>)] = &[
            ("ab", Err(UsernameError::TooShort)),
            ("abc", Ok("abc")),
            (&"a".repeat(32), Ok(&*"a".repeat(32).leak())),
            (&"a".repeat(33), Err(UsernameError::TooLong)),
            ("a b", Err(UsernameError::InvalidCharacter)),
            ("<script>", Err(UsernameError::InvalidCharacter)),
            ("al@ce", Err(UsernameError::InvalidCharacter)),
            (".alice", Err(UsernameError::BadEdge)),
            ("alice-", Err(UsernameError::BadEdge)),
            ("josé", Ok("josé")),
            ("владимир", Ok("владимир")),
            ("pаypal", Err(UsernameError::MixedScripts)), // Cyrillic а
            ("user42", Ok("user42")),
        ];
        for (input, want) in cases {
            assert_eq!(validate_username(input).as_deref().map_err(Clone::clone), *want, "{input}");
        }
    }

    #[test]
    fn reserved_names_are_refused_only_at_signup() {
        assert_eq!(validate_username("admin").as_deref(), Ok("admin"));
        assert_eq!(validate_signup_username("Admin"), Err(UsernameError::Reserved));
        assert_eq!(validate_signup_username("no.reply"), Err(UsernameError::Reserved));
        assert_eq!(validate_signup_username("ＲＯＯＴ"), Err(UsernameError::Reserved));
        assert!(validate_signup_username("alice").is_ok());
    }

    #[test]
    fn email_rules() {
        assert_eq!(validate_email(" Alice@Example.com ").as_deref(), Ok("Alice@Example.com"));
        assert_eq!(validate_email(""), Err(EmailError::Empty));
        for bad in [
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a..b@example.com",
            "a@-x.com",
            "a b@example.com",
            "a@exa mple.com",
        ] {
            assert_eq!(validate_email(bad), Err(EmailError::Invalid), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(validate_email(&long), Err(EmailError::TooLong));
        // The boundary: 254 characters (a 64-character local part, 63-character labels) is accepted,
        // 255 is too long.
        let at = |c_len: usize| {
            format!("{}@{}.{}.{}.com", "l".repeat(64), "a".repeat(63), "b".repeat(63), "c".repeat(c_len))
        };
        assert_eq!(at(57).chars().count(), 254);
        assert_eq!(validate_email(&at(57)), Ok(at(57)));
        assert_eq!(validate_email(&at(58)), Err(EmailError::TooLong));
        // A 65-character local part is invalid even within the total.
        assert_eq!(validate_email(&format!("{}@example.com", "l".repeat(65))), Err(EmailError::Invalid));
        assert_eq!(email_key("Alice@Example.COM"), "alice@example.com");
        assert_eq!(email_local_part("alice@example.com"), "alice");
    }
}
