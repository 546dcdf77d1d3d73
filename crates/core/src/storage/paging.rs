//! A bounded walk over a cursor-paged listing (S3's continuation tokens, R2's list cursors):
//! pages are asked for until `limit` objects are in hand or the backend says there are no more.
//! A backend that hands back the cursor it was given would loop forever; that is an error.

use std::future::Future;

use super::{ListPage, ObjectMeta, StorageError, StorageResult};

/// One answer of a paged listing: its objects and the cursor of the next page, if any.
pub struct Page {
    pub objects: Vec<ObjectMeta>,
    pub next: Option<String>,
}

/// Collects at most `limit` objects, asking `fetch(cursor, want)` for pages of at most
/// `page_size`. `location` names the listing in errors.
pub async fn walk<F, Fut>(
    location: &str,
    limit: usize,
    page_size: usize,
    mut fetch: F,
) -> StorageResult<ListPage>
where
    F: FnMut(Option<String>, usize) -> Fut,
    Fut: Future<Output = StorageResult<Page>>,
{
    let mut page = ListPage::default();
    let mut cursor: Option<String> = None;
    while page.objects.len() < limit {
        let want = (limit - page.objects.len()).min(page_size);
        let answer = fetch(cursor.clone(), want).await?;
        page.objects.extend(answer.objects);
        match answer.next {
            None => return Ok(page),
            Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                return Err(StorageError::other(
                    location,
                    "the listing repeated its continuation cursor",
                ))
            }
            Some(next) => cursor = Some(next),
        }
    }
    page.objects.truncate(limit);
    page.truncated = true;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(n: usize) -> ObjectMeta {
        ObjectMeta {
            key: format!("k{n:04}"),
            size: 1,
            etag: "e".into(),
            last_modified_ms: 0,
        }
    }

    /// A backend of `total` objects that serves pages of at most `want` and cursors as offsets.
    async fn backend(total: usize, cursor: Option<String>, want: usize) -> StorageResult<Page> {
        let from: usize = cursor.map_or(0, |c| c.parse().unwrap());
        let to = (from + want).min(total);
        Ok(Page {
            objects: (from..to).map(object).collect(),
            next: (to < total).then(|| to.to_string()),
        })
    }

    #[tokio::test]
    async fn walks_every_page_until_the_backend_is_done() {
        let page = walk("b/p", usize::MAX, 3, |c, w| backend(10, c, w))
            .await
            .unwrap();
        assert_eq!(page.objects.len(), 10);
        assert!(!page.truncated);
        assert_eq!(page.objects[9].key, "k0009");
    }

    #[tokio::test]
    async fn stops_at_the_limit_and_says_more_follow() {
        let page = walk("b/p", 4, 3, |c, w| backend(10, c, w)).await.unwrap();
        let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["k0000", "k0001", "k0002", "k0003"]);
        assert!(page.truncated);
    }

    #[tokio::test]
    async fn a_repeated_cursor_is_an_error_not_a_loop() {
        let err = walk("b/p", usize::MAX, 3, |_, _| async {
            Ok(Page {
                objects: vec![object(0)],
                next: Some("same".into()),
            })
        })
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("repeated its continuation cursor"),
            "{err}"
        );
    }
}
