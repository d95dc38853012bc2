//! The family page and its actions.

use super::{Ctx, PageResult};
use crate::routes::Page;

pub(crate) async fn handle(ctx: &mut Ctx<'_>, _page: Page) -> PageResult {
    ctx.redirect("sign-in")
}
