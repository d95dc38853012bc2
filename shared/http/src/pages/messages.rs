//! The one message catalogue of the hosted pages: every text a page shows, keyed by a stable id
//! (English now; another language is another column). Error texts are keyed by the API's
//! problem codes (`error.<code>`) and field-error codes (`field.<code>`), so a page says in
//! words exactly the rule the JSON API answers with a code.
//!
//! A text may hold `{name}` placeholders, filled by [`Msg::fill`] (the value is escaped when
//! rendered, like every text).

macro_rules! catalogue {
    ($($name:ident = $id:literal => $en:literal,)*) => {
        /// A text of the pages.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Msg {
            $($name,)*
        }

        impl Msg {
            /// Every message, for the catalogue's own tests and look-ups by id.
            pub(crate) const ALL: &'static [Msg] = &[$(Msg::$name,)*];

            /// The stable id.
            pub(crate) fn id(self) -> &'static str {
                match self {
                    $(Msg::$name => $id,)*
                }
            }

            /// The English text.
            pub(crate) fn en(self) -> &'static str {
                match self {
                    $(Msg::$name => $en,)*
                }
            }
        }
    };
}

catalogue! {
    // The page shell and shared parts.
    SkipToContent = "shell.skip" => "Skip to content",
    ErrorSummaryTitle = "shell.error_summary" => "There is a problem",
    SignOut = "shell.sign_out" => "Sign out",
    Continue = "shell.continue" => "Continue",
    Back = "shell.back" => "Back",
    StaySignedIn = "shell.stay_signed_in" => "Stay signed in",
    StaySignedInHint = "shell.stay_signed_in_hint" => "Only on a device you do not share. Otherwise you are signed out after an hour without activity.",
    NotFoundTitle = "shell.not_found" => "Page not found",
    NotFoundBody = "shell.not_found_body" => "There is no such page. Check the address, or go back to sign in.",
    AccountNotFoundBody = "shell.account_not_found" => "There is no business at this address. Check the link you were given.",
    FormExpiredTitle = "shell.form_expired" => "This form has expired",
    FormExpired = "shell.form_expired_body" => "The form could not be accepted: it was open too long or did not come from this site. Nothing was changed. Try again.",
    FormTooLarge = "shell.form_too_large" => "The form was too large to accept. Nothing was changed.",
    CrossSiteTitle = "shell.cross_site" => "Request refused",
    CrossSite = "shell.cross_site_body" => "This request came from another site and was refused. Nothing was changed.",
    UnavailableTitle = "shell.unavailable" => "Please try again",
    Unavailable = "shell.unavailable_body" => "Something went wrong on our side and nothing was changed. Try again in a moment.",
    SignedOut = "shell.signed_out" => "You have been signed out.",
    SessionEnded = "shell.session_ended" => "Your session has ended. Sign in again to continue.",

    // Field labels: the API's field names in words.
    LabelEmail = "label.email" => "Email",
    LabelPassword = "label.password" => "Password",
    LabelUsername = "label.username" => "Username",
    LabelCode = "label.code" => "Code",
    LabelNewPassword = "label.new_password" => "New password",
    LabelConfirmNewPassword = "label.new_password_confirmation" => "Confirm new password",
    LabelCurrentPassword = "label.current_password" => "Current password",
    LabelPasswordConfirmation = "label.password_confirmation" => "Confirm password",
    LabelFirstName = "label.first_name" => "First name",
    LabelLastName = "label.last_name" => "Last name",
    LabelRelationship = "label.relationship" => "Relationship to the students",
    LabelEmailType = "label.email_type" => "Email type",
    LabelEmailOptIn = "label.email_opt_in" => "Send me news and offers by email",
    LabelPhone = "label.phone" => "Phone number",
    LabelPhoneType = "label.phone_type" => "Phone type",
    LabelSmsOptIn = "label.sms_opt_in" => "Send me text messages",
    LabelLine1 = "label.address_line1" => "Address line 1",
    LabelLine2 = "label.address_line2" => "Address line 2 (optional)",
    LabelCity = "label.city" => "Town or city",
    LabelRegion = "label.region" => "County, state or region",
    LabelPostalCode = "label.postal_code" => "Postal code",
    LabelCountry = "label.country" => "Country",
    LabelReferralSource = "label.referral_source" => "How did you hear about us? (optional)",
    LabelAgeConfirmed = "label.age_confirmed" => "I confirm that I am 18 or older",
    LabelNewsletter = "label.newsletter_opt_in" => "Send me the newsletter",
    OptionHome = "option.home" => "Home",
    OptionWork = "option.work" => "Work",
    OptionOther = "option.other" => "Other",
    OptionMobile = "option.mobile" => "Mobile",
    Optional = "label.optional" => "(optional)",

    // Guardian sign-in.
    SignInTitle = "sign_in.title" => "Sign in",
    SignInButton = "sign_in.button" => "Sign in",
    ForgotPasswordLink = "sign_in.forgot" => "Forgot your password?",
    SignUpLink = "sign_in.sign_up" => "New here? Create an account",
    StaffSignInLink = "sign_in.staff" => "Staff sign-in",

    // Staff.
    StaffSignInTitle = "staff_sign_in.title" => "Staff sign-in",
    TermsTitle = "terms.title" => "Terms & Conditions",
    TermsIntro = "terms.intro" => "Before you use the Office Portal, read and accept the current Terms & Conditions (version {version}).",
    TermsAccept = "terms.accept" => "Accept the terms",
    StaffHomeTitle = "staff_home.title" => "Welcome, {name}",
    StaffHomeIntro = "staff_home.intro" => "You are signed in to the Office Portal of {business}.",
    MissingSettingsTitle = "staff_home.missing_title" => "Some business settings are missing",
    MissingSettingsHint = "staff_home.missing_hint" => "Customers see these on messages and pages. Set them under Settings → Business details in the Office Portal:",
    SettingBusinessEmail = "setting.business_email" => "Business email",
    SettingLocationEmail = "setting.location_email" => "Location email",
    SettingLocationPhone = "setting.location_phone" => "Location phone",
    ChangePasswordLink = "staff_home.change_password" => "Change password",

    // Passwords.
    ForgotTitle = "forgot.title" => "Forgot your password?",
    ForgotIntroGuardian = "forgot.intro_guardian" => "Enter the email you sign in with. If it belongs to an account, we will send a link to choose a new password. The link works for {minutes} minutes, once.",
    ForgotIntroStaff = "forgot.intro_staff" => "Enter your username. If you have an email on file, we will send a link to choose a new password. The link works for {minutes} minutes, once. The business owner resets through support.",
    ForgotButton = "forgot.button" => "Send reset link",
    ForgotSent = "forgot.sent" => "If that matches an account, a link to reset the password is on its way. Check your email.",
    ResetTitle = "reset.title" => "Choose a new password",
    ResetButton = "reset.button" => "Set new password",
    ResetDone = "reset.done" => "Your password has been changed and every session signed out. Sign in with the new password.",
    ResetNoLink = "reset.no_link" => "Open the link from your email to choose a new password.",
    ChangePasswordTitle = "change_password.title" => "Change password",
    ChangePasswordButton = "change_password.button" => "Change password",
    ChangePasswordDone = "change_password.done" => "Your password has been changed. Every session was signed out, so sign in again with the new password.",
    PasswordRules = "password.rules" => "At least {min} characters, with a lowercase letter, an uppercase letter, a digit and a special character. Not a commonly used password.",

    // Errors by problem code.
    ErrorInvalidCredentials = "error.invalid_credentials" => "The email, username or password is not correct.",
    ErrorWrongCurrentPassword = "error.wrong_current_password" => "The current password is not correct.",
    ErrorTooManyAttempts = "error.too_many_attempts" => "Too many failed attempts. This login is locked for {minutes} minutes; try again later or reset the password.",
    ErrorTooManyRequests = "error.too_many_requests" => "Too many messages were sent to this address. Wait an hour and try again.",
    ErrorInvalidToken = "error.invalid_token" => "This link is not valid any more: it was used, cancelled or replaced by a newer one.",
    ErrorTokenExpired = "error.token_expired" => "This link has expired. Ask for a new one.",
    ErrorSignupDisabled = "error.signup_disabled" => "Online sign-up is not available for this business. Contact the business to join.",
    ErrorAccountSuspended = "error.account_suspended" => "This business's portal is suspended for now. Contact the business directly.",
    ErrorEmailInUse = "error.email_in_use" => "This email already belongs to a family. Sign in instead, or reset the password.",
    ErrorEmailNotVerified = "error.email_not_verified" => "The email could not be confirmed. Start again and enter the new code.",
    ErrorInvalidCode = "error.invalid_code" => "That code is not correct.",
    ErrorCodeExpired = "error.code_expired" => "That code has expired. Ask for a new one.",
    ErrorForbidden = "error.forbidden" => "You do not have access to this.",
    ErrorViewOnly = "error.view_only" => "Your access to this family is view only.",
    ErrorAccessRevoked = "error.access_revoked" => "Your access to this family was removed.",
    ErrorPoliciesPending = "error.policies_pending" => "Accept the family's policies first.",
    ErrorPrimaryPoliciesPending = "error.primary_policies_pending" => "The family's primary guardian has policies to accept before you can see the family.",
    ErrorAlreadyMember = "error.already_member" => "That person already has access to this family.",
    ErrorTermsVersionMismatch = "error.terms_version_mismatch" => "The terms changed while you were reading them. Read the current version and accept again.",
    ErrorNotFound = "error.not_found" => "That no longer exists.",
    ErrorAccountNotFound = "error.account_not_found" => "There is no business at this address.",
    ErrorUnavailable = "error.service_unavailable" => "Something went wrong on our side and nothing was changed. Try again in a moment.",
    ErrorDeliveryFailed = "error.delivery_failed" => "The message could not be sent. Nothing was changed; try again.",
    ErrorGeneric = "error.generic" => "That did not work. Nothing was changed; try again.",

    // Field errors by code.
    FieldRequired = "field.required" => "Enter this, it is required.",
    FieldInvalid = "field.invalid" => "This is not valid.",
    FieldMismatch = "field.mismatch" => "The two passwords do not match.",
    FieldPasswordPolicy = "field.password_policy" => "The password needs: {rules}.",
    FieldPasswordTooCommon = "field.password_too_common" => "This password is too common. Choose another.",
    FieldTooLong = "field.too_long" => "This is too long.",
    RuleMinLength = "rule.min_length" => "at least {min} characters",
    RuleMaxLength = "rule.max_length" => "at most {max} characters",
    RuleLowercase = "rule.lowercase" => "a lowercase letter",
    RuleUppercase = "rule.uppercase" => "an uppercase letter",
    RuleDigit = "rule.digit" => "a digit",
    RuleSpecial = "rule.special" => "a special character",

    // Sign-up wizard and policies (signup.rs).
    SignupStepOf = "signup.step_of" => "Create an account: step {n} of {total}",
    SignupStepEmail = "signup.step.email" => "Create an account",
    SignupStepCode = "signup.step.code" => "Confirm your email",
    SignupStepGuardian = "signup.step.guardian" => "About you",
    SignupStepPassword = "signup.step.password" => "Choose a password",
    SignupStepAddress = "signup.step.address" => "Your address",
    SignupStepCustom = "signup.step.custom" => "A few more questions",
    SignupStepReview = "signup.step.review" => "Check your answers",
    SignupEmailIntro = "signup.email_intro" => "Enter the email you will sign in with. It must not already be the main email of another family.",
    SignupEmailIntroCode = "signup.email_intro_code" => "We will email you a 6-digit code to confirm it.",
    SignupHaveAccount = "signup.have_account" => "Already have an account? Sign in",
    SignupCodeIntro = "signup.code_intro" => "We emailed a 6-digit code to {email}. Enter it below; it works for {minutes} minutes. If it has not arrived, check your spam folder.",
    SignupCodeResent = "signup.code_resent" => "A new code is on its way. Only the newest code works.",
    SignupResendCode = "signup.resend_code" => "Send a new code",
    SignupCodeTooManyAttempts = "signup.code_too_many_attempts" => "That code was entered wrongly too many times. Send a new code and enter that one.",
    SignupRelationshipHint = "signup.relationship_hint" => "For example parent, grandparent or carer.",
    SignupEmailOptInHint = "signup.email_opt_in_hint" => "Ticked: news and information as well, including emergencies such as closures. Not ticked: only confirmations, receipts and statements.",
    SignupPhoneLegend = "signup.phone_legend" => "Phone",
    SignupPhoneHint = "signup.phone_hint" => "At least one phone number, with its area code.",
    SignupPhoneOtherLegend = "signup.phone_other_legend" => "Another phone (optional)",
    SignupPhoneRequired = "signup.phone_required" => "Enter at least one phone number.",
    SignupPasswordKeep = "signup.password_keep" => "You have chosen a password already. Leave both fields empty to keep it.",
    SignupExistingLoginHint = "signup.existing_login_hint" => "Do you already sign in here with this email, for example as a secondary guardian of another family? Then enter that login's current password.",
    SignupReviewIntro = "signup.review_intro" => "Check your answers. Use Back to change any of them.",
    SignupReviewPhone = "signup.review_phone" => "Phone {n}",
    SignupReviewPhoneValue = "signup.review_phone_value" => "{number} ({type}), text messages: {sms}",
    SignupReviewAddress = "signup.review_address" => "Address",
    SignupYes = "signup.yes" => "Yes",
    SignupNo = "signup.no" => "No",
    SignupAgeRequired = "signup.age_required" => "Confirm that you are 18 or older to create an account.",
    SignupCreate = "signup.create" => "Create account",
    SignupDisabledTitle = "signup.disabled_title" => "Sign-up is not available",
    SignupTooLarge = "signup.too_large" => "Your answers are too long to keep. Shorten the longest ones and try again.",
    PoliciesTitle = "policies.title" => "Family policies",
    PoliciesIntro = "policies.intro" => "Read each policy and tick \"I accept\" for it. Your family's setup is complete once every required policy is accepted.",
    PoliciesRequired = "policies.required" => "Required",
    PoliciesOptional = "policies.optional" => "Optional",
    PoliciesAccepted = "policies.accepted" => "Accepted",
    PoliciesAcceptOne = "policies.accept_one" => "I accept {title}",
    PoliciesSubmit = "policies.submit" => "Accept",
    PoliciesNoneTicked = "policies.none_ticked" => "Tick \"I accept\" for each policy you accept.",
    PoliciesComplete = "policies.complete" => "Every required policy is accepted: your family's setup is complete.",
    PoliciesFinish = "policies.finish" => "Finish setup",
    PoliciesNone = "policies.none" => "There are no policies to accept.",
    FieldInvalidEmail = "field.invalid_email" => "Enter an email address like name@example.com.",
    FieldInvalidPhone = "field.invalid_phone" => "Enter a phone number with its area code, like (555) 123-4567, or with its country code, like +44 20 7946 0000.",
    FieldVersionMismatch = "field.version_mismatch" => "This policy changed while you were reading it. Read the current version and accept it again.",
    FieldNotFound = "field.not_found" => "This policy no longer exists.",
    // Family, switcher, invitations (family.rs, invitation.rs).
    FamilyTitle = "family.title" => "Your family",
    FamilyGuardians = "family.guardians" => "Guardians",
    FamilyPrimaryGuardian = "family.primary_guardian" => "primary guardian",
    FamilyYourAccess = "family.your_access" => "Your access:",
    FamilyAccessFull = "family.access_full" => "full access",
    FamilyAccessView = "family.access_view" => "view only",
    FamilyYou = "family.you" => "(you)",
    FamilySwitcherTitle = "family.switcher_title" => "Your other families",
    FamilySwitchTo = "family.switch_to" => "Switch to {name}",
    FamilyRolePrimary = "family.role_primary" => "You are the primary guardian (full access).",
    FamilyRoleSecondary = "family.role_secondary" => "You have view-only access.",
    FamilyPoliciesPending = "family.policies_pending" => "Your family has policies to accept before the setup is complete. Until then you cannot invite anyone.",
    FamilyPoliciesLink = "family.policies_link" => "Review and accept the policies",
    FamilyNoFamily = "family.no_family" => "You do not have access to a family at the moment.",
    FamilyAgeTitle = "family.age_title" => "Confirm your age",
    FamilyAgeIntro = "family.age_intro" => "Before you can see a family account, confirm that you are 18 or older.",
    FamilyAgeRequired = "family.age_required" => "Tick the box to confirm that you are 18 or older.",
    FamilyInvitationsTitle = "family.invitations_title" => "Invitations",
    FamilyInvitationsIntro = "family.invitations_intro" => "Invite another adult to view this family account. Their access is view only; an invitation link works for {period}.",
    FamilyNoInvitations = "family.no_invitations" => "No invitations are waiting for an answer.",
    FamilyInvitationExpires = "family.invitation_expires" => "Link valid until {date}",
    FamilyInviteButton = "family.invite_button" => "Send invitation",
    FamilyResend = "family.resend" => "Resend",
    FamilyCancel = "family.cancel" => "Cancel",
    FamilySecondaryTitle = "family.secondary_title" => "People with view-only access",
    FamilyNoSecondary = "family.no_secondary" => "Nobody else has access to this family.",
    FamilyRevoke = "family.revoke" => "Revoke access",
    FamilyAccountTitle = "family.account_title" => "Your login",
    NoticeSwitched = "family.notice.switched" => "You switched to this family.",
    NoticeAgeConfirmed = "family.notice.age_confirmed" => "Thank you for confirming your age.",
    NoticeInvited = "family.notice.invited" => "The invitation was sent.",
    NoticeResent = "family.notice.resent" => "A new invitation link was sent; the old one no longer works.",
    NoticeCancelled = "family.notice.cancelled" => "The invitation was cancelled; its link no longer works.",
    NoticeRevoked = "family.notice.revoked" => "Access was revoked. You and that person have been told by email.",
    NoticeAccepted = "family.notice.accepted" => "You accepted the invitation. Your access to this family is view only.",
    InvitationTitle = "invitation.title" => "Invitation to a family account",
    InvitationIntro = "invitation.intro" => "{inviter} invited you to view the {family} account at {business}. Your access will be view only.",
    InvitationFor = "invitation.for" => "This invitation is for {email}. The link works until {date}.",
    InvitationExistingTitle = "invitation.existing_title" => "Accept with your login",
    InvitationExistingIntro = "invitation.existing_intro" => "{email} already has a login here. Enter its password to add this family to it.",
    InvitationNewTitle = "invitation.new_title" => "Create your login",
    InvitationNewIntro = "invitation.new_intro" => "You will sign in with {email} and the password you choose here.",
    InvitationAccept = "invitation.accept" => "Accept the invitation",
    InvitationAgeHint = "invitation.age_hint" => "If you do not confirm now, you will be asked before you can see the family.",
    InvitationWrongPassword = "invitation.wrong_password" => "That is not the password of this login.",
    InvitationNoLink = "invitation.no_link" => "Open the invitation link from your email to accept it.",
    InvitationDeadHint = "invitation.dead_hint" => "Ask the person who invited you to send a new invitation.",
    ErrorAgeConfirmationRequired = "error.age_confirmation_required" => "Confirm that you are 18 or older first.",
}

impl Msg {
    /// The text with its `{name}` placeholders filled.
    pub(crate) fn fill(self, values: &[(&str, &str)]) -> String {
        let mut text = self.en().to_owned();
        for (name, value) in values {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// The message with this id.
    pub(crate) fn by_id(id: &str) -> Option<Msg> {
        Msg::ALL.iter().copied().find(|m| m.id() == id)
    }
}

impl maud::Render for Msg {
    fn render_to(&self, buffer: &mut String) {
        self.en().render_to(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_unique_and_texts_present() {
        let mut ids = BTreeSet::new();
        for m in Msg::ALL {
            assert!(ids.insert(m.id()), "{} twice", m.id());
            assert!(!m.en().trim().is_empty(), "{} has no text", m.id());
        }
    }

    #[test]
    fn placeholders_fill() {
        assert_eq!(
            Msg::StaffHomeTitle.fill(&[("name", "Olive")]),
            "Welcome, Olive"
        );
        assert_eq!(
            Msg::by_id("error.invalid_code"),
            Some(Msg::ErrorInvalidCode)
        );
    }
}
