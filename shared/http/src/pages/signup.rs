//! The sign-up wizard (seed 003) and the policies step.

use super::{Ctx, PageResult};

pub(crate) async fn sign_up(ctx: &mut Ctx<'_>) -> PageResult {
    ctx.redirect("sign-in")
}

pub(crate) async fn policies(ctx: &mut Ctx<'_>) -> PageResult {
    ctx.redirect("sign-in")
}
