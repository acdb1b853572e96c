//! Lists (docs/api.md section 7): typed pages and a pager that follows
//! `next_cursor` page by page, or item by item as a stream.

use std::marker::PhantomData;

use futures_util::stream::{self, Stream};
use futures_util::TryStreamExt as _;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::Error;

/// `{"data": [...], "has_more": bool, "next_cursor": "..." | null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// Sort order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// The parameters of a list; all optional (the server's defaults: 20 a
/// page, newest first by `createdAt`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// 1 to 100.
    pub limit: Option<u32>,
    /// `createdAt`, `updatedAt`, `amount`, `status` or `confirmedAt`.
    pub sort_by: Option<String>,
    pub order: Option<Order>,
    /// Start after this cursor (a `next_cursor` of an earlier page).
    pub cursor: Option<String>,
}

impl ListParams {
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn sort_by(mut self, key: impl Into<String>) -> Self {
        self.sort_by = Some(key.into());
        self
    }

    pub fn order(mut self, order: Order) -> Self {
        self.order = Some(order);
        self
    }

    fn query(&self, cursor: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(limit) = self.limit {
            query.append_pair("limit", &limit.to_string());
        }
        if let Some(sort_by) = &self.sort_by {
            query.append_pair("sortBy", sort_by);
        }
        if let Some(order) = self.order {
            query.append_pair("order", if order == Order::Asc { "asc" } else { "desc" });
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        query.finish()
    }
}

/// Fetches the pages of one list in turn. Made by the client's `list_*`
/// methods; it sends nothing until asked.
#[derive(Debug)]
pub struct Pager<T> {
    client: Client,
    path: String,
    params: ListParams,
    next: Option<Option<String>>,
    item: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Pager<T> {
    pub(crate) fn new(client: &Client, path: String, params: ListParams) -> Self {
        let first = params.cursor.clone();
        Pager {
            client: client.clone(),
            path,
            params,
            next: Some(first),
            item: PhantomData,
        }
    }

    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Page<T>>, Error> {
        let Some(cursor) = self.next.take() else {
            return Ok(None);
        };
        let query = self.params.query(cursor.as_deref());
        let target = if query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{query}", self.path)
        };
        let page: Page<T> = self.client.send_json(Method::GET, &target, None::<&()>).await?;
        if page.has_more {
            self.next = page.next_cursor.clone().map(Some);
        }
        Ok(Some(page))
    }

    /// The first page only.
    pub async fn page(mut self) -> Result<Page<T>, Error> {
        Ok(self.next_page().await?.unwrap_or(Page {
            data: Vec::new(),
            has_more: false,
            next_cursor: None,
        }))
    }

    /// Every item of every page, fetching pages as the stream is read.
    pub fn items(self) -> impl Stream<Item = Result<T, Error>> {
        let pages = stream::try_unfold(self, |mut pager| async move {
            Ok::<_, Error>(pager.next_page().await?.map(|page| (page, pager)))
        });
        pages
            .map_ok(|page| stream::iter(page.data.into_iter().map(Ok)))
            .try_flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_encoded_as_the_contract_names_them() {
        let params = ListParams::default().limit(5).sort_by("amount").order(Order::Asc);
        assert_eq!(
            params.query(Some("a+b/c")),
            "limit=5&sortBy=amount&order=asc&cursor=a%2Bb%2Fc"
        );
        assert_eq!(ListParams::default().query(None), "");
    }
}
