//! The sign-in page.

use maud::{Markup, html};

use super::{Ctx, Nav, csrf_field, layout};

/// The sign-in page; `error` is a message to show above the form.
pub fn login_page(ctx: &Ctx, login_value: &str, error: Option<&str>) -> Markup {
    let s = ctx.s();
    let content = html! {
        section class="panel login" aria-labelledby="login-title" {
            h1 id="login-title" { (s.login_title) }
            p class="lead" { (s.login_intro) }
            @if let Some(e) = error {
                p class="alert alert-off" role="alert" id="login-error" { (e) }
            }
            form method="post" action="/login" id="login-form" {
                (csrf_field(ctx))
                div class="field" {
                    label for="login" { (s.login_field) }
                    input type="text" id="login" name="login" value=(login_value) autocomplete="username"
                        inputmode="email" autocapitalize="none" spellcheck="false" required maxlength="254"
                        aria-invalid=[error.map(|_| "true")]
                        aria-describedby=(if error.is_some() { "login-error login-hint" } else { "login-hint" });
                    p class="hint" id="login-hint" { (s.login_hint) }
                }
                div class="field" {
                    label for="password" { (s.password_field) }
                    input type="password" id="password" name="password" autocomplete="current-password" required maxlength="128"
                        aria-invalid=[error.map(|_| "true")]
                        aria-describedby=[error.map(|_| "login-error")];
                }
                button class="btn btn-primary btn-block" type="submit" id="sign-in" { (s.sign_in) }
            }
        }
    };
    layout(ctx, s.login_title, Nav::None, content, None)
}
