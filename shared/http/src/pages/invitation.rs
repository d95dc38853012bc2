//! The invitation page.

use super::{Ctx, PageResult};

pub(crate) async fn invitation(ctx: &mut Ctx<'_>) -> PageResult {
    ctx.redirect("sign-in")
}
