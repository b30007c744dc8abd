//! The pages of the problem types: `GET /problems/{type}` answers a short page saying what a
//! problem means and what to do about it, so that the `type` URI of every error answer
//! (relative, `/problems/<slug>`) resolves on the server that sent it. Every node answers
//! them, whatever its roles, as every node answers problems.

use actix_web::{HttpResponse, get, web};

use crate::problem::{PROBLEM_TYPES_PATH, Problem, ProblemType};

/// The page of one kind of problem.
#[utoipa::path(
    params(("type" = inline(ProblemType), Path, description = "The last segment of a problem's `type`")),
    responses(
        (status = 200, description = "What the problem means", content_type = "text/html", body = String),
        (status = 404, description = "No such problem type", body = Problem)
    ),
    tag = "operations"
)]
#[get("/problems/{type}")]
pub(crate) async fn problem_page(slug: web::Path<String>) -> Result<HttpResponse, Problem> {
    let kind = ProblemType::from_slug(&slug).ok_or_else(|| Problem::not_found("problem type"))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page(kind)))
}

/// The HTML of `kind`'s page: its title, status, `type` and meaning.
fn page(kind: ProblemType) -> String {
    let title = escape(kind.title());
    let status = kind.status();
    let about = code_spans(&escape(kind.about()));
    let uri = kind.uri();
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body>\n<h1>{title}</h1>\n\
         <p><code>{uri}</code>: HTTP {status}, as <code>application/problem+json</code></p>\n\
         <p>{about}</p>\n\
         <p>Every error answer of this API is a problem of one of the types listed as \
         <code>Problem.type</code> in <a href=\"/openapi.json\">the OpenAPI document</a>; \
         each has its page under <code>{PROBLEM_TYPES_PATH}/</code>.</p>\n</body>\n</html>\n"
    )
}

/// `text` with the characters HTML gives a meaning to escaped.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `text` with its Markdown code spans (`` `If-Match` ``) as `<code>` elements.
fn code_spans(text: &str) -> String {
    let mut html = String::with_capacity(text.len());
    for (n, part) in text.split('`').enumerate() {
        if n % 2 == 1 {
            html.push_str("<code>");
            html.push_str(part);
            html.push_str("</code>");
        } else {
            html.push_str(part);
        }
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_escapes_its_text_and_shows_code_spans_as_code() {
        let page = page(ProblemType::BadSignature);
        assert!(page.contains("<h1>A valid Orders-Signature is required</h1>"));
        assert!(page.contains("<code>/problems/bad-signature</code>: HTTP 401 Unauthorized"));
        assert!(page.contains("t=&lt;unix seconds&gt;"), "{page}");
        assert!(page.contains("<code>Orders-Signature</code>"), "{page}");
        assert!(!page.contains('`'), "{page}");
    }
}
