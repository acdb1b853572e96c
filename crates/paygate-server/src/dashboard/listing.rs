//! Lists on pages follow the API's rules (docs/api.md section 7): the same
//! `limit`, `cursor`, `sortBy` and `order` query parameters, parsed by the
//! same [`Page`], served by the same store queries. This module turns a
//! page's reply into the pager and sort controls a template shows.

use crate::http::list::{Order, Page, SortKey};

/// The controls under and above a table.
#[derive(Debug, Clone)]
pub struct Pager {
    /// The link to the next page, when there is one.
    pub next: Option<String>,
    /// The link back to the first page, when this is not it.
    pub first: Option<String>,
    pub sort: &'static str,
    pub order: &'static str,
    pub limit: u32,
    /// The sort keys this list offers, with labels.
    pub sorts: &'static [(&'static str, &'static str)],
}

/// The sort keys of money lists (payments, withdrawals).
pub const MONEY_SORTS: &[(&str, &str)] = &[
    ("createdAt", "Created"),
    ("updatedAt", "Updated"),
    ("amount", "Amount"),
    ("status", "Status"),
    ("confirmedAt", "Confirmed"),
];
/// Lists ordered by creation only.
pub const CREATED_ONLY: &[(&str, &str)] = &[("createdAt", "Created")];

/// An RFC 3339 UTC time as people read it: `2026-11-22 11:40:31 UTC`.
pub fn when(rfc3339: &str) -> String {
    match rfc3339.strip_suffix('Z').and_then(|t| t.split_once('T')) {
        Some((date, time)) => format!("{date} {time} UTC"),
        None => rfc3339.to_owned(),
    }
}

fn sort_name(sort: SortKey) -> &'static str {
    match sort {
        SortKey::CreatedAt => "createdAt",
        SortKey::UpdatedAt => "updatedAt",
        SortKey::Amount => "amount",
        SortKey::Status => "status",
        SortKey::ConfirmedAt => "confirmedAt",
    }
}

fn order_name(order: Order) -> &'static str {
    match order {
        Order::Asc => "asc",
        Order::Desc => "desc",
    }
}

/// The pager of `page` at `path`, given the reply's `next_cursor`.
pub fn pager(
    path: &str,
    page: &Page,
    next_cursor: Option<&str>,
    sorts: &'static [(&'static str, &'static str)],
) -> Pager {
    let sort = sort_name(page.sort);
    let sort = if sorts.iter().any(|(key, _)| *key == sort) {
        sort
    } else {
        "createdAt"
    };
    let order = order_name(page.order);
    let query = |cursor: Option<&str>| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("limit", &page.limit.to_string())
            .append_pair("sortBy", sort)
            .append_pair("order", order);
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        format!("{path}?{}", query.finish())
    };
    Pager {
        next: next_cursor.map(|cursor| query(Some(cursor))),
        first: page.after.is_some().then(|| query(None)),
        sort,
        order,
        limit: page.limit,
        sorts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pager_links_keep_the_sort_and_carry_the_cursor() {
        let page = Page {
            limit: 5,
            sort: SortKey::Amount,
            order: Order::Asc,
            after: None,
        };
        let pager = pager("/dashboard/payments", &page, Some("abc"), MONEY_SORTS);
        assert_eq!(
            pager.next.as_deref(),
            Some("/dashboard/payments?limit=5&sortBy=amount&order=asc&cursor=abc")
        );
        assert_eq!(pager.first, None);
        assert_eq!(pager.sort, "amount");
        let pager = super::pager("/dashboard/audit", &page, None, CREATED_ONLY);
        assert_eq!(pager.sort, "createdAt");
        assert_eq!(pager.next, None);
    }

    #[test]
    fn times_read_as_utc() {
        assert_eq!(when("2026-11-22T11:40:31Z"), "2026-11-22 11:40:31 UTC");
        assert_eq!(when("not a time"), "not a time");
    }
}
